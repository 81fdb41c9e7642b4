package pool

import (
	"container/list"
	"errors"
	"sync"

	"coffer/internal/format"
)

// DefaultCacheBytes bounds the decoded-block cache of a pool.
const DefaultCacheBytes = 16 << 20

// maxPrefetch bounds the read-ahead loads in flight per pool.
const maxPrefetch = 8

// maxQueued bounds the read-ahead loads waiting for one of the
// maxPrefetch slots, per pool. A slot that frees starts the next one at
// once, so the block store keeps maxPrefetch reads in flight while a
// sequential reader waits on a block with its object set locked and
// cannot ask for more (docs/design/architecture.md, "Read-ahead queue").
const maxQueued = 64

// errReadAheadDropped ends a queued read-ahead that a key unload or the
// pool's close dropped before it started; a reader waiting on it reads the
// block itself.
var errReadAheadDropped = errors.New("read-ahead dropped")

// CacheKey identifies one decoded level-0 block: where it is stored, what
// was stored there (birth, checksum, MAC) and what it must decode as (the
// key and the block's identity bound in its associated data). Two reads
// with the same key would decode the same bytes, so a hit is as good as a
// read: the cache never serves a block to a reader that names another
// object, block or key than the one that decoded it.
type CacheKey struct {
	Vdev     uint32
	Offset   uint64
	Birth    uint64
	Checksum [16]byte
	MAC      [16]byte
	KeyGUID  uint64 // 0: the block is not encrypted
	Obj      uint64
	Blkid    uint64
}

// KeyFor is the cache key of the level-0 block bp of (obj, blkid) in an
// object set protected by keyGUID (0 if none).
func KeyFor(bp *format.BlockPointer, keyGUID, obj, blkid uint64) CacheKey {
	return CacheKey{Vdev: bp.Vdev, Offset: bp.Offset, Birth: bp.Birth, Checksum: bp.Checksum,
		MAC: bp.MAC, KeyGUID: keyGUID, Obj: obj, Blkid: blkid}
}

// Block is a decoded block handed out by the cache. Its bytes stay valid
// until Release; the buffer is then reused for another block once the cache
// has let go of it too, so a reader copies what it needs before releasing
// and never keeps B. Reusing the buffers, rather than allocating 128 KiB per
// block read, spares the runtime returning and re-faulting pages (see
// docs/benchmarks.md, P2).
type Block struct {
	B []byte

	c      *BlockCache
	k      CacheKey
	refs   int  // readers holding it; mu
	cached bool // in the cache's map; mu
	wipe   bool // zero the bytes when freed (key unloaded, pool closed); mu
}

// Release gives the block back. Release of a nil Block does nothing.
func (b *Block) Release() {
	if b == nil {
		return
	}
	c := b.c
	c.mu.Lock()
	b.refs--
	if b.refs < 0 {
		c.mu.Unlock()
		panic("pool: cached block released twice")
	}
	if b.refs == 0 {
		c.held--
	}
	c.freeIfUnused(b)
	c.mu.Unlock()
}

// freeIfUnused puts a block that no reader holds and the cache no longer
// keeps back into the buffer pool; mu held.
func (c *BlockCache) freeIfUnused(b *Block) {
	if b.refs > 0 || b.cached || b.B == nil {
		return
	}
	if b.wipe {
		clear(b.B[:cap(b.B)])
	}
	PutBuf(b.B)
	b.B = nil
}

type flight struct {
	ahead bool   // a read-ahead load (Prefetch, PrefetchRun)
	job   *job   // the read-ahead that completes this flight; nil for a reader's load
	gen   uint64 // the cache's gen when the flight began
	done  chan struct{}
	blk   *Block
	err   error
}

// job is one read-ahead: the load of one block (Prefetch) or of a run of
// blocks adjacent on disk (PrefetchRun). It waits in the queue until a
// slot is free; started is set when it runs, is taken over by a reader or
// is dropped, so it runs at most once.
type job struct {
	fn      func()    // loads and completes the flights
	flights []*flight // nil where a block of a run was on its way already
	started bool      // mu
}

// BlockCache keeps recently decoded data blocks (plaintext), bounded in
// bytes, least recently used out first. Entries of a key are wiped when the
// key is unloaded (DropKey) and the whole cache when the pool closes;
// entries of freed blocks are dropped when their space is released. A block
// is handed out with a reference (Fetch) that the reader releases; the
// buffers of the loads go back to the buffer pool (GetBuf) once neither
// the cache nor a reader holds them, so a load must return a buffer that
// nothing else refers to.
type BlockCache struct {
	mu       sync.Mutex
	max      int64
	size     int64
	m        map[CacheKey]*list.Element
	lru      *list.List // front: most recent; values are *Block
	inflight map[CacheKey]*flight
	gen      uint64 // bumped by DropKey and Clear: loads begun before are not kept
	prefetch int    // read-ahead loads running
	queue    []*job // read-aheads waiting for a slot, oldest first
	held     int64  // blocks with a reader holding them
	wg       sync.WaitGroup

	hits, misses uint64
}

