package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestCreateDestroy(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.newPool("tank")

	d.ok("create", "tank/a")
	d.fail(1, "cannot create 'tank/x/y/z': parent does not exist", "create", "tank/x/y/z")
	d.ok("create", "-p", "tank/x/y/z")
	d.ok("create", "-o", "compression=off", "-o", "recordsize=32K", "-o", "com.example:note=hi", "tank/a/o")
	if got := d.props("tank/a/o", "compression", "recordsize", "com.example:note", "type"); got["compression"] != "off" || got["recordsize"] != "32768" || got["com.example:note"] != "hi" || got["type"] != "filesystem" {
		t.Errorf("create -o: %v", got)
	}
	if got := d.sources("tank/a/o", "compression", "recordsize"); got["compression"] != "local" || got["recordsize"] != "local" {
		t.Errorf("create -o sources: %v", got)
	}
	if got := d.names("-r", "tank"); strings.Join(got, ",") != "tank,tank/a,tank/a/o,tank/x,tank/x/y,tank/x/y/z" {
		t.Errorf("tree: %v", got)
	}
	// creation -p is seconds since the epoch; guid is a number.
	c, err := strconv.ParseInt(d.prop("tank/a", "creation"), 10, 64)
	if err != nil || time.Since(time.Unix(c, 0)) > time.Hour || time.Until(time.Unix(c, 0)) > time.Minute {
		t.Errorf("creation -p = %d, %v", c, err)
	}
	if _, err := strconv.ParseUint(d.prop("tank/a", "guid"), 10, 64); err != nil {
		t.Errorf("guid: %v", err)
	}

	// Volumes.
	d.ok("create", "-V", "10M", "tank/vol")
	d.ok("create", "-s", "-V", "1.5G", "tank/svol")
	d.ok("create", "-p", "-V", "64K", "-o", "volblocksize=8K", "tank/deep/vol")
	if got := d.props("tank/vol", "type", "volsize", "volblocksize", "mountpoint"); got["type"] != "volume" || got["volsize"] != "10485760" || got["mountpoint"] != "-" {
		t.Errorf("tank/vol: %v", got)
	}
	if got := d.props("tank/svol", "type", "volsize"); got["type"] != "volume" || got["volsize"] != "1610612736" {
		t.Errorf("tank/svol: %v", got)
	}
	if got := d.props("tank/deep/vol", "volsize", "volblocksize"); got["volsize"] != "65536" || got["volblocksize"] != "8192" {
		t.Errorf("tank/deep/vol: %v", got)
	}
	if got := d.names("-t", "volume"); strings.Join(got, ",") != "tank/deep/vol,tank/svol,tank/vol" {
		t.Errorf("list -t volume: %v", got)
	}
	d.fail(1, "", "create", "tank/vol/child")
	d.fail(2, "bad volume size 'abc'", "create", "-V", "abc", "tank/v2")
	d.fail(2, "'-s' can only be used when creating a volume", "create", "-s", "tank/v2")
	if got := d.prop("tank/a", "volsize"); got != "-" {
		t.Errorf("volsize of a file system = %q, want -", got)
	}

	// destroy: -n, snapshots, -r.
	d.ok("snapshot", "tank/a@s1")
	d.fail(1, "cannot destroy 'tank/a': filesystem has children", "destroy", "tank/a")
	before := d.snapshotState()
	if out := d.ok("destroy", "-n", "-r", "tank/a"); out != "" {
		t.Errorf("destroy -n printed %q", out)
	}
	d.ok("destroy", "-n", "tank/a@s1")
	if after := d.snapshotState(); after != before {
		t.Errorf("destroy -n changed state:\n%s", diffLines(before, after))
	}
	d.fail(1, "", "destroy", "-n", "tank/nope")
	d.ok("destroy", "tank/a@s1")
	d.fail(1, "cannot open 'tank/a@s1': snapshot does not exist", "destroy", "tank/a@s1")
	d.ok("destroy", "tank/a/o")
	d.ok("destroy", "tank/vol")
	d.ok("snapshot", "tank/x/y@s")
	d.fail(1, "'tank/x/y/z@nope'", "destroy", "tank/x/y/z@nope")
	d.ok("destroy", "-r", "tank/x")
	if got := d.names("-r", "-t", "all", "tank"); strings.Join(got, ",") != "tank,tank/a,tank/deep,tank/deep/vol,tank/svol" {
		t.Errorf("after destroys: %v", got)
	}
	d.fail(1, "cannot open 'tank/x': dataset does not exist", "destroy", "tank/x")
	d.restart()
	if got := d.names("-r", "-t", "all", "tank"); strings.Join(got, ",") != "tank,tank/a,tank/deep,tank/deep/vol,tank/svol" {
		t.Errorf("after restart: %v", got)
	}
}

