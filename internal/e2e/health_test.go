package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// health runs 'coffer health' and checks its exit code (0 healthy, 1 not).
func (d *daemon) health(wantCode int) string {
	d.t.Helper()
	r := d.run(nil, "health")
	if r.code != wantCode || r.stderr != "" {
		d.t.Fatalf("health: want exit %d, got %s", wantCode, r)
	}
	return r.stdout
}

// TestHealth: 'coffer health' says healthy while it is, and names what is
// wrong and why after a restart that lost a vdev: a degraded mirror, a pool
// that could not import. JSON carries the same.
func TestHealth(t *testing.T) {
	d := startDaemon(t)
	base := t.TempDir()
	a, b := filepath.Join(base, "a"), filepath.Join(base, "b")
	d.ok("pool", "create", "-O", "mountpoint="+filepath.Join(base, "mnt-m"), "m", "mirror", a, b)
	single := d.newPool("s")
	out := d.health(0)
	if !strings.HasPrefix(out, "healthy: 2 pools, keystore ") {
		t.Fatalf("health of a healthy daemon:\n%s", out)
	}
	// Passphrase roots that are locked are not a problem.
	d.okIn(pass("correct horse battery"), "create", "-o", "encryption=on", "-o", "keyformat=passphrase", "s/secret")
	d.ok("lock", "s/secret")
	d.health(0)

	d.stop()
	if err := os.RemoveAll(b); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(single); err != nil {
		t.Fatal(err)
	}
	d.start()
	out = d.health(1)
	t.Logf("coffer health after the restart:\n%s", out)
	for _, want := range []string{"pool m: DEGRADED: ", "(coffer pool status m)", "pool s: not imported at start: no vdev found in " + single} {
		if !strings.Contains(out, want) {
			t.Errorf("health does not say %q:\n%s", want, out)
		}
	}
	if strings.HasPrefix(out, "healthy") {
		t.Errorf("health says healthy with a degraded pool:\n%s", out)
	}
	var h struct {
		Healthy  bool   `json:"healthy"`
		Pools    int    `json:"pools"`
		Keystore string `json:"keystore"`
		Problems []struct {
			Subject, Reason string
			Warning         bool
		} `json:"problems"`
	}
	r := d.run(nil, "health", "-j")
	if r.code != 1 {
		t.Fatalf("health -j: %s", r)
	}
	if err := json.Unmarshal([]byte(r.stdout), &h); err != nil {
		t.Fatalf("health -j: %v\n%s", err, r.stdout)
	}
	subjects := map[string]bool{}
	for _, p := range h.Problems {
		if !p.Warning {
			subjects[p.Subject] = true
		}
	}
	if h.Healthy || h.Pools != 1 || !subjects["pool m"] || !subjects["pool s"] || h.Keystore == "" {
		t.Fatalf("health -j: %+v", h)
	}
}
