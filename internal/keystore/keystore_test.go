package keystore

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestStoreLifecycle(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if s.Initialized() {
		t.Fatal("new store initialized")
	}
	if err := s.Init(ctx, FileProtector{}); err != nil {
		t.Fatal(err)
	}
	key := bytes.Repeat([]byte{0xAB}, 32)
	if err := s.Put("dataset:42", Entry{Kind: "dataset-key", Name: "tank/a", Format: "raw", Secret: key}); err != nil {
		t.Fatal(err)
	}
	// Reopen: locked until unsealed.
	s2, _ := Open(dir)
	if _, ok := s2.Get("dataset:42"); ok {
		t.Fatal("entry readable while locked")
	}
	if err := s2.Unlock(ctx, FileProtector{}); err != nil {
		t.Fatal(err)
	}
	if e, ok := s2.Get("dataset:42"); !ok || !bytes.Equal(e.Secret, key) {
		t.Fatalf("entry after reopen: %+v %v", e, ok)
	}
	// Re-protect with a passphrase: the file no longer holds the secret.
	pp := PassphraseProtector{Passphrase: []byte("admin passphrase"), Iters: 100000}
	if err := s2.Reprotect(ctx, pp); err != nil {
		t.Fatal(err)
	}
	s3, _ := Open(dir)
	if err := s3.Unlock(ctx, PassphraseProtector{Passphrase: []byte("not it at all")}); err == nil {
		t.Fatal("wrong admin passphrase accepted")
	}
	if st := s3.Status(); st == "unlocked" {
		t.Fatal("status unlocked after a failed unlock")
	}
	if err := s3.Unlock(ctx, PassphraseProtector{Passphrase: []byte("admin passphrase")}); err != nil {
		t.Fatal(err)
	}
	if e, ok := s3.Get("dataset:42"); !ok || !bytes.Equal(e.Secret, key) {
		t.Fatal("entry after re-protect")
	}
	// Nothing on disk holds the key or the system secret in plaintext.
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, key) || bytes.Contains(b, s3.secret) {
			t.Errorf("plaintext secret in %s", p)
		}
		return nil
	})
	// A damaged store file is refused, not misread.
	b, _ := os.ReadFile(filepath.Join(dir, "keystore.bin"))
	b[len(b)/2] ^= 1
	os.WriteFile(filepath.Join(dir, "keystore.bin"), b, 0o600)
	s4, _ := Open(dir)
	if err := s4.Unlock(ctx, PassphraseProtector{Passphrase: []byte("admin passphrase")}); err == nil {
		t.Fatal("damaged keystore accepted")
	}
}