// NewBlockCache returns a cache of at most max bytes (0: caching off,
// concurrent loads of the same block are still shared).
func NewBlockCache(max int64) *BlockCache {
	return &BlockCache{max: max, m: map[CacheKey]*list.Element{}, lru: list.New(), inflight: map[CacheKey]*flight{}}
}

// Fetch returns the decoded block k, calling load when it is neither
// cached nor being loaded by someone else. The caller releases the block.
func (c *BlockCache) Fetch(k CacheKey, load func() ([]byte, error)) (*Block, error) {
	c.mu.Lock()
	if e, ok := c.m[k]; ok {
		c.lru.MoveToFront(e)
		c.hits++
		b := e.Value.(*Block)
		c.hold(b)
		c.mu.Unlock()
		return b, nil
	}
	if f, ok := c.inflight[k]; ok {
		c.hold(f.blk)
		if j := f.job; j != nil && !j.started {
			// Queued behind other read-aheads: the reader loads it now.
			j.started = true
			if len(j.flights) == 1 {
				// As its own read (a failure counts).
				f.ahead = false
				c.mu.Unlock()
				return c.loadHeld(k, f, load)
			}
			// A run: the reader runs the whole read-ahead, then takes
			// its block as below.
			c.mu.Unlock()
			j.fn()
		} else {
			c.mu.Unlock()
		}
		<-f.done
		if f.err != nil {
			f.blk.Release()
			if f.ahead {
				// A failed read-ahead is not counted as damage: read (and
				// count) it as the reader.
				return c.loose(load)
			}
			return nil, f.err
		}
		return f.blk, nil
	}
	c.misses++
	f := c.begin(k)
	c.hold(f.blk)
	c.mu.Unlock()
	return c.loadHeld(k, f, load)
}

// loadHeld runs the load of flight f, whose block the caller holds, and
// hands the block out (or gives it back on failure).
func (c *BlockCache) loadHeld(k CacheKey, f *flight, load func() ([]byte, error)) (*Block, error) {
	c.load(k, f, load)
	if f.err != nil {
		f.blk.Release()
		return nil, f.err
	}
	return f.blk, nil
}

// loose loads a block outside the cache, handed out with one reference.
func (c *BlockCache) loose(load func() ([]byte, error)) (*Block, error) {
	b, err := load()
	if err != nil {
		return nil, err
	}
	blk := &Block{B: b, c: c}
	c.mu.Lock()
	c.hold(blk)
	c.mu.Unlock()
	return blk, nil
}

// hold takes a reference for a reader; mu held.
func (c *BlockCache) hold(b *Block) {
	if b.refs == 0 {
		c.held++
	}
	b.refs++
}

// Prefetch starts loading k in the background unless it is cached, being
// loaded, or too many loads run and wait already; it reports whether k is
// cached or on its way.
func (c *BlockCache) Prefetch(k CacheKey, load func() ([]byte, error)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.present(k) {
		return true
	}
	if c.max == 0 || c.full() {
		return false
	}
	f := c.begin(k)
	f.ahead = true
	j := &job{flights: []*flight{f}}
	j.fn = func() { c.load(k, f, load) }
	f.job = j
	c.enqueue(j)
	return true
}

// Has reports whether k is cached or on its way.
func (c *BlockCache) Has(k CacheKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.present(k)
}

// present reports whether k is cached or on its way; mu held.
func (c *BlockCache) present(k CacheKey) bool {
	_, cached := c.m[k]
	_, loading := c.inflight[k]
	return cached || loading
}

// PrefetchRun starts loading the blocks ks, stored next to each other, in
// the background with one load: load reads them together and calls emit
// once for each block, in any order, with its decoded bytes (a buffer from
// GetBuf that the cache takes) or its error. A block of ks that is cached
// or on its way already is still emitted by load, and dropped. PrefetchRun
// reports false, starting nothing, when too many loads run and wait
// already (or caching is off).
func (c *BlockCache) PrefetchRun(ks []CacheKey, load func(emit func(i int, b []byte, err error))) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max == 0 || c.full() {
		return false
	}
	j := &job{flights: make([]*flight, len(ks))}
	for i, k := range ks {
		if !c.present(k) {
			f := c.begin(k)
			f.ahead, f.job = true, j
			j.flights[i] = f
		}
	}
	j.fn = func() {
		emitted := make([]bool, len(ks))
		load(func(i int, b []byte, err error) {
			if i < 0 || i >= len(ks) || emitted[i] {
				PutBuf(b)
				return
			}
			emitted[i] = true
			if f := j.flights[i]; f != nil {
				c.finish(ks[i], f, b, err)
			} else {
				PutBuf(b)
			}
		})
		for i, f := range j.flights {
			if f != nil && !emitted[i] {
				c.finish(ks[i], f, nil, errReadAheadDropped)
			}
		}
	}
	c.enqueue(j)
	return true
}

// full reports whether every read-ahead slot runs and the queue is full;
// mu held.
func (c *BlockCache) full() bool {
	return c.prefetch >= maxPrefetch && len(c.queue) >= maxQueued
}

