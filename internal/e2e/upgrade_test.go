package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPoolUpgrade: a pool of format version 1 (the frozen golden image)
// imports, says in pool status that it is older, is listed by pool
// upgrade, and is raised to version 2 by pool upgrade POOL, which lasts
// across an export and import; a second upgrade changes nothing.
func TestPoolUpgrade(t *testing.T) {
	d := startDaemon(t)
	img := t.TempDir()
	src := filepath.Join("..", "dsl", "testdata", "golden-v1", "d0")
	if err := os.MkdirAll(filepath.Join(img, "d0"), 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(img, "d0", e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d.ok("pool", "import", "-d", img, "golden")
	version := func() (int, int) {
		var doc struct {
			Pools map[string]struct {
				Version int `json:"version"`
				Latest  int `json:"latest_version"`
			} `json:"pools"`
		}
		if err := json.Unmarshal([]byte(d.ok("pool", "status", "-j", "golden")), &doc); err != nil {
			t.Fatal(err)
		}
		p := doc.Pools["golden"]
		return p.Version, p.Latest
	}
	if v, l := version(); v != 1 || l != 2 {
		t.Fatalf("golden v1: version %d, latest %d", v, l)
	}
	st := d.ok("pool", "status", "golden")
	if !strings.Contains(st, " state: ONLINE\nstatus: The pool is formatted with an older on-disk version (1).") ||
		!strings.Contains(st, "action: Upgrade it with 'coffer pool upgrade golden' for XXH3-64 checksums.") {
		t.Errorf("pool status of a version 1 pool:\n%s", st)
	}
	if out := d.ok("pool", "upgrade"); !strings.HasSuffix(out, "VERSION  POOL\n      1  golden\n") {
		t.Errorf("pool upgrade (list):\n%s", out)
	}
	d.fail(2, "-a cannot be combined with a pool name", "pool", "upgrade", "-a", "golden")
	// -a upgrades the older pool only (the daemon's other pools are new).
	if out := d.ok("pool", "upgrade", "-a"); out != "pool 'golden' upgraded from format version 1 to 2\n" {
		t.Errorf("pool upgrade -a: %q", out)
	}
	if out := d.ok("pool", "upgrade", "-a"); out != "no pools to upgrade\n" {
		t.Errorf("second pool upgrade -a: %q", out)
	}
	if v, _ := version(); v != 2 {
		t.Fatalf("after upgrade: version %d", v)
	}
	if st := d.ok("pool", "status", "golden"); strings.Contains(st, "status:") {
		t.Errorf("pool status after upgrade:\n%s", st)
	}
	d.ok("pool", "check", "golden")
	d.ok("pool", "export", "golden")
	d.ok("pool", "import", "-d", img, "golden")
	if v, _ := version(); v != 2 {
		t.Fatalf("after export and import: version %d", v)
	}
	if out := d.ok("pool", "upgrade", "golden"); out != "pool 'golden' is already at format version 2\n" {
		t.Errorf("second upgrade: %q", out)
	}
	if out := d.ok("pool", "upgrade"); out != "All pools are formatted with the latest version (2).\n" {
		t.Errorf("pool upgrade (list) after: %q", out)
	}
	d.fail(1, "cannot open 'nope': no such pool", "pool", "upgrade", "nope")
	d.ok("pool", "check", "golden")
}
