package dsl

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"coffer/internal/dmu"
	"coffer/internal/format"
	"coffer/internal/pool"
)

// checksums counts the block pointers under every dataset and snapshot of
// dp by checksum algorithm.
func checksums(t *testing.T, dp *Pool) map[uint8]int {
	t.Helper()
	dp.mu.Lock()
	var roots []format.BlockPointer
	for _, r := range dp.m.Datasets {
		if !r.Root.IsZero() {
			roots = append(roots, r.Root)
		}
	}
	dp.mu.Unlock()
	n := map[uint8]int{}
	for _, root := range roots {
		err := dmu.Walk(dp.p, root, func(bp *format.BlockPointer) (bool, error) {
			if !bp.IsHole() {
				n[bp.CksumAlg]++
			}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// copyTree copies src (a vdev image) into a new directory and returns it.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	copyDir(t, src, dst)
	return dst
}

// importDir imports the one pool whose vdevs are under dir.
func importDir(t *testing.T, dir string) *Pool {
	t.Helper()
	found, err := pool.Scan([]string{dir})
	if err != nil || len(found) != 1 {
		t.Fatal(found, err)
	}
	dp, err := Import(found[0], Options{})
	if err != nil {
		t.Fatal(err)
	}
	return dp
}

// TestChecksumVersions: new pools are version 2 and checksum their blocks
// with XXH3, except the MOS block; a version 1 pool keeps writing xxhash64
// until a raw receive brings XXH3 blocks, which raises it to version 2 in
// the same txg.
func TestChecksumVersions(t *testing.T) {
	src, _ := newNamedPool(t, "tank")
	if src.m.Version != 2 || src.p.WriteChecksum() != format.ChecksumXXH3 {
		t.Fatalf("new pool: version %d, checksum %d", src.m.Version, src.p.WriteChecksum())
	}
	encProps := map[string]string{"keyformat": "passphrase", "pbkdf2iters": "100000"}
	if err := src.Create(nil, "tank/media", CreateOpts{Props: encProps, Key: []byte(pass)}); err != nil {
		t.Fatal(err)
	}
	want := files(t, src, "tank/media", 3)
	if err := src.Snapshot([]string{"tank/media@s"}, false, nil); err != nil {
		t.Fatal(err)
	}
	if n := checksums(t, src); n[format.ChecksumXXH3] == 0 || len(n) != 1 {
		t.Fatalf("new pool's blocks by checksum algorithm: %v, want XXH3 only", n)
	}
	if mos := src.p.MOSPointer(); mos.CksumAlg != format.ChecksumXXH64 {
		t.Fatalf("MOS block checksum %d, want xxhash64", mos.CksumAlg)
	}
	stream := send(t, src, "tank/media@s", SendOpts{Raw: true})

	// A version 1 pool (the golden image) writes xxhash64 and stays at 1.
	dir := copyTree(t, filepath.Join("testdata", "golden-v1"))
	old := importDir(t, dir)
	if old.m.Version != 1 || old.p.WriteChecksum() != format.ChecksumXXH64 {
		t.Fatalf("golden v1: version %d, checksum %d", old.m.Version, old.p.WriteChecksum())
	}
	plain := files(t, old, "golden/plain", 2)
	if n := checksums(t, old); n[format.ChecksumXXH64] == 0 || len(n) != 1 {
		t.Fatalf("version 1 pool's blocks by checksum algorithm: %v, want xxhash64 only", n)
	}
	old = reimport(t, old, dir)
	if old.m.Version != 1 {
		t.Fatalf("version 1 pool is version %d after writes", old.m.Version)
	}

	// A raw receive of XXH3 blocks raises it to version 2.
	if _, err := old.Receive(context.Background(), "golden/media", RecvOpts{}, bytes.NewReader(stream)); err != nil {
		t.Fatal(err)
	}
	if old.m.Version != 2 || old.p.WriteChecksum() != format.ChecksumXXH3 {
		t.Fatalf("after a raw receive of XXH3 blocks: version %d, checksum %d", old.m.Version, old.p.WriteChecksum())
	}
	checked(t, old)
	old = reimport(t, old, dir)
	defer old.Close()
	if old.m.Version != 2 {
		t.Fatalf("reimported: version %d", old.m.Version)
	}
	if n := checksums(t, old); n[format.ChecksumXXH3] == 0 || n[format.ChecksumXXH64] == 0 {
		t.Fatalf("mixed pool's blocks by checksum algorithm: %v", n)
	}
	if err := old.LoadKey("golden/media", false, "", []byte(pass)); err != nil {
		t.Fatal(err)
	}
	verify(t, old, "golden/media", want)
	verify(t, old, "golden/plain", plain)
	checked(t, old)
}

func TestMOSVersionRefused(t *testing.T) {
	for _, v := range []string{"0", "3", "99"} {
		_, err := parseMOS([]byte(`{"version":` + v + `,"datasets":{}}`))
		if err == nil || !strings.Contains(err.Error(), "unsupported version "+v) {
			t.Errorf("version %s: %v", v, err)
		}
	}
	for _, v := range []string{"1", "2"} {
		if _, err := parseMOS([]byte(`{"version":` + v + `,"datasets":{}}`)); err != nil {
			t.Errorf("version %s: %v", v, err)
		}
	}
}

// TestGoldenImageVersions: the frozen images are what their names say.
func TestGoldenImageVersions(t *testing.T) {
	for v, alg := range map[int]uint8{1: format.ChecksumXXH64, 2: format.ChecksumXXH3} {
		dp := importDir(t, copyTree(t, filepath.Join("testdata", fmt.Sprintf("golden-v%d", v))))
		n := checksums(t, dp)
		if dp.m.Version != v || n[alg] == 0 || len(n) != 1 || dp.p.MOSPointer().CksumAlg != format.ChecksumXXH64 {
			t.Errorf("golden-v%d: version %d, blocks by checksum %v, MOS checksum %d", v, dp.m.Version, n, dp.p.MOSPointer().CksumAlg)
		}
		dp.Close()
	}
}

// TestUpgrade: pool upgrade raises a version 1 pool to 2 in one txg; its
// old blocks keep xxhash64 and still read, new ones take XXH3, and the
// version survives a reimport. A second upgrade changes nothing.
func TestUpgrade(t *testing.T) {
	dir := copyTree(t, filepath.Join("testdata", "golden-v1"))
	dp := importDir(t, dir)
	if v := dp.FormatVersion(); v != 1 {
		t.Fatalf("golden v1 is version %d", v)
	}
	txg := dp.p.Txg()
	from, err := dp.Upgrade()
	if err != nil || from != 1 || dp.FormatVersion() != LatestVersion || dp.p.WriteChecksum() != format.ChecksumXXH3 || dp.p.Txg() != txg+1 {
		t.Fatalf("upgrade: from %d, %v; version %d, checksum %d, txg %d after %d", from, err, dp.FormatVersion(), dp.p.WriteChecksum(), dp.p.Txg(), txg)
	}
	plain := files(t, dp, "golden/plain", 2)
	if n := checksums(t, dp); n[format.ChecksumXXH3] == 0 || n[format.ChecksumXXH64] == 0 {
		t.Fatalf("upgraded pool's blocks by checksum algorithm: %v", n)
	}
	checked(t, dp)
	dp = reimport(t, dp, dir)
	defer dp.Close()
	if v := dp.FormatVersion(); v != LatestVersion || dp.p.WriteChecksum() != format.ChecksumXXH3 {
		t.Fatalf("reimported: version %d, checksum %d", v, dp.p.WriteChecksum())
	}
	verify(t, dp, "golden/plain", plain)
	if err := dp.LoadKey("golden/secret", false, "", []byte("golden passphrase")); err != nil {
		t.Fatal(err)
	}
	txg = dp.p.Txg()
	if from, err := dp.Upgrade(); err != nil || from != LatestVersion || dp.p.Txg() != txg {
		t.Fatalf("second upgrade: from %d, %v, txg %d after %d", from, err, dp.p.Txg(), txg)
	}
	checked(t, dp)
}