// TestCreateParentsExisting: zfs create -p on a dataset that exists
// "completes successfully" (zfs-create(8)).
func TestCreateParentsExisting(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.newPool("tank")
	d.ok("create", "-p", "tank/x/y")
	d.unchanged("create -p of an existing dataset", func() {
		if r := d.run(nil, "create", "-p", "tank/x/y"); r.code != 0 || r.stderr != "" {
			t.Errorf("want success as zfs create -p, got %s", r)
		}
	})
}

// TestVolumeReservation: `create -V` without -s reserves the volume's size
// (zfs: refreservation=volsize, and cmd_create's help says "-s makes a
// sparse volume (no reservation)"); a sparse one does not.
func TestVolumeReservation(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.newPool("tank")
	d.ok("create", "-V", "100M", "tank/thick")
	d.ok("create", "-s", "-V", "100M", "tank/thin")
	thick, _ := strconv.ParseUint(d.prop("tank/thick", "used"), 10, 64)
	thin, _ := strconv.ParseUint(d.prop("tank/thin", "used"), 10, 64)
	if thick < 100<<20 || thin >= 100<<20 {
		t.Errorf("used: non-sparse 100M volume %d, sparse %d; want the non-sparse one to reserve its size", thick, thin)
	}
	r := d.run(nil, "get", "-H", "-p", "-o", "value", "refreservation", "tank/thick")
	if r.code != 0 {
		t.Errorf("refreservation (docs/cli.md lists the alias refreserv) is refused: %s", r)
	}
}

func TestSnapshotRollback(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.newPool("tank")
	d.ok("create", "-p", "tank/a/b/c")
	d.ok("create", "tank/other")

	d.ok("snapshot", "-r", "tank/a@s1")
	if got := d.names("-t", "snapshot"); strings.Join(got, ",") != "tank/a@s1,tank/a/b@s1,tank/a/b/c@s1" {
		t.Errorf("snapshot -r: %v", got)
	}
	d.ok("snap", "tank/a@s2", "tank/other@s2") // alias, several at once
	d.ok("snapshot", "tank/a@s3")
	if got := d.props("tank/a@s1", "type", "mountpoint"); got["type"] != "snapshot" {
		t.Errorf("snapshot props: %v", got)
	}
	d.fail(1, "cannot create snapshot 'tank/a@s1': dataset already exists", "snapshot", "tank/a@s1")
	d.fail(1, "dataset does not exist", "snapshot", "tank/nope@s")

	// rollback to the latest; to an older one needs -r.
	d.ok("rollback", "tank/a@s3")
	d.unchanged("rollback without -r", func() {
		d.fail(1, "cannot rollback to 'tank/a@s1': more recent snapshots exist", "rollback", "tank/a@s1")
	})
	d.ok("rollback", "-r", "tank/a@s1")
	if got := d.names("-t", "snapshot"); strings.Join(got, ",") != "tank/a@s1,tank/a/b@s1,tank/a/b/c@s1,tank/other@s2" {
		t.Errorf("after rollback -r: %v", got)
	}
	if got := d.prop("tank/a", "referenced"); got != d.prop("tank/a@s1", "referenced") {
		t.Errorf("referenced after rollback %s != snapshot's", got)
	}
	d.fail(1, "snapshot does not exist", "rollback", "tank/a@nope")
	d.fail(2, "", "rollback")
}

