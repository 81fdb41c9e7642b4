package pool

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"coffer/internal/compress"
	"coffer/internal/format"
)

// Freed blocks leave the host disk and give their space back, whether they
// lie back to back (punched as one run) or not; a block freed twice is
// released once, and a block between freed runs keeps its bytes.
func TestReleaseRuns(t *testing.T) {
	dir := t.TempDir()
	p, err := Create("tank", []VdevSpec{{Paths: []string{filepath.Join(dir, "v0")}}}, false, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	spec := BlockSpec{Type: format.TypeData, Compress: compress.Off, Fill: 1}
	txg := p.Txg() + 1
	const n = 64
	bps := make([]format.BlockPointer, n)
	for i := range bps {
		data := bytes.Repeat([]byte{0xA0 + byte(i%16)}, 8<<10)
		data[0] = byte(i)
		if bps[i], err = p.WriteBlock(txg, spec, data); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Commit(txg, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	before := p.AllocatedBytes()
	// Free all but block 20, block 5 twice, in no particular order.
	var size uint64
	for _, i := range []int{40, 3, 5, 63, 0} {
		p.Free(&bps[i])
	}
	p.Free(&bps[5])
	for i := range bps {
		switch i {
		case 40, 3, 5, 63, 0, 20:
		default:
			p.Free(&bps[i])
		}
		if i != 20 {
			size += ASize(&bps[i])
		}
	}
	for k := uint64(1); k <= DeferTxgs+1; k++ {
		if err := p.Commit(txg+k, []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	// What stays allocated: block 20, the current MOS and the frees still
	// deferred (older MOS blocks). Every other data block's space is back,
	// exactly once.
	mos := p.MOSPointer()
	if a, want := p.AllocatedBytes(), ASize(&bps[20])+ASize(&mos)+p.DeferredBytes(); a != want {
		t.Fatalf("allocated %d bytes, want %d (block 20 + MOS + deferred); %d of %d freed data bytes released", a, want, before-a, size)
	}
	got, err := p.ReadBlock(&bps[20], nil, nil)
	if err != nil || got[0] != 20 {
		t.Fatalf("block 20 after the frees around it: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "v0", "data"))
	if err != nil {
		t.Fatal(err)
	}
	for i, bp := range bps {
		b := raw[bp.Offset : bp.Offset+uint64(bp.PSize)]
		zero := bytes.Count(b, []byte{0}) == len(b)
		if i == 20 && zero {
			t.Fatal("block 20 was punched")
		}
		if i != 20 && !zero {
			t.Fatalf("freed block %d still on the host disk", i)
		}
	}
}