// enqueue starts j when a slot is free, else queues it; mu held.
func (c *BlockCache) enqueue(j *job) {
	if c.prefetch < maxPrefetch {
		j.started = true
		c.startAhead(j)
		return
	}
	c.queue = append(c.queue, j)
}

// startAhead runs a read-ahead in the background and, when it is done,
// the next queued one; mu held.
func (c *BlockCache) startAhead(j *job) {
	c.prefetch++
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		j.fn()
		c.mu.Lock()
		c.prefetch--
		c.startQueued()
		c.mu.Unlock()
	}()
}

// startQueued starts queued read-aheads while slots are free, skipping
// those a reader has taken over; mu held.
func (c *BlockCache) startQueued() {
	for c.prefetch < maxPrefetch && len(c.queue) > 0 {
		j := c.queue[0]
		c.queue = c.queue[1:]
		if !j.started {
			j.started = true
			c.startAhead(j)
		}
	}
	if len(c.queue) == 0 {
		c.queue = nil // let the backing array go
	}
}

// dropQueued ends the queued read-aheads without loading them; a reader
// waiting on one of their blocks reads it itself. mu held.
func (c *BlockCache) dropQueued() {
	for _, j := range c.queue {
		if j.started {
			continue
		}
		j.started = true
		for _, f := range j.flights {
			if f != nil {
				f.err = errReadAheadDropped
				delete(c.inflight, f.blk.k)
				close(f.done)
			}
		}
	}
	c.queue = nil
}

// begin registers a load of k; mu held.
func (c *BlockCache) begin(k CacheKey) *flight {
	f := &flight{done: make(chan struct{}), blk: &Block{c: c, k: k}, gen: c.gen}
	c.inflight[k] = f
	return f
}

func (c *BlockCache) load(k CacheKey, f *flight, load func() ([]byte, error)) {
	b, err := load()
	c.finish(k, f, b, err)
}

// finish ends flight f with the result of its load.
func (c *BlockCache) finish(k CacheKey, f *flight, b []byte, err error) {
	gen := f.gen // set under mu at begin; a queued flight keeps its own
	c.mu.Lock()
	f.blk.B, f.err = b, err
	delete(c.inflight, k)
	if f.err == nil && gen == c.gen {
		c.insert(k, f.blk)
	} else if gen != c.gen {
		f.blk.wipe = true // decoded with a key unloaded since
	}
	c.freeIfUnused(f.blk) // a read-ahead nobody waits for and not kept
	c.mu.Unlock()
	close(f.done)
}

// insert adds an entry; mu held.
func (c *BlockCache) insert(k CacheKey, b *Block) {
	n := int64(cap(b.B))
	if n > c.max {
		return
	}
	if _, ok := c.m[k]; ok {
		return
	}
	for c.size+n > c.max {
		c.remove(c.lru.Back(), false)
	}
	c.m[k] = c.lru.PushFront(b)
	b.cached = true
	c.size += n
}

// remove drops an entry; its buffer is reused (zeroed first with wipe)
// once no reader holds it; mu held.
func (c *BlockCache) remove(e *list.Element, wipe bool) {
	b := e.Value.(*Block)
	c.lru.Remove(e)
	delete(c.m, b.k)
	c.size -= int64(cap(b.B))
	b.cached = false
	b.wipe = b.wipe || wipe
	c.freeIfUnused(b)
}

// DropKey wipes and drops every block decoded with the key keyGUID (key
// unload), and makes loads begun before the call not be kept.
func (c *BlockCache) DropKey(keyGUID uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropQueued()
	c.gen++
	for e := c.lru.Front(); e != nil; {
		next := e.Next()
		if e.Value.(*Block).k.KeyGUID == keyGUID {
			c.remove(e, true)
		}
		e = next
	}
}

// dropAddrs drops the blocks stored at the given addresses (freed space).
func (c *BlockCache) dropAddrs(bps []format.BlockPointer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.m) == 0 || len(bps) == 0 {
		return
	}
	addrs := make(map[[2]uint64]bool, len(bps))
	for i := range bps {
		addrs[[2]uint64{uint64(bps[i].Vdev), bps[i].Offset}] = true
	}
	for e := c.lru.Front(); e != nil; {
		next := e.Next()
		k := e.Value.(*Block).k
		if addrs[[2]uint64{uint64(k.Vdev), k.Offset}] {
			c.remove(e, false)
		}
		e = next
	}
}

// Clear waits for the read-ahead loads, then wipes and drops everything.
func (c *BlockCache) Clear() {
	c.mu.Lock()
	c.dropQueued()
	c.mu.Unlock()
	c.wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for e := c.lru.Front(); e != nil; {
		next := e.Next()
		c.remove(e, true)
		e = next
	}
}

// CacheStats are the cache's counters.
type CacheStats struct {
	Bytes, Entries int64
	Held           int64 // blocks handed out and not released yet
	Hits, Misses   uint64
}

// Stats returns the cache's counters.
func (c *BlockCache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Bytes: c.size, Entries: int64(len(c.m)), Held: c.held, Hits: c.hits, Misses: c.misses}
}
