package e2e

import (
	"bytes"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"coffer/internal/crypto"
	"coffer/internal/remote"
)

// TestRemoteKeyInKeystore: the key that seals the remotes' S3 secret keys
// lives in the system keystore. A plain remote-secret.key of an older
// version moves into the keystore at start and is deleted; while the
// keystore is locked, remote operations fail and say why.
func TestRemoteKeyInKeystore(t *testing.T) {
	d := startDaemon(t)
	d.stop()
	// The state an older version left: remotes.json sealed under a plain key file.
	legacy := bytes.Repeat([]byte{0x3c}, 32)
	if err := os.WriteFile(filepath.Join(d.state, remote.LegacyKeyFile), legacy, 0o600); err != nil {
		t.Fatal(err)
	}
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := l.Addr().String()
	l.Close()
	const secret = "S3-SECRET-legacy-7d1e-never-printed"
	reg := remote.OpenRegistry(d.state, func(bool) (crypto.Secret, error) { return crypto.Secret(bytes.Clone(legacy)), nil })
	if err := reg.Add(remote.Remote{Name: "lab", Location: remote.Location{Endpoint: "http://" + dead, Bucket: "bucket"}, AccessKey: "AK"}, crypto.Secret(secret)); err != nil {
		t.Fatal(err)
	}
	d.start()
	if _, err := os.Stat(filepath.Join(d.state, remote.LegacyKeyFile)); !os.IsNotExist(err) {
		t.Fatalf("remote-secret.key still there after start: %v", err)
	}
	if st := d.ok("keystore", "status"); !strings.Contains(st, "entries:    1") {
		t.Fatalf("sealing key not in the keystore:\n%s", st)
	}
	// The migrated key still opens the secret: the operation gets as far
	// as the (absent) server.
	r := d.fail(1, "cannot list backups of 'tank/x' on remote 'lab'", "remote", "list-backups", "lab", "tank/x")
	if strings.Contains(r.stderr, "keystore") || strings.Contains(r.stderr, "unseal") {
		t.Fatalf("secret did not open after migration: %s", r)
	}
	// A keystore that waits for its admin passphrase: remote operations wait too.
	d.okIn(pass("the admin passphrase"), "keystore", "protect", "passphrase")
	d.restart()
	d.fail(1, "keystore is locked: run 'coffer keystore unlock'", "remote", "list-backups", "lab", "tank/x")
	d.failIn([]byte("AK:SK\n"), 1, "cannot add remote 'lab2': keystore is locked: run 'coffer keystore unlock'", "remote", "add", "-o", "endpoint=http://"+dead, "-o", "insecure=on", "lab2", "s3://bucket")
	if out := d.ok("remote", "list", "-H"); strings.Contains(out, "lab2") {
		t.Fatalf("added while the keystore was locked:\n%s", out)
	}
	d.okIn(pass("the admin passphrase"), "keystore", "unlock")
	r = d.fail(1, "cannot list backups", "remote", "list-backups", "lab", "tank/x")
	if strings.Contains(r.stderr, "keystore") {
		t.Fatalf("still locked after keystore unlock: %s", r)
	}
	// Neither the sealing key nor the S3 secret is anywhere on disk in plain.
	filepath.WalkDir(d.state, func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return nil
		}
		if b, _ := os.ReadFile(p); bytes.Contains(b, legacy) || bytes.Contains(b, []byte(secret)) {
			t.Errorf("key material in plain in %s", p)
		}
		return nil
	})
}