// TestListSnapshotsRecursive: `list -t snapshot -r DS` lists the snapshots
// below DS, not DS itself (zfs list -t snapshot -r).
func TestListSnapshotsRecursive(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.newPool("tank")
	d.ok("create", "-p", "tank/a/b")
	d.ok("snapshot", "-r", "tank/a@s")
	if got := d.names("-t", "snapshot", "-r", "tank/a"); strings.Join(got, ",") != "tank/a@s,tank/a/b@s" {
		t.Errorf("list -t snapshot -r tank/a = %v, want [tank/a@s tank/a/b@s]", got)
	}
	// Nothing matches: zfs prints "no datasets available" on stderr, exit 0.
	if r := d.run(nil, "list", "-H", "-o", "name", "-t", "volume", "-r", "tank/a"); r.code != 0 || r.stdout != "" || !strings.Contains(r.stderr, "no datasets available") {
		t.Errorf("list -t volume -r tank/a = %s, want nothing", r)
	}
}

func TestList(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.newPoolDefaultMountpoint("tank")
	// Nothing matched.
	r := d.run(nil, "list", "-t", "snapshot")
	if r.code != 0 || r.stdout != "" || r.stderr != "no datasets available\n" {
		t.Errorf("list with nothing matched: %s", r)
	}
	d.ok("create", "-p", "tank/a/b/c")
	d.ok("create", "-V", "1M", "tank/vol")
	d.ok("snapshot", "-r", "tank@s")

	out := d.ok("list")
	ls := lines(out)
	if len(ls) != 6 || !regexp.MustCompile(`^NAME +USED +AVAIL +REFER +MOUNTPOINT$`).MatchString(ls[0]) {
		t.Fatalf("list:\n%s", out)
	}
	for _, l := range ls {
		if strings.HasSuffix(l, " ") || strings.Contains(l, "\t") {
			t.Errorf("list line %q: trailing space or tab", l)
		}
	}
	if f := strings.Fields(ls[2]); len(f) != 5 || f[0] != "tank/a" || f[4] != "/tank/a" {
		t.Errorf("list row %q", ls[2])
	}
	if got := d.names(); strings.Join(got, ",") != "tank,tank/a,tank/a/b,tank/a/b/c,tank/vol" {
		t.Errorf("list: %v", got)
	}
	if got := d.names("-r", "tank/a"); strings.Join(got, ",") != "tank/a,tank/a/b,tank/a/b/c" {
		t.Errorf("list -r tank/a: %v", got)
	}
	if got := d.names("tank/a"); strings.Join(got, ",") != "tank/a" {
		t.Errorf("list tank/a: %v", got)
	}
	if got := d.names("-d", "1", "tank"); strings.Join(got, ",") != "tank,tank/a,tank/vol" {
		t.Errorf("list -d 1: %v", got)
	}
	if got := d.names("-d", "0", "tank"); strings.Join(got, ",") != "tank" {
		t.Errorf("list -d 0: %v", got)
	}
	if got := d.names("-t", "all", "-d", "1", "tank/a"); strings.Join(got, ",") != "tank/a,tank/a@s,tank/a/b" {
		t.Errorf("list -t all -d 1 tank/a: %v", got)
	}
	if got := d.names("-t", "all"); len(got) != 10 {
		t.Errorf("list -t all: %v", got)
	}
	if got := d.names("-t", "snapshot"); strings.Join(got, ",") != "tank@s,tank/a@s,tank/a/b@s,tank/a/b/c@s,tank/vol@s" {
		t.Errorf("list -t snapshot: %v", got)
	}
	if got := d.names("-t", "fs,vol", "tank/a@s", "tank/vol"); strings.Join(got, ",") != "tank/a@s,tank/vol" && strings.Join(got, ",") != "tank/vol" {
		t.Errorf("list named: %v", got)
	}
	if got := d.names("tank/a@s"); strings.Join(got, ",") != "tank/a@s" {
		t.Errorf("list of a named snapshot: %v", got)
	}
	// -H -p -o
	out = d.ok("list", "-H", "-p", "-o", "name,type,used,guid,com.example:x", "tank/a/b")
	f := strings.Split(strings.TrimSuffix(out, "\n"), "\t")
	if len(f) != 5 || f[0] != "tank/a/b" || f[1] != "filesystem" || f[4] != "-" {
		t.Errorf("list -H -p -o: %q", out)
	}
	if _, err := strconv.ParseUint(f[2], 10, 64); err != nil {
		t.Errorf("used -p = %q", f[2])
	}
	if out := d.ok("list", "-o", "name,compressratio,keystatus,encryptionroot,com.example:x", "tank"); !regexp.MustCompile(`^NAME +RATIO +KEYSTATUS +ENCROOT +com\.example:x\n`).MatchString(out) {
		t.Errorf("list headers:\n%s", out)
	}
	// -j
	v := d.listJSON("coffer list", "list", "-j", "-t", "all", "-p", "-o", "name,used,type,mountpoint")
	if len(v.Datasets) != 10 {
		t.Errorf("list -j: %d datasets", len(v.Datasets))
	}
	if ds := v.Datasets["tank/vol"]; ds.Type != "VOLUME" || ds.Properties["type"].Value != "volume" {
		t.Errorf("tank/vol: %+v", ds)
	}
	if ds := v.Datasets["tank/a@s"]; ds.Type != "SNAPSHOT" {
		t.Errorf("tank/a@s: %+v", ds)
	}
	ds := v.Datasets["tank/a/b"]
	if ds.Type != "FILESYSTEM" || len(ds.Properties) != 3 || ds.Properties["mountpoint"].Source.Type != "DEFAULT" {
		t.Errorf("tank/a/b: %+v (properties are the -o columns except name)", ds)
	}
	if _, err := strconv.ParseUint(ds.Properties["used"].Value, 10, 64); err != nil {
		t.Errorf("-j -p used = %q", ds.Properties["used"].Value)
	}
	if v := d.listJSON("coffer list", "list", "-j", "-H", "tank/a"); len(v.Datasets) != 1 || len(v.Datasets["tank/a"].Properties) != 4 {
		t.Errorf("list -j -H tank/a: %+v", v)
	}
	d.fail(1, "cannot open 'tank/nope': dataset does not exist", "list", "tank/nope")
	d.fail(2, "invalid type 'bogus'", "list", "-t", "bogus")
	d.fail(2, "bad property list: invalid property 'bogus'", "list", "-o", "name,bogus")
	d.fail(2, "", "list", "-d", "x")
}

