package remote

import (
	"bytes"
	"encoding/json"
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
	r := OpenRegistry(dir)
	secret := "wJalrXUtnFEMI-K7MDENG-bPxRfiCYEXAMPLEKEY"
	rm := Remote{Name: "offsite", Location: Location{Endpoint: "https://s3.example.com", Bucket: "b", Prefix: "p"}, AccessKey: "AKIA1"}
	if err := r.Add(rm, crypto.Secret(secret)); err != nil {
		t.Fatal(err)
	}
	if err := r.Add(rm, crypto.Secret(secret)); err != ErrExists {
		t.Fatalf("second add: %v", err)
	}
	st, err := os.Stat(filepath.Join(dir, SystemSecretFile))
	if err != nil || st.Mode().Perm() != 0o600 || st.Size() != 32 {
		t.Fatalf("system secret file: %v %v", st, err)
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
	// Another system key does not open it either.
	os.WriteFile(filepath.Join(dir, SystemSecretFile), bytes.Repeat([]byte{1}, 32), 0o600)
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
