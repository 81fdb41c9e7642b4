package torture

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"coffer/internal/dsl"
	"coffer/internal/format"
	"coffer/internal/pool"
	"coffer/internal/vdev"
)

// faultPool is a single-vdev pool with files in a plain, an encrypted and
// an encrypted compressed dataset, closed, ready to be damaged.
type faultPool struct {
	dir    string // the vdev directory
	files  []file
	blocks []block // every live block
	txg    uint64  // last committed txg
}

var faultDatasets = []string{"tank/plain", "tank/enc", "tank/encz"}

func buildFaultPool(t *testing.T, dir string, rng *rand.Rand) faultPool {
	t.Helper()
	dp := createPool(t, pool.VdevSpec{Paths: []string{dir}})
	for _, c := range []struct {
		name string
		o    dsl.CreateOpts
	}{
		{"tank/plain", dsl.CreateOpts{Props: plainProps("off")}},
		{"tank/enc", dsl.CreateOpts{Props: encProps("off"), Key: []byte(passphrase)}},
		{"tank/encz", dsl.CreateOpts{Props: encProps("lz4"), Key: []byte(passphrase)}},
	} {
		if err := dp.Create(nil, c.name, c.o); err != nil {
			t.Fatal(err)
		}
	}
	fp := faultPool{dir: dir}
	for _, ds := range faultDatasets {
		fp.files = append(fp.files, writeFiles(t, dp, ds, 8, rng)...)
	}
	if err := dp.Sync(); err != nil {
		t.Fatal(err)
	}
	checked(t, dp) // commits once more: collect the blocks after it
	fp.blocks = liveBlocks(t, dp, rootsOf(t, dp, faultDatasets...))
	fp.txg = dp.Raw().Txg()
	if err := dp.Close(); err != nil {
		t.Fatal(err)
	}
	return fp
}

