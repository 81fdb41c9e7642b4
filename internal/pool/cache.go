package pool

import (
	"container/list"
	"sync"

	"coffer/internal/format"
)

// DefaultCacheBytes bounds the decoded-block cache of a pool.
const DefaultCacheBytes = 16 << 20

// maxPrefetch bounds the read-ahead loads in flight per pool.
const maxPrefetch = 8

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

type cacheEntry struct {
	k CacheKey
	b []byte
}

type flight struct {
	ahead bool // a read-ahead load (Prefetch)
	done  chan struct{}
	b     []byte
	err   error
}

// BlockCache keeps recently decoded data blocks (plaintext), bounded in
// bytes, least recently used out first. Entries of a key are wiped when the
// key is unloaded (DropKey) and the whole cache when the pool closes;
// entries of freed blocks are dropped when their space is released.
// Buffers returned by Fetch must not be modified.
type BlockCache struct {
	mu       sync.Mutex
	max      int64
	size     int64
	m        map[CacheKey]*list.Element
	lru      *list.List // front: most recent
	inflight map[CacheKey]*flight
	gen      uint64 // bumped by DropKey and Clear: loads begun before are not kept
	prefetch int    // read-ahead loads running
	wg       sync.WaitGroup

	hits, misses uint64
}

// NewBlockCache returns a cache of at most max bytes (0: caching off,
// concurrent loads of the same block are still shared).
func NewBlockCache(max int64) *BlockCache {
	return &BlockCache{max: max, m: map[CacheKey]*list.Element{}, lru: list.New(), inflight: map[CacheKey]*flight{}}
}

// Fetch returns the decoded block k, calling load when it is neither
// cached nor being loaded by someone else.
func (c *BlockCache) Fetch(k CacheKey, load func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	if e, ok := c.m[k]; ok {
		c.lru.MoveToFront(e)
		c.hits++
		c.mu.Unlock()
		return e.Value.(*cacheEntry).b, nil
	}
	if f, ok := c.inflight[k]; ok {
		c.mu.Unlock()
		<-f.done
		if f.err != nil && f.ahead {
			// A failed read-ahead is not counted as damage: read (and
			// count) it as the reader.
			return load()
		}
		return f.b, f.err
	}
	c.misses++
	f := c.begin(k)
	c.mu.Unlock()
	c.load(k, f, load)
	return f.b, f.err
}

// Prefetch starts loading k in the background unless it is cached, being
// loaded, or too many loads run already; it reports whether k is cached or
// on its way.
func (c *BlockCache) Prefetch(k CacheKey, load func() ([]byte, error)) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[k]; ok {
		return true
	}
	if _, ok := c.inflight[k]; ok {
		return true
	}
	if c.max == 0 || c.prefetch >= maxPrefetch {
		return false
	}
	c.prefetch++
	f := c.begin(k)
	f.ahead = true
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.load(k, f, load)
		c.mu.Lock()
		c.prefetch--
		c.mu.Unlock()
	}()
	return true
}

// begin registers a load of k; mu held.
func (c *BlockCache) begin(k CacheKey) *flight {
	f := &flight{done: make(chan struct{})}
	c.inflight[k] = f
	return f
}

func (c *BlockCache) load(k CacheKey, f *flight, load func() ([]byte, error)) {
	c.mu.Lock()
	gen := c.gen
	c.mu.Unlock()
	f.b, f.err = load()
	c.mu.Lock()
	delete(c.inflight, k)
	if f.err == nil && gen == c.gen {
		c.insert(k, f.b)
	}
	c.mu.Unlock()
	close(f.done)
}

// insert adds an entry; mu held.
func (c *BlockCache) insert(k CacheKey, b []byte) {
	n := int64(cap(b))
	if n > c.max {
		return
	}
	if _, ok := c.m[k]; ok {
		return
	}
	for c.size+n > c.max {
		c.remove(c.lru.Back(), false)
	}
	c.m[k] = c.lru.PushFront(&cacheEntry{k: k, b: b})
	c.size += n
}

// remove drops an entry, zeroing its bytes with wipe; mu held. A buffer
// handed out earlier may still be read by its caller, so only DropKey and
// Clear wipe (no reader of a locked key or a closed pool remains).
func (c *BlockCache) remove(e *list.Element, wipe bool) {
	ce := e.Value.(*cacheEntry)
	c.lru.Remove(e)
	delete(c.m, ce.k)
	c.size -= int64(cap(ce.b))
	if wipe {
		clear(ce.b[:cap(ce.b)])
	}
}

// DropKey wipes and drops every block decoded with the key keyGUID (key
// unload), and makes loads begun before the call not be kept.
func (c *BlockCache) DropKey(keyGUID uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	for e := c.lru.Front(); e != nil; {
		next := e.Next()
		if e.Value.(*cacheEntry).k.KeyGUID == keyGUID {
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
		k := e.Value.(*cacheEntry).k
		if addrs[[2]uint64{uint64(k.Vdev), k.Offset}] {
			c.remove(e, false)
		}
		e = next
	}
}

// Clear waits for the read-ahead loads, then wipes and drops everything.
func (c *BlockCache) Clear() {
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
	Hits, Misses   uint64
}

// Stats returns the cache's counters.
func (c *BlockCache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Bytes: c.size, Entries: int64(len(c.m)), Hits: c.hits, Misses: c.misses}
}
