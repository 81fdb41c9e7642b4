package dmu

import (
	"bytes"
	"testing"

	"coffer/internal/format"
)

// ReadVec returns what Read returns, as pieces: synced blocks as slices of
// the cache's blocks (held until released), dirty blocks as copies that a
// later write does not change, holes and the space past the end as zeros.
func TestReadVec(t *testing.T) {
	p, os := encryptedObjset(t, t.TempDir())
	o, err := os.NewObject(format.ObjectPlain, 128<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	const bs = 128 << 10
	data := make([]byte, 4*bs)
	for i := range data {
		data[i] = byte(i*7 + i/bs)
	}
	clear(data[bs : 2*bs]) // a hole
	if err := o.Write(data[:bs], 0); err != nil {
		t.Fatal(err)
	}
	if err := o.Write(data[2*bs:], 2*bs); err != nil {
		t.Fatal(err)
	}
	root, err := os.Sync(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(2, mustDoc(t, root)); err != nil {
		t.Fatal(err)
	}
	// Block 3 dirty again in the open txg.
	dirty := bytes.Repeat([]byte{0xD1}, 100)
	if err := o.Write(dirty, 3*bs+10); err != nil {
		t.Fatal(err)
	}
	want := append(bytes.Clone(data), make([]byte, bs)...) // past the end: zeros
	copy(want[3*bs+10:], dirty)

	off, n := uint64(1000), len(want)-2000
	vecs, hs, err := o.ReadVec(off, n, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := bytes.Join(vecs, nil); !bytes.Equal(got, want[off:int(off)+n]) {
		t.Fatal("ReadVec returned other bytes than were written")
	}
	if len(hs) != 2 {
		t.Fatalf("%d cached blocks held, want 2 (blocks 0 and 2; 1 is a hole, 3 dirty)", len(hs))
	}
	if h := p.Cache().Stats().Held; h != 2 {
		t.Fatalf("cache says %d blocks held", h)
	}
	// A write after the read changes neither the dirty copy nor the
	// cached pieces.
	snapshot := bytes.Join(vecs, nil)
	if err := o.Write(bytes.Repeat([]byte{0xEE}, 4*bs), 0); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(bytes.Join(vecs, nil), snapshot) {
		t.Fatal("a write after ReadVec changed the pieces it returned")
	}
	for _, h := range hs {
		h.Release()
	}
	if h := p.Cache().Stats().Held; h != 0 {
		t.Fatalf("%d blocks held after release", h)
	}
	// The whole-block write above started write-behind: let it finish
	// before the pool closes.
	if _, err := os.Sync(3); err != nil {
		t.Fatal(err)
	}
}
