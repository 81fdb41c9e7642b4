package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"coffer/internal/kmip/kmiptest"
)

// TestKeystoreKMIP: the system secret wrapped under a key in a real PyKMIP
// server. Key-format datasets unlock at start while the server answers;
// with the server down the daemon waits and says why; the host holds only
// the key's ID and the wrapped secret.
func TestKeystoreKMIP(t *testing.T) {
	srv := kmiptest.Start(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	uri := "kmip://" + srv.Addr + "?ca=" + write("ca.pem", srv.CA) + "&cert=" + write("host.pem", srv.Cert) + "&key=" + write("host.key", srv.Key) + "&name=coffer-e2e-kek"
	d := startDaemon(t)
	d.newPool("tank")
	keyFile := filepath.Join(t.TempDir(), "k")
	os.WriteFile(keyFile, []byte(strings.Repeat("cd", 32)), 0o600)
	d.ok("create", "-o", "keyformat=hex", "-o", "keylocation=file://"+keyFile, "tank/vault")
	os.Remove(keyFile)
	d.ok("keystore", "protect", "kmip", uri)
	if st := d.ok("keystore", "status"); !strings.Contains(st, "protection: kmip") || strings.Contains(st, "WARNING") {
		t.Fatalf("status after protect kmip:\n%s", st)
	}
	// The system secret is no longer on the host in plain.
	if b, _ := os.ReadFile(filepath.Join(d.state, "keystore", "secret.json")); strings.Contains(string(b), `"protection": "file"`) {
		t.Fatal("secret.json still says file")
	}
	d.restart()
	ks := func() string { return strings.TrimSpace(d.ok("get", "-H", "-o", "value", "keystatus", "tank/vault")) }
	if ks() != "available" {
		t.Fatal("not unlocked at start with the KMIP server up")
	}
	srv.Stop()
	d.restart()
	if ks() != "unavailable" {
		t.Fatal("unlocked with the KMIP server down and no cached key")
	}
	if st := d.ok("keystore", "status"); !strings.Contains(st, "unreachable") {
		t.Fatalf("status does not say the KMIP server is unreachable:\n%s", st)
	}
}
