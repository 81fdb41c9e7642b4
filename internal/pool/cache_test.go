package pool

import (
	"bytes"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func ck(i uint64, keyGUID uint64) CacheKey {
	return CacheKey{Vdev: 0, Offset: i << 17, Birth: 1, KeyGUID: keyGUID, Obj: 5, Blkid: i}
}

func block(fill byte, n int) []byte { return bytes.Repeat([]byte{fill}, n) }

// The cache stays within its bytes, evicts the least recently used block
// and decodes a block once however often it is read.
func TestBlockCacheLRU(t *testing.T) {
	c := NewBlockCache(4 << 10)
	loads := 0
	get := func(i uint64) []byte {
		b, err := c.Fetch(ck(i, 0), func() ([]byte, error) { loads++; return block(byte(i), 1<<10), nil })
		if err != nil {
			t.Fatal(err)
		}
		defer b.Release()
		return bytes.Clone(b.B)
	}
	for i := uint64(0); i < 4; i++ {
		get(i)
	}
	get(0) // most recent now; 1 is the oldest
	get(4) // evicts 1
	if loads != 5 {
		t.Fatalf("%d loads, want 5", loads)
	}
	if s := c.Stats(); s.Bytes > 4<<10 || s.Entries != 4 {
		t.Fatalf("stats %+v", s)
	}
	if b := get(0); b[0] != 0 || loads != 5 {
		t.Fatal("block 0 was evicted instead of the least recently used")
	}
	get(1)
	if loads != 6 {
		t.Fatalf("block 1 was not evicted (%d loads)", loads)
	}
	// A key differing in any identity field is another block.
	k := ck(0, 0)
	k.Blkid = 99
	if b, err := c.Fetch(k, func() ([]byte, error) { loads++; return block(9, 1<<10), nil }); err != nil || loads != 7 {
		t.Fatalf("other identity served from cache (%d loads)", loads)
	} else {
		b.Release()
	}
}

// Unloading a key wipes its plaintext and drops it; other keys stay; a
// load that began before the unload is not kept. (Blocks of 4000 bytes:
// not a pooled size, so nothing reuses them while the test looks.)
func TestBlockCacheDropKey(t *testing.T) {
	c := NewBlockCache(1 << 20)
	ab, _ := c.Fetch(ck(1, 7), func() ([]byte, error) { return block(0x5A, 4000), nil })
	bb, _ := c.Fetch(ck(2, 8), func() ([]byte, error) { return block(0x5B, 4000), nil })
	a, b := ab.B, bb.B
	ab.Release()
	bb.Release()
	release := make(chan struct{})
	started := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		b, _ := c.Fetch(ck(3, 7), func() ([]byte, error) { close(started); <-release; return block(0x5C, 4000), nil })
		b.Release()
	}()
	<-started
	c.DropKey(7)
	close(release)
	wg.Wait()
	if !bytes.Equal(a, make([]byte, 4000)) {
		t.Fatal("plaintext of the unloaded key was not wiped")
	}
	if b[0] != 0x5B {
		t.Fatal("another key's block was wiped")
	}
	s := c.Stats()
	if s.Entries != 1 {
		t.Fatalf("%d entries after unload, want 1 (the other key's)", s.Entries)
	}
	loads := 0
	l, _ := c.Fetch(ck(3, 7), func() ([]byte, error) { loads++; return block(1, 10), nil })
	l.Release()
	if loads != 1 {
		t.Fatal("a load begun before the unload was kept")
	}
	c.Clear()
	if !bytes.Equal(b, make([]byte, 4000)) || c.Stats().Entries != 0 {
		t.Fatal("Clear left plaintext")
	}
}

// Concurrent readers of one block share one load; read-ahead loads are
// bounded and their result is served from the cache.
func TestBlockCacheShared(t *testing.T) {
	c := NewBlockCache(1 << 20)
	var loads atomic.Int32
	gate := make(chan struct{})
	load := func() ([]byte, error) { loads.Add(1); <-gate; return block(3, 100), nil }
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := c.Fetch(ck(1, 0), load)
			if err != nil || b.B[0] != 3 {
				t.Errorf("shared load: %v", err)
				return
			}
			b.Release()
		}()
	}
	for c.Stats().Misses == 0 {
		// wait for the first reader to start the load
	}
	close(gate)
	wg.Wait()
	if n := loads.Load(); n != 1 {
		t.Fatalf("%d loads of one block", n)
	}
	hold := make(chan struct{})
	var running atomic.Int32
	for i := uint64(10); i < 20; i++ {
		if !c.Prefetch(ck(i, 0), func() ([]byte, error) { running.Add(1); <-hold; return block(byte(i), 100), nil }) {
			t.Fatalf("read-ahead %d refused with %d queued", i, i-10)
		}
	}
	for running.Load() < maxPrefetch {
	}
	time.Sleep(10 * time.Millisecond)
	if n := running.Load(); n != maxPrefetch {
		t.Fatalf("%d read-ahead loads running, want %d", n, maxPrefetch)
	}
	close(hold)
	c.wg.Wait()
	n := 0
	b, _ := c.Fetch(ck(10, 0), func() ([]byte, error) { n++; return nil, nil })
	if n != 0 || b.B[0] != 10 {
		t.Fatal("read-ahead result not served from the cache")
	}
	b.Release()
}