// A mountpoint directory that mount created goes away again at unmount and
// destroy, as with zfs; one that existed before stays. A parent then mounts
// over its (empty) mountpoint: no leftover child directory makes
// `mount -a` fail with "directory is not empty".
func TestMountpointDirectoryCleanup(t *testing.T) {
	d := startDaemon(t)
	mnt := filepath.Join(t.TempDir(), "tank")
	d.ok("pool", "create", "-O", "mountpoint="+mnt, "tank", filepath.Join(t.TempDir(), "v"))
	d.ok("create", "tank/made")
	d.ok("create", "tank/gone")
	mine := filepath.Join(t.TempDir(), "mine")
	if err := os.Mkdir(mine, 0o700); err != nil {
		t.Fatal(err)
	}
	d.ok("create", "-o", "mountpoint="+mine, "tank/mine")
	for _, ds := range []string{"tank/made", "tank/gone", "tank/mine"} {
		d.ok("mount", ds)
	}
	for _, dir := range []string{filepath.Join(mnt, "made"), filepath.Join(mnt, "gone"), mine} {
		if !mountedAt(t, dir) {
			t.Fatalf("%s is not a mount", dir)
		}
	}
	d.ok("unmount", "tank/made")
	d.ok("destroy", "tank/gone")
	d.ok("unmount", "tank/mine")
	for _, dir := range []string{filepath.Join(mnt, "made"), filepath.Join(mnt, "gone")} {
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("%s still there after unmount (%v)", dir, err)
		}
	}
	if fi, err := os.Stat(mine); err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Errorf("the user's own mountpoint %s: %v %v", mine, fi, err)
	}
	// The pool's root directory now holds nothing: tank mounts on it.
	d.ok("mount", "-a")
	if !mountedAt(t, mnt) || !mountedAt(t, filepath.Join(mnt, "made")) {
		t.Fatal("mount -a did not mount tank and tank/made")
	}
}

// mountedAt reports whether dir is a FUSE mount.
func mountedAt(t *testing.T, dir string) bool {
	t.Helper()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return false
	}
	return st.Type == fuseSuperMagic
}
