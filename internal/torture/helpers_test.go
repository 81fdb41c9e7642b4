package torture

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"coffer/internal/dmu"
	"coffer/internal/dsl"
	"coffer/internal/format"
	"coffer/internal/pool"
)

const passphrase = "torture passphrase 0xC0FFEE"

var longFlag = flag.Bool("torture.long", false, "run the long torture (hundreds of crash cycles)")

// long reports whether the long torture was asked for.
func long() bool { return *longFlag || os.Getenv("COFFER_TORTURE_LONG") == "1" }

// testSeed returns the seed of a randomised test: COFFER_TORTURE_SEED when
// set, else the clock. It is logged, and repeated when the test fails.
func testSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("COFFER_TORTURE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("COFFER_TORTURE_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d", seed)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("failed with seed %d: rerun with COFFER_TORTURE_SEED=%d", seed, seed)
		}
	})
	return seed
}

func newRand(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// encProps makes an encryption root with a passphrase and the cheapest
// allowed KDF.
func encProps(compression string) map[string]string {
	return map[string]string{"encryption": "on", "keyformat": "passphrase", "pbkdf2iters": "100000", "compression": compression}
}

func plainProps(compression string) map[string]string {
	return map[string]string{"compression": compression}
}

var testOpts = dsl.Options{SyncInterval: time.Hour} // commits happen only when a test asks

// createPool makes pool "tank" over specs and fails the test on error. The
// pool is not closed automatically: tests close and reopen it themselves.
func createPool(t *testing.T, specs ...pool.VdevSpec) *dsl.Pool {
	t.Helper()
	dp, err := dsl.CreatePool("tank", specs, false, nil, nil, testOpts)
	if err != nil {
		t.Fatal(err)
	}
	return dp
}

// importPool scans dirs and imports the one pool found there.
func importPool(dirs ...string) (*dsl.Pool, error) {
	found, err := pool.Scan(dirs)
	if err != nil {
		return nil, err
	}
	if len(found) != 1 {
		return nil, fmt.Errorf("scan of %v found %d pools", dirs, len(found))
	}
	return dsl.Import(found[0], testOpts)
}

// mustImport imports the pool or fails the test; the caller closes it.
func mustImport(t *testing.T, dirs ...string) *dsl.Pool {
	t.Helper()
	dp, err := importPool(dirs...)
	if err != nil {
		t.Fatal(err)
	}
	return dp
}

// checked fails the test when the pool is inconsistent.
func checked(t *testing.T, dp *dsl.Pool) {
	t.Helper()
	if err := dp.CheckErr(); err != nil {
		t.Fatal(err)
	}
}

// fill returns n bytes of deterministic content for version ver of object
// id: random bytes for most versions, compressible text for every fourth.
func fill(id, ver uint64, n int) []byte {
	b := make([]byte, n)
	if ver%4 == 0 {
		pat := []byte(fmt.Sprintf("object %d version %d: the quick brown fox. ", id, ver))
		for i := 0; i < n; i += len(pat) {
			copy(b[i:], pat)
		}
		return b
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], id)
	binary.LittleEndian.PutUint64(key[8:], ver)
	copy(key[16:], "coffer-torture!!")
	c := rand.NewChaCha8(key)
	_, _ = c.Read(b)
	return b
}

// digest is the short content hash used in journals.
func digest(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:12])
}

// file is an object written by a test, with its expected content.
type file struct {
	ds   string
	id   uint64
	data []byte
}

// writeFiles creates n objects of random sizes and record sizes in ds and
// returns them; the caller syncs.
func writeFiles(t *testing.T, dp *dsl.Pool, ds string, n int, rng *rand.Rand) []file {
	t.Helper()
	os, err := dp.Objset(ds)
	if err != nil {
		t.Fatal(err)
	}
	var out []file
	for i := 0; i < n; i++ {
		rec := []uint32{4 << 10, 16 << 10, 128 << 10}[rng.IntN(3)]
		o, err := os.NewObject(format.ObjectPlain, rec, dp.NextTxg())
		if err != nil {
			t.Fatal(err)
		}
		size := 1 + rng.IntN(8<<10)
		if rng.IntN(2) == 0 {
			size = 1 + rng.IntN(600<<10)
		}
		data := fill(o.ID()*1000+uint64(i), uint64(rng.IntN(8)), size)
		if err := o.Write(data, 0); err != nil {
			t.Fatal(err)
		}
		out = append(out, file{ds: ds, id: o.ID(), data: data})
	}
	return out
}

// readResult summarises reading every block of a set of files.
type readResult struct {
	chunks int      // block-sized reads
	errs   int      // reads that returned an error
	wrong  []string // reads that returned wrong bytes: must stay empty
	errMsg []string
	errs2  []error // the read errors themselves
}

