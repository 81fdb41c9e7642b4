package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeystoreAutoUnlockAndManifest: key-format datasets unlock by
// themselves after a restart, passphrase ones do not; key export and
// unlock --manifest unlock a replicated tree; the keystore can be
// re-protected with an admin passphrase; the audit log records every key
// operation and no key material.
func TestKeystoreAutoUnlockAndManifest(t *testing.T) {
	d := startDaemon(t)
	d.newPool("tank")
	key := make([]byte, 32)
	rand.Read(key)
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	os.WriteFile(keyFile, key, 0o600)
	d.ok("create", "-o", "encryption=on", "-o", "keyformat=raw", "-o", "keylocation=file://"+keyFile, "tank/vault")
	d.ok("create", "tank/vault/docs")
	d.okIn(pass("a passphrase root"), "create", "-o", "keyformat=passphrase", "-o", "pbkdf2iters=100000", "tank/pp")
	os.Remove(keyFile) // the keystore must be enough from now on
	st := d.ok("keystore", "status")
	if !strings.Contains(st, "protection: file") || !strings.Contains(st, "WARNING") {
		t.Fatalf("keystore status:\n%s", st)
	}
	d.restart()
	ks := func(ds string) string { return strings.TrimSpace(d.ok("get", "-H", "-o", "value", "keystatus", ds)) }
	if ks("tank/vault") != "available" || ks("tank/vault/docs") != "available" {
		t.Fatalf("key-format dataset not unlocked at start: %s %s", ks("tank/vault"), ks("tank/vault/docs"))
	}
	if ks("tank/pp") != "unavailable" {
		t.Fatalf("passphrase dataset unlocked at start: %s", ks("tank/pp"))
	}
	// Export, replicate raw, unlock the replica with the manifest.
	var manifest map[string]string
	out := d.ok("key", "export", "-r", "tank/vault")
	if err := json.Unmarshal([]byte(out), &manifest); err != nil || manifest["tank/vault"] != hex.EncodeToString(key) {
		t.Fatalf("key export: %v\n%s", err, out)
	}
	d.ok("snapshot", "-r", "tank/vault@s")
	b := startDaemon(t)
	b.newPool("backup")
	cli := func(x *daemon, args string) string {
		return "COFFER_SOCKET=" + shq(x.sock) + " " + shq(bin) + " " + args
	}
	pipe(t, cli(d, "send -w -R tank/vault@s"), cli(b, "receive -u backup/vault"))
	m := map[string]string{"backup/vault": manifest["tank/vault"]}
	mb, _ := json.Marshal(m)
	mf := filepath.Join(t.TempDir(), "keys.json")
	os.WriteFile(mf, mb, 0o600)
	b.ok("unlock", "-r", "--manifest", mf, "backup/vault")
	if v := strings.TrimSpace(b.ok("get", "-H", "-o", "value", "keystatus", "backup/vault/docs")); v != "available" {
		t.Fatalf("replica after unlock --manifest: %s", v)
	}
	// Passphrase protection: after a restart the keystore waits.
	d.okIn(pass("the admin passphrase"), "keystore", "protect", "passphrase")
	d.restart()
	if ks("tank/vault") != "unavailable" {
		t.Fatal("keystore opened without the admin passphrase")
	}
	if st := d.ok("keystore", "status"); !strings.Contains(st, "protection: passphrase") || strings.Contains(st, "health:     unlocked") {
		t.Fatalf("status while waiting:\n%s", st)
	}
	if r := d.run(pass("not the admin passphrase"), "keystore", "unlock"); r.code != 1 || !strings.Contains(r.stderr, "incorrect admin passphrase") {
		t.Fatalf("wrong admin passphrase: %s", r)
	}
	d.okIn(pass("the admin passphrase"), "keystore", "unlock")
	if ks("tank/vault") != "available" {
		t.Fatal("key-format dataset not unlocked after keystore unlock")
	}
	// The audit log: operations recorded, no key material anywhere in the state.
	audit, err := os.ReadFile(filepath.Join(d.state, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{`"op":"create-key"`, `"op":"auto-unlock"`, `"op":"key-export"`, `"op":"keystore-protect passphrase"`, `"op":"keystore-unlock"`} {
		if !bytes.Contains(audit, []byte(op)) {
			t.Errorf("audit log lacks %s:\n%s", op, audit)
		}
	}
	hexKey := []byte(hex.EncodeToString(key))
	filepath.Walk(d.state, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return nil
		}
		c, _ := os.ReadFile(p)
		if bytes.Contains(c, key) || bytes.Contains(c, hexKey) {
			t.Errorf("key material in %s", p)
		}
		return nil
	})
	if strings.Contains(d.log.String(), string(hexKey)) {
		t.Error("key material in the daemon log")
	}
}
