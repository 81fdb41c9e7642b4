package vdev

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"golang.org/x/sys/unix"
)

// cachedPages counts the pages of [off, off+n) of l's block store that are
// in the page cache.
func cachedPages(t *testing.T, l *Leaf, off, n int64) uint64 {
	t.Helper()
	var cs unix.Cachestat_t
	if err := unix.Cachestat(uint(l.data.Fd()), &unix.CachestatRange{Off: uint64(off), Len: uint64(n)}, &cs, 0); err != nil {
		t.Skipf("cachestat: %v", err)
	}
	return cs.Cache
}

func evictStore(t *testing.T, l *Leaf) {
	t.Helper()
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(int(l.data.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}

func TestReadAtColdReadsPastThePageCache(t *testing.T) {
	l := createLeaf(t)
	rng := rand.New(rand.NewPCG(1, 2))
	blk := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		return b
	}
	big := blk(256 << 10)  // aligned length
	odd := blk(100_000)    // not a multiple of the sector: rounded up
	small := blk(16 << 10) // below directMin: buffered
	const oddOff, smallOff = 256 << 10, 384 << 10
	for _, w := range []struct {
		b   []byte
		off int64
	}{{big, 0}, {odd, oddOff}, {small, smallOff}} {
		if err := l.WriteAt(w.b, w.off); err != nil {
			t.Fatal(err)
		}
	}
	evictStore(t, l)
	if n := cachedPages(t, l, 0, 512<<10); n != 0 {
		t.Fatalf("%d pages still cached after eviction", n)
	}

	// A cold block is read direct: right bytes, and the page cache stays
	// empty. The buffer of the odd block has no room for the rounded-up
	// length, so that read goes through a bounce buffer.
	got := make([]byte, len(big))
	if err := l.ReadAtCold(got, 0); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("cold read of the aligned block: err %v, equal %v", err, bytes.Equal(got, big))
	}
	gotOdd := make([]byte, len(odd))
	if err := l.ReadAtCold(gotOdd, oddOff); err != nil || !bytes.Equal(gotOdd, odd) {
		t.Fatalf("cold read of the odd block: err %v, equal %v", err, bytes.Equal(gotOdd, odd))
	}
	if l.noDirect.Load() {
		t.Skip("the host file system refuses O_DIRECT here")
	}
	if n := cachedPages(t, l, 0, 384<<10); n != 0 {
		t.Fatalf("cold reads left %d pages in the page cache: they were not direct", n)
	}

	// A small block is read buffered, as ReadAt does.
	gotSmall := make([]byte, len(small))
	if err := l.ReadAtCold(gotSmall, smallOff); err != nil || !bytes.Equal(gotSmall, small) {
		t.Fatalf("read of the small block: err %v", err)
	}
	if n := cachedPages(t, l, smallOff, int64(len(small))); n == 0 {
		t.Fatal("a small block did not go through the page cache")
	}

	// A block overwritten and not yet synced is in the page cache: the
	// cold read returns the new bytes.
	newer := blk(len(big))
	if err := l.WriteAt(newer, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.ReadAtCold(got, 0); err != nil || !bytes.Equal(got, newer) {
		t.Fatalf("read after an unsynced overwrite: err %v, new bytes %v, old bytes %v", err, bytes.Equal(got, newer), bytes.Equal(got, big))
	}

	// Direct reads of a partly cached block: the cached half must not
	// hide a stale remainder.
	evictStore(t, l)
	half := make([]byte, 64<<10)
	if err := l.ReadAt(half, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.ReadAtCold(got, 0); err != nil || !bytes.Equal(got, newer) {
		t.Fatalf("read of a partly cached block: err %v", err)
	}
}
