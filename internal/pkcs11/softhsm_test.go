package pkcs11

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// The integration tests run against a real SoftHSM2. They install the
// Debian package when it is missing and fail, never skip, when they cannot.

const (
	testPIN   = "1234"
	testSOPIN = "5678"
)

var softhsm struct {
	once   sync.Once
	module string
	err    error
}

// softHSMModule returns the path of libsofthsm2.so, installing softhsm2
// with apt-get if needed.
func softHSMModule(t *testing.T) string {
	t.Helper()
	softhsm.once.Do(func() { softhsm.module, softhsm.err = findSoftHSM() })
	if softhsm.err != nil {
		t.Fatalf("SoftHSM2 is required for these tests (Debian package softhsm2): %v", softhsm.err)
	}
	return softhsm.module
}

func findSoftHSM() (string, error) {
	if _, err := exec.LookPath("softhsm2-util"); err != nil {
		if _, err := exec.LookPath("apt-get"); err != nil {
			return "", fmt.Errorf("softhsm2-util not found and no apt-get to install it")
		}
		out, err := exec.Command("apt-get", "install", "-y", "softhsm2").CombinedOutput()
		if err != nil {
			out2, err2 := exec.Command("sh", "-c", "apt-get update && apt-get install -y softhsm2").CombinedOutput()
			if err2 != nil {
				return "", fmt.Errorf("apt-get install -y softhsm2 failed: %v: %s", err2, lastLine(append(out, out2...)))
			}
		}
		if _, err := exec.LookPath("softhsm2-util"); err != nil {
			return "", fmt.Errorf("softhsm2 installed but softhsm2-util is still missing")
		}
	}
	for _, p := range []string{"/usr/lib/softhsm/libsofthsm2.so", "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	for _, pkg := range []string{"libsofthsm2", "softhsm2"} {
		out, _ := exec.Command("dpkg", "-L", pkg).Output()
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasSuffix(l, "/libsofthsm2.so") {
				return l, nil
			}
		}
	}
	return "", fmt.Errorf("libsofthsm2.so not found (looked in /usr/lib/softhsm and dpkg -L libsofthsm2)")
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}

// newSoftHSM points SOFTHSM2_CONF at a fresh token directory in
// t.TempDir and initializes one token per label, with user PIN testPIN.
// Tests that call it cannot be parallel (t.Setenv).
func newSoftHSM(t *testing.T, labels ...string) (module string) {
	t.Helper()
	module = softHSMModule(t)
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(dir, "softhsm2.conf")
	cfg := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tokens)
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SOFTHSM2_CONF", conf)
	for _, l := range labels {
		out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", l, "--pin", testPIN, "--so-pin", testSOPIN).CombinedOutput()
		if err != nil {
			t.Fatalf("softhsm2-util --init-token --label %s: %v: %s", l, err, bytes.TrimSpace(out))
		}
	}
	t.Cleanup(func() {
		modules.Lock()
		defer modules.Unlock()
		if n := len(modules.m); n != 0 {
			t.Errorf("%d PKCS#11 modules still loaded after the test", n)
		}
	})
	return module
}

// testURI returns the URI of object on token, with the test PIN.
func testURI(t *testing.T, module, token, object string) URI {
	t.Helper()
	u, err := ParseURI(fmt.Sprintf("pkcs11:token=%s;object=%s?module-path=%s&pin-value=%s", token, object, module, testPIN))
	if err != nil {
		t.Fatal(err)
	}
	return u
}