// readFiles reads every file block by block (aligned to the object's block
// size, so one damaged block fails exactly one read) and compares every
// read that succeeds with the expected bytes.
func readFiles(dp *dsl.Pool, files []file) (readResult, error) {
	var res readResult
	for _, f := range files {
		os, err := dp.Objset(f.ds)
		if err != nil {
			return res, err
		}
		o, err := os.Object(f.id)
		if err != nil {
			res.chunks++
			res.errs++
			res.errMsg = append(res.errMsg, fmt.Sprintf("%s object %d: %v", f.ds, f.id, err))
			res.errs2 = append(res.errs2, err)
			continue
		}
		bs := int(o.BlockSize())
		for off := 0; off < len(f.data); off += bs {
			n := min(bs, len(f.data)-off)
			buf := make([]byte, n)
			res.chunks++
			if err := o.Read(buf, uint64(off)); err != nil {
				res.errs++
				res.errMsg = append(res.errMsg, fmt.Sprintf("%s object %d at %d: %v", f.ds, f.id, off, err))
				res.errs2 = append(res.errs2, err)
				continue
			}
			if !bytes.Equal(buf, f.data[off:off+n]) {
				res.wrong = append(res.wrong, fmt.Sprintf("%s object %d bytes [%d,%d) differ", f.ds, f.id, off, off+n))
			}
		}
	}
	return res, nil
}

// block is a live block with what a test needs to damage it.
type block struct {
	bp format.BlockPointer
}

func (b block) String() string {
	return fmt.Sprintf("%s L%d %d:%#x+%d", b.bp.Type, b.bp.Level, b.bp.Vdev, b.bp.Offset, b.bp.PSize)
}

// liveBlocks lists every distinct block reachable from the pool's MOS
// pointer and the given object-set roots.
func liveBlocks(t *testing.T, dp *dsl.Pool, roots []format.BlockPointer) []block {
	t.Helper()
	seen := map[[2]uint64]bool{}
	var out []block
	add := func(bp *format.BlockPointer) bool {
		k := [2]uint64{uint64(bp.Vdev), bp.Offset}
		if seen[k] {
			return false
		}
		seen[k] = true
		out = append(out, block{*bp})
		return true
	}
	mos := dp.Raw().MOSPointer()
	add(&mos)
	for _, r := range roots {
		err := dmu.Walk(dp.Raw(), r, func(bp *format.BlockPointer) (bool, error) {
			return add(bp), nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// rootsOf returns the object-set roots of live datasets (keys loaded).
func rootsOf(t *testing.T, dp *dsl.Pool, names ...string) []format.BlockPointer {
	t.Helper()
	var out []format.BlockPointer
	for _, n := range names {
		os, err := dp.Objset(n)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, os.Root())
	}
	return out
}

// damage changes the bytes [off, off+n) of path: flips bits, zeroes a
// range, or writes garbage, and makes sure something changed. It returns a
// description.
func damage(t *testing.T, path string, off int64, n int, rng *rand.Rand) string {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	old := make([]byte, n)
	if _, err := f.ReadAt(old, off); err != nil {
		t.Fatalf("damage %s at %d+%d: %v", path, off, n, err)
	}
	b := append([]byte(nil), old...)
	var what string
	switch rng.IntN(3) {
	case 0:
		k := 1 + rng.IntN(8)
		for i := 0; i < k; i++ {
			j := rng.IntN(n)
			b[j] ^= 1 << rng.IntN(8)
		}
		what = fmt.Sprintf("flip %d bits", k)
	case 1:
		s := rng.IntN(n)
		e := s + 1 + rng.IntN(n-s)
		clear(b[s:e])
		what = fmt.Sprintf("zero [%d,%d)", s, e)
	default:
		s := rng.IntN(n)
		e := s + 1 + rng.IntN(min(n-s, 64))
		for i := s; i < e; i++ {
			b[i] = byte(rng.Uint32())
		}
		what = fmt.Sprintf("garbage [%d,%d)", s, e)
	}
	if bytes.Equal(b, old) {
		b[rng.IntN(n)] ^= 0x80
		what += " + flip"
	}
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	return what
}

// fileBytes reads [off, off+n) of path.
func fileBytes(t *testing.T, path string, off int64, n int) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, n)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}

func dataPath(dir string) string { return filepath.Join(dir, "data") }
func uberPath(dir string) string { return filepath.Join(dir, "uberblocks") }
func isDamaged(err error) bool   { return errors.Is(err, pool.ErrDamaged) }
func isNoObject(err error) bool  { return errors.Is(err, dmu.ErrNoObject) }