// A block a reader holds keeps its bytes while the cache evicts it and
// churns through pooled buffers for other blocks; only its release lets
// the buffer go. Unloading the key of a held block wipes it at release.
func TestBlockCacheHeldBlock(t *testing.T) {
	const bs = 128 << 10
	c := NewBlockCache(4 * (bs + TagRoom))
	load := func(fill byte) func() ([]byte, error) {
		return func() ([]byte, error) {
			b := GetBuf(bs + TagRoom)[:bs]
			for i := range b {
				b[i] = fill
			}
			return b, nil
		}
	}
	held, err := c.Fetch(ck(0, 7), load(0xA0))
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i < 64; i++ {
		b, err := c.Fetch(ck(i, 7), load(byte(i)))
		if err != nil {
			t.Fatal(err)
		}
		b.Release()
	}
	if !bytes.Equal(held.B, block(0xA0, bs)) {
		t.Fatal("a held block was reused for another block after its eviction")
	}
	b, _ := c.Fetch(ck(1, 7), load(1)) // cached? no: evicted long ago; loaded again
	c.DropKey(7)
	if b.B[0] != 1 || b.B[bs-1] != 1 {
		t.Fatal("a block still held was wiped by DropKey")
	}
	kept := b.B
	b.Release()
	if !bytes.Equal(kept, make([]byte, bs)) {
		t.Fatal("the plaintext of an unloaded key was not wiped at its release")
	}
	if h := c.Stats().Held; h != 1 {
		t.Fatalf("%d blocks held, want 1", h)
	}
	held.Release()
	if h := c.Stats().Held; h != 0 {
		t.Fatalf("%d blocks held after every release", h)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a second release did not panic")
		}
	}()
	held.Release()
}

// Read-aheads beyond the slots wait in a queue and start as slots free, so
// the block store keeps maxPrefetch reads in flight without a reader
// asking again; a reader that needs a queued block loads it at once, and
// Clear drops what has not started.
func TestBlockCacheReadAheadQueue(t *testing.T) {
	c := NewBlockCache(64 << 20)
	hold := make(chan struct{})
	var running, loaded atomic.Int32
	load := func(i uint64) func() ([]byte, error) {
		return func() ([]byte, error) {
			running.Add(1)
			<-hold
			loaded.Add(1)
			return block(byte(i), 100), nil
		}
	}
	for i := uint64(0); i < maxPrefetch+maxQueued; i++ {
		if !c.Prefetch(ck(i, 0), load(i)) {
			t.Fatalf("read-ahead %d refused", i)
		}
	}
	if c.Prefetch(ck(1000, 0), load(1000)) {
		t.Fatal("a read-ahead past the queue's bound was accepted")
	}
	for running.Load() < maxPrefetch {
	}
	// The reader needs a queued block: it reads it itself, now.
	own := 0
	b, err := c.Fetch(ck(maxPrefetch+5, 0), func() ([]byte, error) { own++; return block(0xEE, 100), nil })
	if err != nil || own != 1 || b.B[0] != 0xEE {
		t.Fatalf("reader's fetch of a queued block: %v, %d loads", err, own)
	}
	b.Release()
	if n := running.Load(); n != maxPrefetch {
		t.Fatalf("%d loads running with every slot held, want %d", n, maxPrefetch)
	}
	close(hold)
	for loaded.Load() < maxPrefetch+maxQueued-1 {
	}
	c.wg.Wait()
	for i := uint64(0); i < maxPrefetch+maxQueued; i++ {
		b, err := c.Fetch(ck(i, 0), func() ([]byte, error) { t.Errorf("block %d loaded again", i); return block(0, 100), nil })
		if err != nil {
			t.Fatal(err)
		}
		b.Release()
	}

	// Clear drops what is queued: nothing of it is loaded, and a later
	// reader of such a block reads it itself.
	hold2 := make(chan struct{})
	var late atomic.Int32
	for i := uint64(2000); i < 2000+maxPrefetch+10; i++ {
		c.Prefetch(ck(i, 0), func() ([]byte, error) {
			if i >= 2000+maxPrefetch {
				late.Add(1)
			}
			<-hold2
			return block(1, 100), nil
		})
	}
	go func() { time.Sleep(20 * time.Millisecond); close(hold2) }()
	c.Clear()
	if n := late.Load(); n != 0 {
		t.Fatalf("%d queued read-aheads ran after Clear", n)
	}
	c.mu.Lock()
	left := len(c.inflight) + len(c.queue)
	c.mu.Unlock()
	if left != 0 {
		t.Fatalf("%d flights or queue entries left after Clear", left)
	}
	own = 0
	b, err = c.Fetch(ck(2000+maxPrefetch+1, 0), func() ([]byte, error) { own++; return block(2, 100), nil })
	if err != nil || own != 1 {
		t.Fatalf("fetch after Clear: %v, %d loads", err, own)
	}
	b.Release()
}

