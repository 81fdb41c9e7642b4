package e2e

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestPoolVerbs(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)

	if out := d.ok("pool", "list"); out != "no pools available\n" {
		t.Errorf("pool list without pools: %q", out)
	}
	if v := d.poolListJSON(); len(v.Pools) != 0 {
		t.Errorf("pool list -j without pools: %+v", v)
	}

	base := t.TempDir()
	single := filepath.Join(base, "single")
	m1, m2 := filepath.Join(base, "m1"), filepath.Join(base, "m2")
	d.ok("pool", "create", "tank", single)
	d.ok("pool", "create", "-O", "compression=off", "-O", "com.example:note=pool", "mir", "mirror", m1, m2)
	if got := d.props("mir", "compression", "com.example:note"); got["compression"] != "off" || got["com.example:note"] != "pool" {
		t.Errorf("pool create -O: %v", got)
	}

	// pool list, default table.
	out := d.ok("pool", "list")
	ls := lines(out)
	if len(ls) != 3 || ls[0] != "NAME  SIZE   ALLOC  FREE   CAP  HEALTH" && !regexp.MustCompile(`^NAME +SIZE +ALLOC +FREE +CAP +HEALTH$`).MatchString(ls[0]) {
		t.Fatalf("pool list:\n%s", out)
	}
	for i, name := range []string{"mir", "tank"} {
		f := strings.Fields(ls[i+1])
		if len(f) != 6 || f[0] != name || f[5] != "ONLINE" || !strings.HasSuffix(f[4], "%") {
			t.Errorf("pool list row %q", ls[i+1])
		}
	}
	for _, l := range ls {
		if strings.HasSuffix(l, " ") {
			t.Errorf("trailing space in %q", l)
		}
	}
	// -H -p -o
	out = d.ok("pool", "list", "-H", "-p", "-o", "name,size,alloc,free,cap,health,guid,txg", "tank")
	f := strings.Split(strings.TrimSuffix(out, "\n"), "\t")
	if len(f) != 8 || f[0] != "tank" || f[5] != "ONLINE" || strings.Contains(out, "  ") {
		t.Fatalf("pool list -H -p -o: %q", out)
	}
	var nums [8]uint64
	for _, i := range []int{1, 2, 3, 4, 6, 7} {
		n, err := strconv.ParseUint(f[i], 10, 64)
		if err != nil {
			t.Errorf("pool list -p column %d = %q, not exact", i, f[i])
		}
		nums[i] = n
	}
	if nums[1] == 0 || nums[2]+nums[3] != nums[1] || nums[4] > 100 {
		t.Errorf("size/alloc/free/cap inconsistent: %v", f)
	}
	if out := d.ok("pool", "list", "-H", "-o", "name"); out != "mir\ntank\n" {
		t.Errorf("pool list -H -o name = %q", out)
	}
	// -j
	v := d.poolListJSON("-p")
	if len(v.Pools) != 2 || v.Pools["tank"].PoolGUID != f[6] || v.Pools["tank"].Properties["health"].Value != "ONLINE" {
		t.Errorf("pool list -j -p: %+v", v)
	}
	if _, err := strconv.ParseUint(v.Pools["tank"].Properties["size"].Value, 10, 64); err != nil {
		t.Errorf("pool list -j -p size not exact: %+v", v.Pools["tank"].Properties)
	}
	// An unknown pool: an error for it, the others listed.
	r := d.run(nil, "pool", "list", "-H", "-o", "name", "nope", "tank")
	if r.code != 1 || r.stdout != "tank\n" || r.stderr != "cannot open 'nope': no such pool\n" {
		t.Errorf("pool list nope tank: %s", r)
	}

	// pool status.
	out = d.ok("pool", "status", "mir")
	for _, want := range []string{"  pool: mir\n", " state: ONLINE\n", "  scan: none requested\n", "config:\n", "\tNAME", "\tmir ", "\t  mirror-0 ", "\t    " + m1 + " ", "\t    " + m2 + " ", "errors: No known data errors\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("pool status mir lacks %q:\n%s", want, out)
		}
	}
	out = d.ok("pool", "status")
	if !strings.Contains(out, "  pool: mir\n") || !strings.Contains(out, "  pool: tank\n") || !strings.Contains(out, "\n\n  pool: tank\n") {
		t.Errorf("pool status (all):\n%s", out)
	}
	st := d.poolStatusJSON("mir")
	ps := st.Pools["mir"]
	if len(st.Pools) != 1 || ps.State != "ONLINE" || len(ps.Vdevs) != 1 || ps.Vdevs[0].Name != "mirror-0" || len(ps.Vdevs[0].Children) != 2 ||
		ps.Vdevs[0].Children[0].Name != m1 || ps.Vdevs[0].Children[1].Name != m2 || ps.Scrub.State != "none" {
		t.Errorf("pool status -j mir: %+v", st)
	}
	if st := d.poolStatusJSON(); len(st.Pools) != 2 || st.Pools["tank"].Vdevs[0].Name != single {
		t.Errorf("pool status -j: %+v", st)
	}
	d.fail(1, "cannot open 'nope': no such pool", "pool", "status", "nope")

	// pool scrub, then status shows a finished scan.
	d.ok("create", "mir/data")
	d.ok("pool", "scrub", "mir")
	var done jsonPoolStatus
	for deadline := time.Now().Add(20 * time.Second); ; {
		done = d.poolStatusJSON("mir").Pools["mir"]
		if done.Scrub.State == "finished" || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if done.Scrub.State != "finished" || done.Scrub.Start == 0 || done.Scrub.End < done.Scrub.Start || done.Scrub.Examined == 0 || done.Scrub.Errors != 0 {
		t.Errorf("scrub after pool scrub: %+v", done.Scrub)
	}
	out = d.ok("pool", "status", "mir")
	if !regexp.MustCompile(`(?m)^  scan: scrub repaired 0B in \d\d:\d\d:\d\d with 0 errors on \w{3} \w{3} +\d+ \d\d:\d\d:\d\d \d{4}$`).MatchString(out) {
		t.Errorf("pool status after scrub:\n%s", out)
	}
	d.fail(1, "cannot open 'nope': no such pool", "pool", "scrub", "nope")
	if out := d.ok("pool", "check", "mir"); !strings.Contains(out, " 0 problems") {
		t.Errorf("pool check of a healthy pool: %s", out)
	}
	d.fail(1, "cannot open 'nope': no such pool", "pool", "check", "nope")

	// export / import.
	guid := d.prop("mir", "guid")
	d.ok("pool", "export", "mir")
	if out := d.ok("pool", "list", "-H", "-o", "name"); out != "tank\n" {
		t.Errorf("after export: %q", out)
	}
	d.fail(1, "cannot open 'mir/data': dataset does not exist", "list", "mir/data")
	// Without a name: lists the importable pools, imports nothing.
	out = d.ok("pool", "import", "-d", base)
	if !regexp.MustCompile(`(?m)^   pool: mir\n     id: \d+\n  state: ONLINE\n action: The pool can be imported using its name or numeric identifier\.$`).MatchString(out) || strings.Contains(out, "pool: tank") {
		t.Errorf("pool import -d:\n%s", out)
	}
	// Default directories: those the daemon knows.
	if out2 := d.ok("pool", "import"); !strings.Contains(out2, "   pool: mir\n") {
		t.Errorf("pool import (no -d):\n%s", out2)
	}
	if out := d.ok("pool", "list", "-H", "-o", "name"); out != "tank\n" {
		t.Errorf("pool import without a name imported something: %q", out)
	}
	id := regexp.MustCompile(`id: (\d+)`).FindStringSubmatch(out)[1]
	d.ok("pool", "import", "-d", base, id) // by numeric id
	if got := d.names("-r", "mir"); strings.Join(got, ",") != "mir,mir/data" {
		t.Errorf("after import by id: %v", got)
	}
	if d.prop("mir", "guid") != guid || d.prop("mir", "compression") != "off" {
		t.Errorf("import changed the root dataset")
	}
	d.fail(1, "cannot import 'mir': a pool with that name is already imported", "pool", "import", "-d", base, "mir")
	d.ok("pool", "export", "mir")
	d.ok("pool", "import", "mir") // by name, default directories
	d.fail(1, "no such pool", "pool", "import", "-d", base, "nope")
	r = d.run(nil, "pool", "import", "-d", t.TempDir())
	if r.code != 0 || r.stdout != "" || r.stderr != "no pools available to import\n" {
		t.Errorf("pool import of an empty dir: %s", r)
	}

	// Imported pools survive a restart.
	d.restart()
	if out := d.ok("pool", "list", "-H", "-o", "name,health"); out != "mir\tONLINE\ntank\tONLINE\n" {
		t.Errorf("after restart: %q", out)
	}

	// destroy.
	d.ok("pool", "destroy", "mir")
	if out := d.ok("pool", "list", "-H", "-o", "name"); out != "tank\n" {
		t.Errorf("after destroy: %q", out)
	}
	r = d.run(nil, "pool", "import", "-d", base)
	if r.code != 0 || strings.Contains(r.stdout, "mir") {
		t.Errorf("destroyed pool is importable: %s", r)
	}
	d.fail(1, "no such pool", "pool", "destroy", "mir")
	// Its directories can be used again.
	d.ok("pool", "create", "again", "mirror", m1, m2)
	d.restart()
	if out := d.ok("pool", "list", "-H", "-o", "name"); out != "again\ntank\n" {
		t.Errorf("after destroy, create, restart: %q", out)
	}
}

