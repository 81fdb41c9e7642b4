package dmu

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"coffer/internal/compress"
	"coffer/internal/crypto"
	"coffer/internal/format"
	"coffer/internal/pool"
)

// waitJobs waits until every write-behind job of os has finished.
func waitJobs(os *Objset) {
	os.mu.Lock()
	defer os.mu.Unlock()
	for _, o := range os.dirty {
		for _, j := range o.wb {
			<-j.done
		}
	}
	for _, j := range os.wbDead {
		<-j.done
	}
}

// encObjset makes a pool of one vdev in dir and an encrypted, compressed
// file system object set in it.
func encObjset(t *testing.T) (dir string, p *pool.Pool, key *crypto.DatasetKey, os *Objset) {
	t.Helper()
	dir = t.TempDir()
	p, err := pool.Create("tank", []pool.VdevSpec{{Paths: []string{dir + "/v0"}}}, false, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	if key, err = crypto.NewDatasetKey(crypto.AES256GCM); err != nil {
		t.Fatal(err)
	}
	return dir, p, key, Create(p, Options{Kind: format.ObjsetFilesystem, Compress: compress.LZ4, Key: key})
}

// Full blocks are written before the commit; the commit adopts them; blocks
// rewritten, truncated away or freed while written ahead are given back;
// the result reads back after a reopen and the allocator holds exactly the
// reachable blocks.
func TestWriteBehind(t *testing.T) {
	dir, p, key, os := encObjset(t)
	txg := p.Txg() + 1
	const bs = 128 << 10
	rnd := rand.New(rand.NewPCG(3, 4))
	data := make([]byte, 16*bs)
	for i := range data {
		data[i] = byte(rnd.Uint32())
	}
	a, err := os.NewObject(format.ObjectPlain, bs, txg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.NewObject(format.ObjectPlain, bs, txg)
	if err != nil {
		t.Fatal(err)
	}
	c, err := os.NewObject(format.ObjectPlain, bs, txg)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range []*Object{a, b, c} {
		if err := o.Write(data, 0); err != nil {
			t.Fatal(err)
		}
	}
	waitJobs(os)
	if u := p.UnsettledBytes(); u < 3*15*bs {
		t.Fatalf("written ahead: %d bytes, want at least %d", u, 3*15*bs)
	}
	if got, want := p.DirtyBytes(), int64(3*16*bs); got != want {
		t.Fatalf("pool dirty bytes %d, want %d", got, want)
	}
	// Rewrite part of a block of a that is written ahead already: the
	// block written ahead must not be what the commit keeps.
	want := append([]byte(nil), data...)
	patch := bytes.Repeat([]byte{0xAB}, 1000)
	if err := a.Write(patch, 3*bs+77); err != nil {
		t.Fatal(err)
	}
	copy(want[3*bs+77:], patch)
	// Truncate b into its fifth block; free c.
	if err := b.Truncate(4*bs + 10); err != nil {
		t.Fatal(err)
	}
	if err := os.FreeObject(c.ID()); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if err := a.Read(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read of the open txg differs (%v)", err)
	}
	root, err := os.Sync(txg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(txg, mustDoc(t, root)); err != nil {
		t.Fatal(err)
	}
	if u := p.UnsettledBytes(); u != 0 {
		t.Fatalf("%d bytes written ahead are neither adopted nor given back", u)
	}
	if d := p.DirtyBytes(); d != 0 {
		t.Fatalf("pool dirty bytes after sync: %d", d)
	}
	// The allocator holds the reachable blocks and the deferred frees.
	var reach uint64
	if err := Walk(p, root, func(bp *format.BlockPointer) (bool, error) { reach += pool.ASize(bp); return true, nil }); err != nil {
		t.Fatal(err)
	}
	mos := p.MOSPointer()
	if a, d := p.SettledBytes(), p.DeferredBytes(); a != reach+pool.ASize(&mos)+d {
		t.Fatalf("allocator %d, reachable %d + MOS %d + deferred %d", a, reach, pool.ASize(&mos), d)
	}
	aid, bid := a.ID(), b.ID()
	p, root = reopen(t, p, dir)
	defer p.Close()
	os2, err := Open(p, root, Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := os2.Object(aid)
	if err != nil {
		t.Fatal(err)
	}
	if err := a2.Read(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("object a differs after reopen (%v)", err)
	}
	b2, err := os2.Object(bid)
	if err != nil {
		t.Fatal(err)
	}
	gb := make([]byte, 6*bs)
	if err := b2.Read(gb, 0); err != nil {
		t.Fatal(err)
	}
	wb := make([]byte, 6*bs)
	copy(wb, data[:4*bs+10])
	if !bytes.Equal(gb, wb) {
		t.Fatal("object b differs after reopen")
	}
}

// A guess of the wrong txg costs a re-encode, never a wrong block: the
// block is bound to the txg it was written for.
func TestWriteBehindOtherTxg(t *testing.T) {
	dir, p, key, os := encObjset(t)
	const bs = 128 << 10
	o, err := os.NewObject(format.ObjectPlain, bs, 2)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("write-behind "), 4*bs/13+1)[:4*bs]
	if err := o.Write(data, 0); err != nil {
		t.Fatal(err)
	}
	waitJobs(os)
	txg := p.Txg() + 5 // not the txg the blocks were written for
	root, err := os.Sync(txg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(txg, mustDoc(t, root)); err != nil {
		t.Fatal(err)
	}
	if u := p.UnsettledBytes(); u != 0 {
		t.Fatalf("unsettled %d", u)
	}
	id := o.ID()
	p, root = reopen(t, p, dir)
	defer p.Close()
	os2, err := Open(p, root, Options{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	o2, err := os2.Object(id)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(data))
	if err := o2.Read(got, 0); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back differs (%v)", err)
	}
}

// Discard gives back what was written ahead.
func TestWriteBehindDiscard(t *testing.T) {
	dir := t.TempDir()
	p, err := pool.Create("tank", []pool.VdevSpec{{Paths: []string{dir + "/v0"}}}, false, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	os := Create(p, Options{Kind: format.ObjsetFilesystem, Compress: compress.Off})
	o, err := os.NewObject(format.ObjectPlain, 128<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	before := p.AllocatedBytes()
	if err := o.Write(bytes.Repeat([]byte{1}, 1<<20), 0); err != nil {
		t.Fatal(err)
	}
	waitJobs(os)
	if p.AllocatedBytes() == before {
		t.Fatal("nothing was written ahead")
	}
	if err := os.Discard(); err != nil {
		t.Fatal(err)
	}
	if a, u, d := p.AllocatedBytes(), p.UnsettledBytes(), p.DirtyBytes(); a != before || u != 0 || d != 0 {
		t.Fatalf("after discard: allocated %d (was %d), unsettled %d, dirty %d", a, before, u, d)
	}
}

// A file written in order lies in order on disk, though its blocks are
// encoded in parallel: every block follows the one before it, so that a
// cold read or a send of the file reads the disk sequentially.
func TestWriteBehindInOrder(t *testing.T) {
	_, p, _, os := encObjset(t)
	defer p.Close()
	txg := p.Txg() + 1
	const bs = 128 << 10
	o, err := os.NewObject(format.ObjectPlain, bs, txg)
	if err != nil {
		t.Fatal(err)
	}
	// Half the blocks compress, half do not: their encode times differ,
	// so parallel jobs finish out of order.
	rnd := rand.New(rand.NewPCG(5, 6))
	const n = 256
	chunk := make([]byte, bs)
	for i := range n {
		if i%2 == 0 {
			for k := range chunk {
				chunk[k] = byte(rnd.Uint32())
			}
		} else {
			copy(chunk, bytes.Repeat([]byte{byte(i)}, bs))
			chunk[rnd.IntN(bs)] ^= 1
		}
		if err := o.Write(chunk, uint64(i)*bs); err != nil {
			t.Fatal(err)
		}
	}
	waitJobs(os)
	root, err := os.Sync(txg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(txg, mustDoc(t, root)); err != nil {
		t.Fatal(err)
	}
	var prev format.BlockPointer
	back := 0
	for i := range uint64(n) {
		bp, err := o.bpAt(0, i)
		if err != nil {
			t.Fatal(err)
		}
		if bp.IsHole() {
			t.Fatalf("block %d is a hole", i)
		}
		if i > 0 && bp.Offset < prev.Offset {
			back++
			t.Errorf("block %d at %#x lies before block %d at %#x", i, bp.Offset, i-1, prev.Offset)
		}
		prev = bp
	}
	if back > 0 {
		t.Fatalf("%d of %d blocks lie before the block written before them", back, n-1)
	}
}

// The write-behind semaphore lets at least NumCPU jobs of any block size
// run, and bounds the bytes in flight to 4·NumCPU blocks of 128 KiB or
// NumCPU blocks, whichever is more.
func TestWriteBehindSlots(t *testing.T) {
	ncpu := wbSlots() / wbPerCPU
	for _, bs := range []int{512, 4 << 10, 100 << 10, 128 << 10, 200 << 10, 256 << 10, 512 << 10, 1 << 20, 16 << 20} {
		jobs := wbSlots() / wbCost(bs)
		if jobs < ncpu {
			t.Errorf("blocks of %d: %d jobs at once, want at least %d", bs, jobs, ncpu)
		}
		if limit := max(wbSlots()*wbUnit, ncpu*bs); jobs*bs > limit {
			t.Errorf("blocks of %d: %d jobs hold %d bytes, want at most %d", bs, jobs, jobs*bs, limit)
		}
	}
	if jobs := wbSlots() / wbCost(128<<10); jobs != wbPerCPU*ncpu {
		t.Errorf("blocks of 128 KiB: %d jobs at once, want %d", jobs, wbPerCPU*ncpu)
	}
}

// Jobs that take several slots (1 MiB records) run, give their slots
// back, and their blocks read back after the commit.
func TestWriteBehindLargeRecords(t *testing.T) {
	_, p, _, os := encObjset(t)
	defer p.Close()
	txg := p.Txg() + 1
	const bs = 1 << 20
	os.RecordSize = bs
	o, err := os.NewObject(format.ObjectPlain, bs, txg)
	if err != nil {
		t.Fatal(err)
	}
	rnd := rand.New(rand.NewPCG(7, 8))
	want := make([]byte, 3*wbSlots()*bs/wbCost(bs)) // three rounds of the semaphore
	for i := range want {
		want[i] = byte(rnd.Uint32())
	}
	for off := 0; off < len(want); off += bs {
		if err := o.Write(want[off:off+bs], uint64(off)); err != nil {
			t.Fatal(err)
		}
	}
	waitJobs(os)
	if n := len(os.wbSem); n != 0 {
		t.Fatalf("%d slots still taken after every job finished", n)
	}
	root, err := os.Sync(txg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(txg, mustDoc(t, root)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if err := o.Read(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read back: %v", err)
	}
}