// copyDir copies a closed vdev directory (its files only).
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		in, err := os.Open(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out, err := os.Create(filepath.Join(to, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(out, in); err != nil {
			t.Fatal(err)
		}
		in.Close()
		if err := out.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

func loadKeys(t *testing.T, dp *dsl.Pool) {
	t.Helper()
	for _, ds := range []string{"tank/enc", "tank/encz"} {
		if err := dp.LoadKey(ds, false, "", []byte(passphrase)); err != nil {
			t.Fatal(err)
		}
	}
}

// clearImportError fails unless err is a one-line "cannot import" error.
func clearImportError(t *testing.T, err error) {
	t.Helper()
	msg := err.Error()
	if !strings.HasPrefix(msg, "cannot import 'tank': ") || strings.Contains(msg, "\n") {
		t.Errorf("import error is not a clear one-line message: %q", msg)
	}
}

// TestFaultDataBlocks damages random level-0 data blocks of a single vdev:
// the pool imports, every read of a damaged block fails with ErrDamaged,
// every other read returns the right bytes, the damage is counted, Check
// names every damaged block, and rewriting the damaged blocks heals the
// pool.
func TestFaultDataBlocks(t *testing.T) {
	seed := testSeed(t)
	rng := newRand(seed, 10)
	base := t.TempDir()
	fp := buildFaultPool(t, filepath.Join(base, "v"), rng)
	for round := 0; round < 3; round++ {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			dir := filepath.Join(base, fmt.Sprintf("r%d", round))
			copyDir(t, fp.dir, dir)
			var data []block
			for _, b := range fp.blocks {
				if b.bp.Type == format.TypeData && b.bp.Level == 0 {
					data = append(data, b)
				}
			}
			rng.Shuffle(len(data), func(i, j int) { data[i], data[j] = data[j], data[i] })
			victims := data[:2+rng.IntN(6)]
			for _, b := range victims {
				what := damage(t, dataPath(dir), int64(b.bp.Offset), int(b.bp.PSize), rng)
				t.Logf("damaged %v: %s", b, what)
			}
			dp := mustImport(t, dir)
			defer dp.Close()
			loadKeys(t, dp)
			res, err := readFiles(dp, fp.files)
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range res.wrong {
				t.Errorf("wrong bytes returned: %s", w)
			}
			if res.errs != len(victims) {
				t.Errorf("%d of %d reads failed, want exactly one per damaged block (%d):\n%s", res.errs, res.chunks, len(victims), strings.Join(res.errMsg, "\n"))
			}
			for _, e := range res.errs2 {
				if !isDamaged(e) {
					t.Errorf("read error does not wrap pool.ErrDamaged: %v", e)
				}
			}
			if n := dp.Raw().DamagedBlocks(); n != uint64(len(victims)) {
				t.Errorf("DamagedBlocks = %d, want %d", n, len(victims))
			}
			rep, err := dp.Check()
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) != len(victims) {
				t.Errorf("Check reports %d problems, want %d: %q", len(rep.Problems), len(victims), rep.Problems)
			}
			for _, b := range victims {
				at := fmt.Sprintf("%d:%#x", b.bp.Vdev, b.bp.Offset)
				if !strings.Contains(strings.Join(rep.Problems, "\n"), at) {
					t.Errorf("Check does not name damaged block %v", b)
				}
			}
			// Rewriting every damaged block in full replaces it.
			for _, f := range fp.files {
				os, _ := dp.Objset(f.ds)
				o, err := os.Object(f.id)
				if err != nil {
					t.Fatal(err)
				}
				bs := int(o.BlockSize())
				for off := 0; off < len(f.data); off += bs {
					buf := make([]byte, min(bs, len(f.data)-off))
					if o.Read(buf, uint64(off)) == nil {
						continue
					}
					// A whole block (a short last block is written up to
					// the end of the file: the rest of it is zeros).
					if err := o.Write(f.data[off:min(off+bs, len(f.data))], uint64(off)); err != nil && len(f.data)-off >= bs {
						t.Fatalf("rewrite of a whole damaged block: %v", err)
					} else if err != nil {
						t.Logf("a partial last block cannot be rewritten without reading it: %v", err)
					}
				}
			}
			if err := dp.Sync(); err != nil {
				t.Fatal(err)
			}
			res, _ = readFiles(dp, fp.files)
			if len(res.wrong) > 0 {
				t.Errorf("wrong bytes after rewrite: %q", res.wrong)
			}
			if res.errs == 0 {
				checked(t, dp)
			}
		})
	}
}

// TestFaultRandomOffsets damages random ranges anywhere in the data file,
// metadata included. Import either works or fails with a clear error;
// when it works, no read ever returns wrong bytes, and whatever fails to
// read is reported by Check.
func TestFaultRandomOffsets(t *testing.T) {
	seed := testSeed(t)
	rng := newRand(seed, 11)
	base := t.TempDir()
	fp := buildFaultPool(t, filepath.Join(base, "v"), rng)
	fi, err := os.Stat(dataPath(fp.dir))
	if err != nil {
		t.Fatal(err)
	}
	rounds := 8
	if long() {
		rounds = 60
	}
	imported := 0
	for round := 0; round < rounds; round++ {
		dir := filepath.Join(base, fmt.Sprintf("r%d", round))
		copyDir(t, fp.dir, dir)
		for i := 0; i < 1+rng.IntN(6); i++ {
			n := 1 + rng.IntN(4096)
			off := rng.Int64N(fi.Size() - int64(n))
			damage(t, dataPath(dir), off, n, rng)
		}
		dp, err := importPool(dir)
		if err != nil {
			clearImportError(t, err)
			continue
		}
		imported++
		for _, ds := range []string{"tank/enc", "tank/encz"} {
			if err := dp.LoadKey(ds, false, "", []byte(passphrase)); err != nil {
				t.Errorf("round %d: load key: %v", round, err)
			}
		}
		res, err := readFiles(dp, fp.files)
		if err != nil {
			t.Logf("round %d: %v", round, err)
		}
		for _, w := range res.wrong {
			t.Errorf("round %d: wrong bytes returned: %s", round, w)
		}
		rep, err := dp.Check()
		if err != nil {
			t.Errorf("round %d: check: %v", round, err)
		} else if res.errs > 0 && len(rep.Problems) == 0 {
			t.Errorf("round %d: %d reads failed but Check reports nothing", round, res.errs)
		}
		dp.Close()
	}
	t.Logf("%d of %d damaged pools imported", imported, rounds)
}

