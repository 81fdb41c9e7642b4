package fusefs_test

import (
	"os"
	"testing"

	"coffer/internal/fusefs"
	"coffer/internal/zpl"
	"coffer/internal/zpl/zpltest"
)

// requireFUSE fails the test when FUSE cannot be used, unless
// COFFER_ALLOW_SKIP_FUSE=1 allows skipping.
func requireFUSE(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		skipOrFail(t, "mount tests need root")
	}
	if _, err := os.Stat("/dev/fuse"); err != nil {
		skipOrFail(t, "/dev/fuse: "+err.Error())
	}
}

func skipOrFail(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("COFFER_ALLOW_SKIP_FUSE") == "1" {
		t.Skip(why)
	}
	t.Fatalf("%s (set COFFER_ALLOW_SKIP_FUSE=1 to skip)", why)
}

// mounted is a file system of a test pool mounted on a temporary directory.
type mounted struct {
	P   *zpltest.Pool
	FS  *zpl.FS
	M   *fusefs.Mount
	Dir string
}

// mountNew creates pool tank with file system tank/fs and mounts it.
func mountNew(t *testing.T, encrypted bool) *mounted {
	t.Helper()
	requireFUSE(t)
	p := zpltest.NewPool(t)
	p.CreateFS(t, "tank/fs", encrypted)
	return mountFS(t, p, "tank/fs")
}

func mountFS(t *testing.T, p *zpltest.Pool, ds string) *mounted {
	t.Helper()
	fs := p.OpenFS(t, ds)
	dir := t.TempDir()
	m, err := fusefs.New(dir, fusefs.Options{FS: fs, Name: ds, Snapshots: fusefs.DSLSnapshots(p.DP, ds)})
	if err != nil {
		t.Fatal(err)
	}
	mt := &mounted{P: p, FS: fs, M: m, Dir: dir}
	t.Cleanup(func() { mt.unmount(t) })
	return mt
}

func (mt *mounted) unmount(t testing.TB) {
	t.Helper()
	if mt.M == nil {
		return
	}
	if err := mt.M.Unmount(false); err != nil {
		t.Errorf("unmount: %v", err)
		_ = mt.M.Unmount(true)
	}
	mt.M = nil
	// Every reply has given back the cached blocks it was written from.
	if h := mt.P.DP.Raw().Cache().Stats().Held; h != 0 {
		t.Errorf("%d cached blocks still held after unmount", h)
	}
	// Every test leaves a consistent file system behind.
	if err := mt.FS.Check(); err != nil {
		t.Errorf("file system check after unmount: %v", err)
	}
}
