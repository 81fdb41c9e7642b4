package remote

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"coffer/internal/crypto"
)

func TestRegistrySealsSecrets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	var sealing crypto.Secret
	made := 0
	r := OpenRegistry(dir, func(create bool) (crypto.Secret, error) {
		if sealing == nil {
			if !create {
				return nil, errors.New("no sealing key")
			}
			sealing, made = bytes.Repeat([]byte{7}, 32), made+1
		}
		return crypto.Secret(bytes.Clone(sealing)), nil
	})
	secret := "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
	rm := Remote{Name: "offsite", Location: Location{Endpoint: "https://s3.example.com", Bucket: "b", Prefix: "p"}, AccessKey: "AKIA1"}
	if err := r.Add(rm, crypto.Secret(secret)); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(rm, crypto.Secret(secret)); err != ErrExists {
		t.Fatalf("second add: %v", err)
	}
	if made != 1 {
		t.Fatalf("sealing key made %d times", made)
	}
	if _, err := os.Stat(filepath.Join(dir, LegacyKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("a plain key file was written: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, RegistryFile))
	if bytes.Contains(b, []byte(secret)) {
		t.Fatalf("remotes.json holds the secret in plaintext:\n%s", b)
	}
	got, err := r.Get("offsite")
	if err != nil {
		t.Fatal(err)
	}
	if s := fmt.Sprintf("%v %+v", got, got); strings.Contains(s, secret) {
		t.Fatalf("printing a Remote shows the secret: %s", s)
	}
	sk, err := r.Secret(got)
	if err != nil || string(sk) != secret {
		t.Fatalf("unseal: %v", err)
	}
	if s := fmt.Sprint(sk); strings.Contains(s, secret) {
		t.Fatal("a printed secret shows its bytes")
	}

	// A sealed secret is bound to its remote's name: moved to another
	// remote it does not open.
	var f registryFile
	json.Unmarshal(b, &f)
	f.Remotes[0].Name = "other"
	if _, err := r.Secret(f.Remotes[0]); err == nil {
		t.Fatal("sealed secret opened under another name")
	}
	// Another sealing key does not open it either.
	sealing = bytes.Repeat([]byte{1}, 32)
	if _, err := r.Secret(got); err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("unseal with another system key: %v", err)
	}

	if err := r.Remove("offsite"); err != nil {
		t.Fatal(err)
	}
	if err := r.Remove("offsite"); err != ErrNotFound {
		t.Fatalf("second remove: %v", err)
	}
	if l, _ := r.List(); len(l) != 0 {
		t.Fatalf("after remove: %v", l)
	}
}

// TestRegistryLockedKey: without its sealing key (the keystore is locked)
// nothing is added and no secret opens; the error says why.
func TestRegistryLockedKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	locked := errors.New("keystore is locked: run 'coffer keystore unlock'")
	r := OpenRegistry(dir, func(bool) (crypto.Secret, error) { return nil, locked })
	rm := Remote{Name: "offsite", Location: Location{Endpoint: "https://s3.example.com", Bucket: "b"}, AccessKey: "AKIA1"}
	if err := r.Add(rm, crypto.Secret("s")); !errors.Is(err, locked) {
		t.Fatalf("add while locked: %v", err)
	}
	if l, _ := r.List(); len(l) != 0 {
		t.Fatalf("added while locked: %v", l)
	}
	if _, err := r.Secret(rm); !errors.Is(err, locked) {
		t.Fatalf("secret while locked: %v", err)
	}
}

func TestLegacyKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if k, err := ReadLegacyKey(dir); k != nil || err != nil {
		t.Fatalf("no file: %v %v", k, err)
	}
	p := filepath.Join(dir, LegacyKeyFile)
	os.WriteFile(p, []byte("short"), 0o600)
	if _, err := ReadLegacyKey(dir); err == nil || !strings.Contains(err.Error(), "want 32 bytes") {
		t.Fatalf("short file: %v", err)
	}
	want := bytes.Repeat([]byte{9}, 32)
	os.WriteFile(p, want, 0o600)
	if k, err := ReadLegacyKey(dir); err != nil || !bytes.Equal(k, want) {
		t.Fatalf("read: %v", err)
	}
	if err := RemoveLegacyKey(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("still there: %v", err)
	}
	if err := RemoveLegacyKey(dir); err != nil {
		t.Fatalf("second remove: %v", err)
	}
}

func TestValidName(t *testing.T) {
	t.Parallel()
	for _, ok := range []string{"offsite", "b2", "lab-1", "a.b:c_d"} {
		if err := ValidName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "a/b", "a b", strings.Repeat("a", 65)} {
		if err := ValidName(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
