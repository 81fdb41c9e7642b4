package keystore

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
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

// downProtector stands for a key server: it seals with a passphrase while
// up and fails while down.
type downProtector struct {
	PassphraseProtector
	down *bool
}

func (p downProtector) Kind() string { return "kmip" }

func (p downProtector) Unseal(ctx context.Context, blob []byte) ([]byte, error) {
	if *p.down {
		return nil, errors.New("KMIP server unreachable")
	}
	return p.PassphraseProtector.Unseal(ctx, blob)
}

// TestUnlockOrCache: the cache opens the store only when the protection
// fails, the status says which and why; dropping the cache or
// re-protecting without one leaves the store waiting.
func TestUnlockOrCache(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	down := false
	remote := downProtector{PassphraseProtector{Passphrase: []byte("server side key"), Iters: 100000}, &down}
	cache := PassphraseProtector{Passphrase: []byte("tpm stand-in"), Iters: 100000}
	s, _ := Open(dir)
	if err := s.Init(ctx, FileProtector{}); err != nil {
		t.Fatal(err)
	}
	s.Put("e", Entry{Kind: "credential", Secret: []byte("x")})
	if err := s.ReprotectCached(ctx, remote, cache); err != nil {
		t.Fatal(err)
	}
	open := func() *Store {
		t.Helper()
		s, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	s = open()
	if err := s.UnlockOrCache(ctx, remote, cache); err != nil || s.Note() != "" {
		t.Fatalf("server up: %v, note %q", err, s.Note())
	}
	if k, _ := s.Cache(); k != "passphrase" {
		t.Fatalf("cache kind %q", k)
	}
	down = true
	s = open()
	if err := s.UnlockOrCache(ctx, remote, cache); err != nil || s.Status() != "unlocked" || s.Count() != 1 {
		t.Fatalf("from the cache: %v %s", err, s.Status())
	}
	if n := s.Note(); n != "unlocked from the passphrase cache (kmip: KMIP server unreachable)" {
		t.Fatalf("note %q", n)
	}
	s = open()
	wrong := PassphraseProtector{Passphrase: []byte("PCRs changed"), Iters: 100000}
	if err := s.UnlockOrCache(ctx, remote, wrong); err == nil || !strings.Contains(s.Status(), "the passphrase cache refused") || !strings.Contains(s.Status(), "KMIP server unreachable") {
		t.Fatalf("cache refused: %v %q", err, s.Status())
	}
	if had, err := s.DropCache(); !had || err != nil {
		t.Fatalf("drop: %v %v", had, err)
	}
	s = open()
	if err := s.UnlockOrCache(ctx, remote, cache); err == nil || !strings.HasSuffix(s.Status(), "no cached key") {
		t.Fatalf("no cache: %v %q", err, s.Status())
	}
	down = false
	s.UnlockOrCache(ctx, remote, cache)
	if err := s.Reprotect(ctx, remote); err != nil {
		t.Fatal(err)
	}
	if k, _ := s.Cache(); k != "" {
		t.Fatal("re-protecting kept the cache")
	}
}
