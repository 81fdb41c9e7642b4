package keystore

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
)

// TestKMIPIdentityEncoding is the frozen encoding of a KMIP identity
// entry's secret: a change here breaks keystores already written.
func TestKMIPIdentityEncoding(t *testing.T) {
	k := KMIPIdentity{CA: []byte("CA"), Cert: []byte("CRT"), Key: []byte("K")}
	got := EncodeKMIPIdentity(k)
	want, _ := hex.DecodeString("01" + "00000002" + "4341" + "00000003" + "435254" + "00000001" + "4b")
	if !bytes.Equal(got, want) {
		t.Fatalf("encoding %x, want %x", got, want)
	}
	d, err := DecodeKMIPIdentity(want)
	if err != nil || !bytes.Equal(d.CA, k.CA) || !bytes.Equal(d.Cert, k.Cert) || !bytes.Equal(d.Key, k.Key) {
		t.Fatalf("decode: %+v %v", d, err)
	}
	for _, bad := range [][]byte{nil, {2}, want[:len(want)-1], append(slices.Clone(want), 0), {1, 0xff, 0xff, 0xff, 0xff}} {
		if _, err := DecodeKMIPIdentity(bad); err == nil {
			t.Errorf("damaged %x decoded", bad)
		}
	}
}

// TestListByKind: List returns the ids of one kind and prefix, sorted, and
// nothing while locked; credentials survive a reopen under the system
// secret and never appear in plain on disk.
func TestListByKind(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, _ := Open(dir)
	if err := s.Init(ctx, FileProtector{}); err != nil {
		t.Fatal(err)
	}
	key := []byte("-----BEGIN PRIVATE KEY-----\nsecret-key-bytes\n-----END PRIVATE KEY-----\n")
	for _, id := range []string{"kmip:b", "kmip:a"} {
		if err := s.Put(id, Entry{Kind: KindCredential, Name: id, Format: FormatKMIPIdentity, Secret: EncodeKMIPIdentity(KMIPIdentity{CA: []byte("ca"), Cert: []byte("c"), Key: key})}); err != nil {
			t.Fatal(err)
		}
	}
	s.Put("remote-sealing-key", Entry{Kind: KindCredential, Secret: bytes.Repeat([]byte{1}, 32)})
	s.Put("dataset:7", Entry{Kind: "dataset-key", Secret: bytes.Repeat([]byte{2}, 32)})
	if got := s.List(KindCredential, KMIPPrefix); !slices.Equal(got, []string{"kmip:a", "kmip:b"}) {
		t.Fatalf("List kmip = %v", got)
	}
	if got := s.List(KindCredential, ""); !slices.Equal(got, []string{"kmip:a", "kmip:b", "remote-sealing-key"}) {
		t.Fatalf("List credential = %v", got)
	}
	if got := s.List("dataset-key", ""); !slices.Equal(got, []string{"dataset:7"}) {
		t.Fatalf("List dataset-key = %v", got)
	}
	s2, _ := Open(dir)
	if got := s2.List(KindCredential, ""); got != nil {
		t.Fatalf("List while locked = %v", got)
	}
	if err := s2.Unlock(ctx, FileProtector{}); err != nil {
		t.Fatal(err)
	}
	e, ok := s2.Get("kmip:a")
	if !ok {
		t.Fatal("credential lost on reopen")
	}
	id, err := DecodeKMIPIdentity(e.Secret)
	if err != nil || !bytes.Equal(id.Key, key) {
		t.Fatalf("identity after reopen: %v", err)
	}
	if err := s2.Delete("kmip:a"); err != nil {
		t.Fatal(err)
	}
	if got := s2.List(KindCredential, KMIPPrefix); !slices.Equal(got, []string{"kmip:b"}) {
		t.Fatalf("List after delete = %v", got)
	}
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if b, _ := os.ReadFile(p); bytes.Contains(b, []byte("secret-key-bytes")) {
			t.Errorf("%s holds the client key in plain", p)
		}
		return nil
	})
	// Concurrent List, Put and Delete (run with -race).
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := "kmip:c" + string(rune('0'+i))
			s2.Put(id, Entry{Kind: KindCredential, Secret: []byte{1}})
			s2.List(KindCredential, KMIPPrefix)
			s2.Delete(id)
		}()
	}
	wg.Wait()
	if got := s2.List(KindCredential, KMIPPrefix); !slices.Equal(got, []string{"kmip:b"}) {
		t.Fatalf("List after concurrent use = %v", got)
	}
}