// TestFaultUberblocks damages the uberblock ring: import falls back to an
// intact uberblock or fails with a clear error; it never panics or returns
// an inconsistent pool.
func TestFaultUberblocks(t *testing.T) {
	seed := testSeed(t)
	rng := newRand(seed, 12)
	base := t.TempDir()
	fp := buildFaultPool(t, filepath.Join(base, "v"), rng)
	newest := int64(fp.txg%format.UberSlots) * vdev.SlotSize
	cases := []struct {
		name     string
		hurt     func(t *testing.T, dir string)
		mustFail string // a substring the error must hold; "" = may import
	}{
		{"newest slot zeroed", func(t *testing.T, dir string) {
			writeAt(t, uberPath(dir), newest, make([]byte, format.UberblockSize))
		}, ""},
		{"newest slot bit flip", func(t *testing.T, dir string) {
			damage(t, uberPath(dir), newest, format.UberblockSize, rng)
		}, ""},
		{"newest slot torn (second half zero)", func(t *testing.T, dir string) {
			writeAt(t, uberPath(dir), newest+format.UberblockSize/2, make([]byte, format.UberblockSize/2))
		}, ""},
		{"random garbage over a few slots", func(t *testing.T, dir string) {
			for i := 0; i < 4; i++ {
				damage(t, uberPath(dir), int64(rng.IntN(format.UberSlots))*vdev.SlotSize, format.UberblockSize, rng)
			}
		}, ""},
		{"all slots zeroed", func(t *testing.T, dir string) {
			writeAt(t, uberPath(dir), 0, make([]byte, vdev.RingSize))
		}, "no valid uberblock"},
		{"ring truncated", func(t *testing.T, dir string) {
			if err := os.Truncate(uberPath(dir), 1000); err != nil {
				t.Fatal(err)
			}
		}, "uberblock ring"},
		{"ring deleted", func(t *testing.T, dir string) {
			if err := os.Remove(uberPath(dir)); err != nil {
				t.Fatal(err)
			}
		}, "uberblock ring"},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(base, fmt.Sprintf("c%d", i))
			copyDir(t, fp.dir, dir)
			c.hurt(t, dir)
			dp, err := importPool(dir)
			if err != nil {
				t.Logf("import: %v", err)
				clearImportError(t, err)
				if c.mustFail != "" && !strings.Contains(err.Error(), c.mustFail) {
					t.Errorf("import error %q does not say %q", err, c.mustFail)
				}
				return
			}
			defer dp.Close()
			if c.mustFail != "" {
				t.Fatalf("import succeeded, want an error saying %q", c.mustFail)
			}
			t.Logf("imported at txg %d (last committed %d)", dp.Raw().Txg(), fp.txg)
			if dp.Raw().Txg() > fp.txg {
				t.Errorf("imported txg %d is newer than any committed (%d)", dp.Raw().Txg(), fp.txg)
			}
			checked(t, dp)
			loadKeys(t, dp)
			res, err := readFiles(dp, fp.files)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.wrong) > 0 || res.errs > 0 {
				t.Errorf("after falling back: %d wrong, %d failed reads: %q %q", len(res.wrong), res.errs, res.wrong, res.errMsg)
			}
		})
	}
}

func writeAt(t *testing.T, path string, off int64, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}
