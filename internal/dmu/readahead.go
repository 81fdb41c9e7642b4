package dmu

import (
	"coffer/internal/format"
	"coffer/internal/pool"
)

// ReadAheadBlocks is how many level-0 blocks a sequential reader has loaded
// ahead of it (in the background, on the other cores).
const ReadAheadBlocks = 32

// RunBlocks is the most blocks read ahead with one read of the block store
// (pool.ReadAheadRun), when they are stored next to each other.
const RunBlocks = 8

// readData reads and decodes the level-0 data block bp of (obj, blkid)
// through the pool's block cache: a block read again (FUSE splits reads
// into pieces smaller than a block) or loaded ahead is decoded once. A
// block from the cache comes with its handle, which the caller releases
// once it has copied what it needs (nil: the bytes are the caller's).
//
// stream says the reader reads sequentially: the block is then read as
// read-ahead reads it (pool.ReadStreamBlock).
func (os *Objset) readData(bp *format.BlockPointer, obj, blkid uint64, stream bool) ([]byte, *pool.Block, error) {
	if obj == metaObject || bp.Type != format.TypeData || (os.Encrypted() && os.key == nil) {
		b, err := os.readBP(bp, obj, 0, blkid)
		return b, nil, err
	}
	k := pool.KeyFor(bp, os.keyGUID, obj, blkid)
	bpc := *bp
	read := os.pool.ReadBlock
	if stream {
		read = os.pool.ReadStreamBlock
	}
	h, err := os.pool.Cache().Fetch(k, func() ([]byte, error) {
		return read(&bpc, os.key, blockAD(os.keyGUID, obj, 0, blkid, bpc.Birth))
	})
	if err != nil {
		return nil, nil, err
	}
	return h.B, h, nil
}

// readAhead is called with os.mu held before o reads blocks [first, last].
// When the reads are sequential it asks for the next ReadAheadBlocks
// blocks in the background.
func (o *Object) readAhead(first, last uint64) {
	os := o.os
	seq := first == o.raNext || (o.raNext > 0 && first == o.raNext-1)
	// FUSE answers a sequential reader's READs on several goroutines, so
	// they may reach here a little out of order: a read within
	// ReadAheadBlocks of the last one still belongs to the stream.
	o.raStream = seq || (o.raNext > 0 && first+ReadAheadBlocks >= o.raNext && first <= o.raNext+ReadAheadBlocks)
	o.raNext = last + 1
	if !seq || o.id == metaObject || (os.Encrypted() && os.key == nil) {
		o.raIssued = 0
		return
	}
	from := max(last+1, o.raIssued)
	to := min(last+ReadAheadBlocks, o.dn.MaxBlkID)
	if to < from || (to-from+1 < RunBlocks && to < o.dn.MaxBlkID) {
		// Ask in whole runs: one more block per read would be read alone.
		return
	}
	cache := os.pool.Cache()
	var (
		run     []format.BlockPointer
		runFrom uint64 // blkid of run[0]
	)
	// flush starts the read-ahead of run; false: the cache has enough
	// waiting, ask again on the next read.
	flush := func() bool {
		if len(run) == 0 {
			return true
		}
		obj, key, guid := o.id, os.key, os.keyGUID
		bps, b0 := run, runFrom
		run = nil
		ok := false
		if len(bps) == 1 {
			bp := bps[0]
			ok = cache.Prefetch(pool.KeyFor(&bp, guid, obj, b0), func() ([]byte, error) {
				return os.pool.ReadAheadBlock(&bp, key, blockAD(guid, obj, 0, b0, bp.Birth))
			})
		} else {
			ks := make([]pool.CacheKey, len(bps))
			for i := range bps {
				ks[i] = pool.KeyFor(&bps[i], guid, obj, b0+uint64(i))
			}
			ok = cache.PrefetchRun(ks, func(emit func(int, []byte, error)) {
				ads := make([][]byte, len(bps))
				for i := range bps {
					ads[i] = blockAD(guid, obj, 0, b0+uint64(i), bps[i].Birth)
				}
				os.pool.ReadAheadRun(bps, key, ads, emit)
			})
		}
		if ok {
			o.raIssued = b0 + uint64(len(bps))
		}
		return ok
	}
	for blkid := from; blkid <= to; blkid++ {
		skip := false
		var bp format.BlockPointer
		if _, dirty := o.data[blkid]; dirty || (o.freePending && blkid >= o.freeFrom) {
			skip = true
		} else {
			var err error
			if bp, err = o.bpAt(0, blkid); err != nil {
				flush()
				return
			}
			skip = bp.IsHole() || bp.Type != format.TypeData || cache.Has(pool.KeyFor(&bp, os.keyGUID, o.id, blkid))
		}
		if skip {
			if !flush() {
				return
			}
			o.raIssued = blkid + 1
			continue
		}
		if len(run) == RunBlocks || (len(run) > 0 && !pool.RunSpan(append(run, bp))) {
			if !flush() {
				return
			}
		}
		if len(run) == 0 {
			runFrom = blkid
		}
		run = append(run, bp)
	}
	flush()
}