// A run of blocks read ahead together completes each block's flight as
// its bytes arrive; a block already cached is read but not replaced; a
// block the load never emits fails its flight, and its reader reads it
// itself; a reader that needs a block of a queued run runs the whole run
// at once; Clear drops queued runs.
func TestBlockCachePrefetchRun(t *testing.T) {
	c := NewBlockCache(64 << 20)
	pre, err := c.Fetch(ck(1, 0), func() ([]byte, error) { return block(0xCC, 100), nil })
	if err != nil {
		t.Fatal(err)
	}
	pre.Release()
	ks := []CacheKey{ck(0, 0), ck(1, 0), ck(2, 0), ck(3, 0)}
	gate := make(chan struct{})
	if !c.PrefetchRun(ks, func(emit func(int, []byte, error)) {
		<-gate
		for i := range 3 { // block 3 is never emitted
			emit(i, block(byte(i), 100), nil)
		}
		emit(0, block(0xEE, 100), nil) // a second emit is dropped
	}) {
		t.Fatal("run refused")
	}
	for i := range ks {
		if !c.Has(ks[i]) {
			t.Fatalf("block %d of a run is neither cached nor on its way", i)
		}
	}
	close(gate)
	c.wg.Wait()
	for i, want := range []byte{0, 0xCC, 2} {
		b, err := c.Fetch(ks[i], func() ([]byte, error) { t.Errorf("block %d loaded again", i); return nil, nil })
		if err != nil || b.B[0] != want {
			t.Fatalf("block %d: %v, %x", i, err, b.B[0])
		}
		b.Release()
	}
	own := 0
	b, err := c.Fetch(ks[3], func() ([]byte, error) { own++; return block(3, 100), nil })
	if err != nil || own != 1 || b.B[0] != 3 {
		t.Fatalf("block the run never emitted: %v, %d loads", err, own)
	}
	b.Release()

	// Every slot busy: a run waits in the queue; the reader of its second
	// block runs it (once) and gets the run's bytes.
	hold := make(chan struct{})
	var running atomic.Int32
	for i := uint64(100); i < 100+maxPrefetch; i++ {
		c.Prefetch(ck(i, 0), func() ([]byte, error) { running.Add(1); <-hold; return block(1, 100), nil })
	}
	for running.Load() < maxPrefetch {
	}
	runs := 0
	qs := []CacheKey{ck(200, 0), ck(201, 0), ck(202, 0)}
	if !c.PrefetchRun(qs, func(emit func(int, []byte, error)) {
		runs++
		for i := range qs {
			emit(i, block(byte(0x40+i), 100), nil)
		}
	}) {
		t.Fatal("queued run refused")
	}
	b, err = c.Fetch(qs[1], func() ([]byte, error) { t.Error("reader loaded a block of a queued run alone"); return nil, nil })
	if err != nil || b.B[0] != 0x41 || runs != 1 {
		t.Fatalf("reader of a queued run's block: %v, %d runs", err, runs)
	}
	b.Release()
	close(hold)
	c.wg.Wait()
	if runs != 1 {
		t.Fatalf("run loaded %d times", runs)
	}

	// Clear drops a queued run: its load never runs.
	hold = make(chan struct{})
	running.Store(0)
	for i := uint64(300); i < 300+maxPrefetch; i++ {
		c.Prefetch(ck(i, 0), func() ([]byte, error) { running.Add(1); <-hold; return block(1, 100), nil })
	}
	for running.Load() < maxPrefetch {
	}
	dropped := []CacheKey{ck(400, 0), ck(401, 0)}
	c.PrefetchRun(dropped, func(func(int, []byte, error)) { t.Error("a run dropped by Clear was loaded") })
	go func() { time.Sleep(20 * time.Millisecond); close(hold) }()
	c.Clear()
	for _, k := range dropped {
		if c.Has(k) {
			t.Fatal("a dropped run's block is still on its way")
		}
	}
}