// TestPoolImportDegradedMirror imports a mirror one of whose directories
// was removed: the data is there, and status says which side is missing.
func TestPoolImportDegradedMirror(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	base := t.TempDir()
	m1, m2 := filepath.Join(base, "m1"), filepath.Join(base, "m2")
	d.ok("pool", "create", "mir", "mirror", m1, m2)
	d.ok("create", "mir/data")
	d.ok("pool", "export", "mir")
	if err := os.RemoveAll(m2); err != nil {
		t.Fatal(err)
	}
	d.ok("pool", "import", "-d", base, "mir")
	if got := d.names("-r", "mir"); strings.Join(got, ",") != "mir,mir/data" {
		t.Errorf("datasets: %v", got)
	}
	ps := d.poolStatusJSON("mir").Pools["mir"]
	if ps.State != "DEGRADED" {
		t.Errorf("pool state = %q, want DEGRADED", ps.State)
	}
	if len(ps.Vdevs) != 1 || ps.Vdevs[0].State == "ONLINE" {
		t.Errorf("mirror-0 with a missing side shows %+v, want DEGRADED (as zpool status)", ps.Vdevs)
	}
	if len(ps.Vdevs) == 1 && len(ps.Vdevs[0].Children) != 2 {
		t.Errorf("the missing side %s is not listed (zpool shows it UNAVAIL): %+v", m2, ps.Vdevs[0].Children)
	}
}

// TestPoolCheckFindsDamage: pool check reports damaged blocks and exits 1.
func TestPoolCheckFindsDamage(t *testing.T) {
	d := startDaemon(t)
	mnt := t.TempDir()
	vdev := filepath.Join(t.TempDir(), "v")
	d.ok("pool", "create", "-O", "mountpoint="+mnt, "-O", "compression=off", "tank", vdev)
	d.ok("create", "tank/fs")
	d.ok("mount", "tank/fs")
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB
	if err := os.WriteFile(filepath.Join(mnt, "fs/big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	d.ok("unmount", "tank/fs")
	if out := d.ok("pool", "check", "tank"); !strings.Contains(out, " 0 problems") {
		t.Fatalf("healthy: %s", out)
	}
	f, err := os.OpenFile(filepath.Join(vdev, "data"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	for off := int64(256 << 10); off < 1<<20; off += 64 << 10 {
		f.WriteAt([]byte("DAMAGE"), off)
	}
	f.Close()
	r := d.run(nil, "pool", "check", "tank")
	if r.code != 1 || !strings.Contains(r.stdout, "damaged block") || !strings.Contains(r.stderr, "is inconsistent") {
		t.Fatalf("pool check of a damaged pool: %s", r)
	}
}
