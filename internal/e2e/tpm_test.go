package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestKeystoreTPM: with a TPM (swtpm), the first start seals the system
// secret to PCR 7; key-format datasets unlock across a restart; after PCR 7
// changes the TPM refuses, the daemon says why and the dataset stays locked.
func TestKeystoreTPM(t *testing.T) {
	for _, tool := range []string{"swtpm", "tpm2_pcrextend"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing (scripts/test.sh installs swtpm and tpm2-tools): %v", tool, err)
		}
	}
	state := t.TempDir()
	var port int
	var sw *exec.Cmd
	start := func() {
		for i := 0; ; i++ {
			l, _ := net.Listen("tcp", "127.0.0.1:0")
			port = l.Addr().(*net.TCPAddr).Port
			l.Close()
			sw = exec.Command("swtpm", "socket", "--tpm2", "--tpmstate", "dir="+state,
				"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port),
				"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", port+1),
				"--flags", "not-need-init,startup-clear")
			if err := sw.Start(); err != nil {
				t.Fatal(err)
			}
			ok := false
			for j := 0; j < 200 && !ok; j++ {
				if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port+1)); err == nil {
					c.Close()
					ok = true
				} else {
					time.Sleep(20 * time.Millisecond)
				}
			}
			if ok {
				return
			}
			sw.Process.Kill()
			sw.Wait()
			if i > 3 {
				t.Fatal("swtpm did not start")
			}
		}
	}
	stop := func() { sw.Process.Signal(syscall.SIGTERM); sw.Wait() }
	start()
	t.Cleanup(stop)
	tpmURL := func() string { return fmt.Sprintf("tcp://127.0.0.1:%d", port) }

	d := &daemon{t: t, state: filepath.Join(t.TempDir(), "state"), log: &syncBuffer{}}
	sdir, _ := os.MkdirTemp("", "cof-")
	t.Cleanup(func() { os.RemoveAll(sdir) })
	d.sock = filepath.Join(sdir, "s.sock")
	d.extra = []string{"--tpm", tpmURL()}
	t.Cleanup(func() {
		d.stop()
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.log.String())
		}
	})
	d.start()
	if st := d.ok("keystore", "status"); !strings.Contains(st, "protection: tpm2") || strings.Contains(st, "WARNING") {
		t.Fatalf("first start with a TPM:\n%s", st)
	}
	d.newPool("tank")
	keyFile := filepath.Join(t.TempDir(), "k")
	os.WriteFile(keyFile, []byte(strings.Repeat("ab", 32)), 0o600)
	d.ok("create", "-o", "keyformat=hex", "-o", "keylocation=file://"+keyFile, "tank/vault")
	d.okIn(pass("never stored anywhere"), "create", "-o", "keyformat=passphrase", "-o", "pbkdf2iters=100000", "tank/pp")
	os.Remove(keyFile)
	d.restart()
	ks := func(ds string) string { return strings.TrimSpace(d.ok("get", "-H", "-o", "value", "keystatus", ds)) }
	if ks("tank/vault") != "available" || ks("tank/pp") != "unavailable" {
		t.Fatalf("after restart with the TPM: vault %s, pp %s", ks("tank/vault"), ks("tank/pp"))
	}
	// Simulated reboot of the machine: same TPM state, PCRs reset.
	d.stop()
	stop()
	start()
	d.extra = []string{"--tpm", tpmURL()}
	d.start()
	if ks("tank/vault") != "available" {
		t.Fatal("not unlocked after a TPM reboot with the same PCRs")
	}
	// PCR 7 changes (e.g. Secure Boot configuration): the TPM refuses.
	cmd := exec.Command("tpm2_pcrextend", "7:sha256="+strings.Repeat("11", 32))
	cmd.Env = append(os.Environ(), fmt.Sprintf("TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=%d", port))
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tpm2_pcrextend: %v %s", err, out)
	}
	d.restart()
	if ks("tank/vault") != "unavailable" {
		t.Fatal("unlocked although PCR 7 changed")
	}
	if st := d.ok("keystore", "status"); !strings.Contains(st, "PCR") {
		t.Fatalf("keystore status does not say why it waits:\n%s", st)
	}
}
