package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestKeystorePKCS11: the system secret wrapped by a non-extractable key in
// a real SoftHSM2 token; unlock at start needs the token and its PIN.
func TestKeystorePKCS11(t *testing.T) {
	module, env, pinFile := softHSM(t)
	uri := fmt.Sprintf("pkcs11:token=coffer;object=coffer-kek?module-path=%s&pin-source=file://%s", module, pinFile)

	d := startDaemon(t, env)
	d.newPool("tank")
	keyFile := filepath.Join(t.TempDir(), "k")
	os.WriteFile(keyFile, []byte(strings.Repeat("ef", 32)), 0o600)
	d.ok("create", "-o", "keyformat=hex", "-o", "keylocation=file://"+keyFile, "tank/vault")
	os.Remove(keyFile)
	d.fail(1, "pin-source", "keystore", "protect", "pkcs11", strings.Replace(uri, "pin-source=file://"+pinFile, "pin-value=1234", 1))
	d.ok("keystore", "protect", "pkcs11", uri)
	if st := d.ok("keystore", "status"); !strings.Contains(st, "protection: pkcs11") {
		t.Fatalf("status:\n%s", st)
	}
	d.restart()
	ks := func() string { return strings.TrimSpace(d.ok("get", "-H", "-o", "value", "keystatus", "tank/vault")) }
	if ks() != "available" {
		t.Fatal("not unlocked at start with the token")
	}
	// A wrong PIN: the token refuses, the keystore waits, nothing unlocks.
	os.WriteFile(pinFile, []byte("9999"), 0o600)
	d.restart()
	if ks() != "unavailable" {
		t.Fatal("unlocked with a wrong token PIN")
	}
	if st := d.ok("keystore", "status"); !strings.Contains(strings.ToLower(st), "pin") {
		t.Fatalf("status does not say why:\n%s", st)
	}
}

// softHSM makes a fresh SoftHSM2 token "coffer" (user PIN 1234) in a
// temporary directory. It returns the module path, the environment entry
// that points SoftHSM2 at the token, and a file holding the PIN.
func softHSM(t *testing.T) (module, env, pinFile string) {
	t.Helper()
	module = "/usr/lib/softhsm/libsofthsm2.so"
	if _, err := os.Stat(module); err != nil {
		t.Fatalf("SoftHSM2 missing (scripts/test.sh installs softhsm2): %v", err)
	}
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	os.MkdirAll(tokens, 0o700)
	conf := filepath.Join(dir, "softhsm2.conf")
	os.WriteFile(conf, []byte("directories.tokendir = "+tokens+"\nobjectstore.backend = file\n"), 0o600)
	env = "SOFTHSM2_CONF=" + conf
	cmd := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "coffer", "--pin", "1234", "--so-pin", "5678")
	cmd.Env = append(os.Environ(), env)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("softhsm2-util: %v %s", err, out)
	}
	pinFile = filepath.Join(dir, "pin")
	os.WriteFile(pinFile, []byte("1234"), 0o600)
	return module, env, pinFile
}
