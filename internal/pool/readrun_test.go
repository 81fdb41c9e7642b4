package pool_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"coffer/internal/format"
	"coffer/internal/pool"
)

// A run of blocks read ahead with one read decodes every block as a read
// of each alone would. A block whose copy on the mirror's first child is
// damaged is read from the other child and repaired there; a block damaged
// on both is emitted as damaged, the others of the run still arrive, and
// nothing is counted as damage (the reader reads a failed block again).
func TestReadAheadRun(t *testing.T) {
	dir := t.TempDir()
	d0, d1 := filepath.Join(dir, "d0"), filepath.Join(dir, "d1")
	p, err := pool.Create("run", []pool.VdevSpec{{Paths: []string{d0, d1}, Mirror: true}}, false, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	k := katKey(t)
	const n = 8
	var (
		bps  []format.BlockPointer
		ads  [][]byte
		data [][]byte
	)
	for i := 0; i < n; i++ {
		d := make([]byte, 128<<10)
		rand.Read(d)
		ad := []byte{byte(i), 'a', 'd'}
		bp, err := p.WriteBlock(2, pool.BlockSpec{Type: format.TypeData, Fill: 1, Key: k, AD: ad}, d)
		if err != nil {
			t.Fatal(err)
		}
		bps, ads, data = append(bps, bp), append(ads, ad), append(data, d)
	}
	if err := p.Commit(2, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if !pool.RunSpan(bps) {
		t.Fatalf("blocks written one after another are not a run: %v", offsets(bps))
	}
	// Order does not matter; a hole in the span, a block twice or another
	// vdev does.
	desc := slices.Clone(bps)
	slices.Reverse(desc)
	if !pool.RunSpan(desc) {
		t.Fatal("blocks stored side by side, wanted in descending order, are not a run")
	}
	other := slices.Clone(bps[:2])
	other[1].Vdev = 1
	for name, bad := range map[string][]format.BlockPointer{
		"a hole of 6 blocks": {bps[0], bps[7]},
		"a block twice":      {bps[0], bps[1], bps[1]},
		"two vdevs":          other,
	} {
		if pool.RunSpan(bad) {
			t.Fatalf("%s taken as a run", name)
		}
	}
	read := func(bps []format.BlockPointer, ads [][]byte) ([][]byte, []error) {
		outs, errs := make([][]byte, len(bps)), make([]error, len(bps))
		seen := make([]int, len(bps))
		p.ReadAheadRun(bps, k, ads, func(i int, b []byte, err error) {
			seen[i]++
			outs[i], errs[i] = b, err
		})
		for i, c := range seen {
			if c != 1 {
				t.Fatalf("block %d emitted %d times", i, c)
			}
		}
		return outs, errs
	}
	outs, errs := read(bps, ads)
	for i := range bps {
		if errs[i] != nil || !bytes.Equal(outs[i], data[i]) {
			t.Fatalf("block %d of an intact run: %v", i, errs[i])
		}
	}

	// Block 3 damaged on the first child, block 5 on both.
	damage := func(leaf string, bp format.BlockPointer) {
		f, err := os.OpenFile(filepath.Join(leaf, "data"), os.O_RDWR, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if _, err := f.WriteAt(bytes.Repeat([]byte{0x5A}, 512), int64(bp.Offset)+4096); err != nil {
			t.Fatal(err)
		}
	}
	damage(d0, bps[3])
	damage(d0, bps[5])
	damage(d1, bps[5])
	outs, errs = read(bps, ads)
	for i := range bps {
		switch {
		case i == 5:
			if !errors.Is(errs[i], pool.ErrDamaged) {
				t.Fatalf("block damaged on both children: %v", errs[i])
			}
		case errs[i] != nil || !bytes.Equal(outs[i], data[i]):
			t.Fatalf("block %d: %v", i, errs[i])
		}
	}
	if d := p.DamagedBlocks(); d != 0 {
		t.Fatalf("a read-ahead counted %d damaged blocks", d)
	}
	got := make([]byte, bps[3].PSize)
	f, err := os.Open(filepath.Join(d0, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.ReadAt(got, int64(bps[3].Offset)); err != nil {
		t.Fatal(err)
	}
	if !pool.ChecksumOK(&bps[3], got) {
		t.Fatal("the damaged copy was not repaired from the mirror")
	}

	// A run given the wrong identity for one block fails that block only;
	// a run wanted in descending order reads each block where it is, and
	// blocks that are no run are read one by one.
	bad := slices.Clone(ads)
	bad[2] = []byte("other identity")
	_, errs = read(bps[:4], bad[:4])
	for i, err := range errs {
		if (i == 2) != errors.Is(err, pool.ErrDamaged) {
			t.Fatalf("block %d with identity %q: %v", i, bad[i], err)
		}
	}
	rev, revAD := slices.Clone(bps[:3]), slices.Clone(ads[:3])
	slices.Reverse(rev)
	slices.Reverse(revAD)
	runs0, _ := p.ReadAheadRuns()
	outs, errs = read(rev, revAD)
	for i := range rev {
		if errs[i] != nil || !bytes.Equal(outs[i], data[2-i]) {
			t.Fatalf("descending block %d: %v", i, errs[i])
		}
	}
	if runs, _ := p.ReadAheadRuns(); runs != runs0+1 {
		t.Fatalf("a descending run took %d reads of the span, want 1", runs-runs0)
	}
	apart := []format.BlockPointer{bps[0], bps[7]}
	outs, errs = read(apart, [][]byte{ads[0], ads[7]})
	if errs[0] != nil || errs[1] != nil || !bytes.Equal(outs[0], data[0]) || !bytes.Equal(outs[1], data[7]) {
		t.Fatalf("blocks apart: %v, %v", errs[0], errs[1])
	}
	if runs, _ := p.ReadAheadRuns(); runs != runs0+1 {
		t.Fatal("blocks far apart were read as a run")
	}
}

func offsets(bps []format.BlockPointer) []uint64 {
	var o []uint64
	for _, bp := range bps {
		o = append(o, bp.Offset)
	}
	return o
}
