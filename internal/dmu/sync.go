package dmu

import (
	"fmt"
	"runtime"
	"sort"
	"sync"

	"coffer/internal/format"
	"coffer/internal/pool"
)

// Sync writes every dirty object, the object table and a new header block
// in txg, and returns the header's pointer. Blocks the new version no longer
// references are reported to Accounting.Killed.
func (os *Objset) Sync(txg uint64) (format.BlockPointer, error) {
	os.mu.Lock()
	defer os.mu.Unlock()
	return os.syncLocked(txg)
}

func (os *Objset) syncLocked(txg uint64) (format.BlockPointer, error) {
	if len(os.dirty) == 0 && !os.root.IsZero() {
		return os.root, nil
	}
	if err := os.reapDead(); err != nil {
		return format.BlockPointer{}, err
	}
	ids := make([]uint64, 0, len(os.dirty))
	for id := range os.dirty {
		if id != metaObject {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		o := os.dirty[id]
		if err := os.syncObject(txg, o); err != nil {
			return format.BlockPointer{}, fmt.Errorf("object %d: %w", id, err)
		}
		if err := os.storeDnode(o); err != nil {
			return format.BlockPointer{}, err
		}
		if o.freeing {
			delete(os.objs, id)
		}
	}
	if err := os.syncObject(txg, os.meta); err != nil {
		return format.BlockPointer{}, fmt.Errorf("object table: %w", err)
	}
	hdr := format.Objset{Kind: os.kind, Crypt: uint8(os.crypt), KeyGUID: os.keyGUID, Meta: os.meta.dn}
	spec := os.spec(format.TypeObjset, 0, 0, 0, txg, 0)
	if spec.Key != nil {
		spec.AD = headerAD(os.keyGUID)
	}
	bp, err := os.pool.WriteBlock(txg, spec, hdr.Encode())
	if err != nil {
		return format.BlockPointer{}, err
	}
	os.born(&bp)
	if !os.root.IsZero() {
		os.kill(&os.root)
	}
	os.root = bp
	clear(os.dirty)
	os.addDirty(-os.dirtyBytes)
	os.syncedTxg = txg
	return bp, nil
}

func (os *Objset) born(bp *format.BlockPointer) {
	if os.acct != nil && !bp.IsHole() {
		os.acct.Born(bp)
	}
}

func (os *Objset) kill(bp *format.BlockPointer) {
	if bp.IsHole() {
		return
	}
	if os.acct != nil {
		os.acct.Killed(bp)
	} else {
		os.pool.Free(bp)
	}
}

// storeDnode writes o's dnode into its slot of the object table.
func (os *Objset) storeDnode(o *Object) error {
	if !o.dirtyDnode && !o.freeing {
		return nil
	}
	blkid := o.id / format.DnodesPerBlock
	slot := int(o.id % format.DnodesPerBlock)
	var enc [format.DnodeSize]byte
	if !o.freeing {
		if err := o.sealBonus(); err != nil {
			return err
		}
		o.dn.Encode(enc[:])
	}
	buf, err := os.meta.dirtyBlock(blkid)
	if err != nil {
		return err
	}
	copy(buf[slot*format.DnodeSize:], enc[:])
	o.dirtyDnode = false
	return nil
}

// dirtyBlock returns a writable copy of level-0 block blkid, dirtying it.
func (o *Object) dirtyBlock(blkid uint64) ([]byte, error) {
	if b, ok := o.data[blkid]; ok {
		return b, nil
	}
	old, h, err := o.readBlock(blkid)
	if err != nil {
		return nil, err
	}
	b := pool.GetBuf(len(old))
	copy(b, old)
	h.Release()
	if o.data == nil {
		o.data = map[uint64][]byte{}
	}
	o.data[blkid] = b
	if blkid > o.dn.MaxBlkID {
		o.dn.MaxBlkID = blkid
	}
	o.os.markDirty(o)
	return b, nil
}

// setBP puts bp at (level, blkid), killing what was there.
func (o *Object) setBP(level uint8, blkid uint64, bp format.BlockPointer) error {
	var slot *format.BlockPointer
	if level == o.dn.NLevels-1 {
		slot = &o.dn.Root
		o.dirtyDnode = true
	} else {
		ib, err := o.indirect(level+1, blkid>>format.IndirectShift, true)
		if err != nil {
			return err
		}
		ib.dirty = true
		slot = &ib.bps[blkid&(format.BPsPerIndirect-1)]
	}
	old := *slot
	*slot = bp
	o.os.kill(&old)
	o.os.born(&bp)
	return nil
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

type encoded struct {
	blkid  uint64
	stored []byte
	bp     format.BlockPointer
	err    error
	early  bool // written ahead (writebehind.go): adopted, not placed again
}

func (os *Objset) syncObject(txg uint64, o *Object) error {
	if o.freeing {
		if err := os.killTree(&o.dn.Root); err != nil {
			return err
		}
		o.dn.Root = format.BlockPointer{}
		return nil
	}
	l0type := format.TypeData
	if o.id == metaObject {
		l0type = format.TypeDnode
	}
	// Free what a truncate cut off first, in the tree as it is: once the
	// tree grows, its old top hangs below a new indirect block and the
	// dnode's root no longer leads to it.
	if o.freePending {
		if err := o.freeBlocksFrom(txg, o.freeFrom); err != nil {
			return err
		}
		o.freePending = false
	}
	// Grow the tree to address every block.
	need := format.LevelsFor(o.dn.MaxBlkID)
	for id := range o.data {
		need = max(need, format.LevelsFor(id))
	}
	for o.dn.NLevels < need {
		ib := &indBlock{bps: make([]format.BlockPointer, format.BPsPerIndirect), dirty: true}
		ib.bps[0] = o.dn.Root
		if o.ind == nil {
			o.ind = map[indKey]*indBlock{}
		}
		o.ind[indKey{o.dn.NLevels, 0}] = ib
		o.dn.Root = format.BlockPointer{}
		o.dn.NLevels++
	}
	// Level 0: encode in parallel, place in order.
	ids := make([]uint64, 0, len(o.data))
	for id := range o.data {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	out := make([]encoded, len(ids))
	for i, id := range ids {
		bp, ok, err := o.adopt(txg, id)
		if err != nil {
			return err
		}
		out[i] = encoded{blkid: id, bp: bp, early: ok}
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(runtime.NumCPU(), len(ids)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				e := &out[i]
				e.blkid = ids[i]
				data := o.data[e.blkid]
				if isZero(data) {
					e.bp = format.BlockPointer{Type: l0type, PhysBirth: txg, Birth: txg}
					continue
				}
				fill := uint64(1)
				if l0type == format.TypeDnode {
					fill = countDnodes(data)
				}
				e.stored, e.bp, e.err = pool.Encode(txg, os.spec(l0type, o.id, 0, e.blkid, txg, fill), data)
			}
		}()
	}
	for i := range ids {
		if !out[i].early {
			work <- i
		}
	}
	close(work)
	wg.Wait()
	for i := range out {
		e := &out[i]
		if e.err != nil {
			return e.err
		}
		if e.early {
			// Written ahead: already on disk.
		} else if !e.bp.IsHole() {
			err := os.pool.Place(&e.bp, e.stored)
			pool.PutBuf(e.stored)
			if err != nil {
				return err
			}
		} else {
			old, err := o.bpAt(0, e.blkid)
			if err != nil {
				return err
			}
			if old.IsZero() {
				e.bp = format.BlockPointer{} // never written: stays a plain hole
			}
		}
		if err := o.setBP(0, e.blkid, e.bp); err != nil {
			return err
		}
	}
	o.detachAll() // none left: every dirty block was adopted or given back above
	if err := os.reapDead(); err != nil {
		return err
	}
	for _, b := range o.data {
		pool.PutBuf(b)
	}
	clear(o.data)
	// Indirect levels, bottom up.
	for level := uint8(1); level < o.dn.NLevels; level++ {
		var keys []uint64
		for k, ib := range o.ind {
			if k.level == level && ib.dirty {
				keys = append(keys, k.blkid)
			}
		}
		sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
		for _, blkid := range keys {
			ib := o.ind[indKey{level, blkid}]
			var fill uint64
			allHoles := true
			buf := make([]byte, format.IndirectSize)
			for i := range ib.bps {
				fill += ib.bps[i].Fill
				if !ib.bps[i].IsZero() {
					allHoles = false
				}
				ib.bps[i].Encode(buf[i*format.BPSize:])
			}
			var bp format.BlockPointer
			if allHoles {
				bp = format.BlockPointer{}
			} else {
				var err error
				bp, err = os.pool.WriteBlock(txg, os.spec(format.TypeIndirect, o.id, level, blkid, txg, fill), buf)
				if err != nil {
					return err
				}
			}
			ib.dirty = false
			if err := o.setBP(level, blkid, bp); err != nil {
				return err
			}
		}
	}
	return nil
}

func countDnodes(b []byte) uint64 {
	var n uint64
	for off := 0; off+format.DnodeSize <= len(b); off += format.DnodeSize {
		if b[off] != 0 {
			n++
		}
	}
	return n
}

// freeBlocksFrom turns every level-0 block at or after first into a hole.
func (o *Object) freeBlocksFrom(txg, first uint64) error {
	top := o.dn.NLevels - 1
	return o.freeRange(txg, top, 0, first)
}

// freeRange frees, under the block at (level, blkid), every level-0 block
// with id >= first.
func (o *Object) freeRange(txg uint64, level uint8, blkid, first uint64) error {
	span := uint64(1) << (uint(level) * format.IndirectShift) // level-0 blocks under one block of this level
	lo := blkid * span
	if lo+span <= first {
		return nil
	}
	bp, err := o.bpAt(level, blkid)
	if err != nil {
		return err
	}
	if bp.IsHole() {
		return nil
	}
	if lo >= first {
		// Wholly freed.
		if err := o.os.killTree(&bp); err != nil {
			return err
		}
		if level > 0 {
			delete(o.ind, indKey{level, blkid})
			o.forgetBelow(level, blkid)
		}
		// The slot becomes a hole, born now, but setBP must not kill again.
		return o.setHole(level, blkid, txg)
	}
	ib, err := o.indirect(level, blkid, false)
	if err != nil || ib == nil {
		return err
	}
	for i := uint64(0); i < format.BPsPerIndirect; i++ {
		if err := o.freeRange(txg, level-1, blkid*format.BPsPerIndirect+i, first); err != nil {
			return err
		}
	}
	return nil
}

func (o *Object) forgetBelow(level uint8, blkid uint64) {
	for k := range o.ind {
		if k.level < level && k.blkid>>(uint(level-k.level)*format.IndirectShift) == blkid {
			delete(o.ind, k)
		}
	}
}

func (o *Object) setHole(level uint8, blkid, txg uint64) error {
	h := format.BlockPointer{Type: format.TypeData, Level: level, PhysBirth: txg, Birth: txg}
	if level == o.dn.NLevels-1 {
		o.dn.Root = h
		o.dirtyDnode = true
		return nil
	}
	ib, err := o.indirect(level+1, blkid>>format.IndirectShift, true)
	if err != nil {
		return err
	}
	ib.dirty = true
	ib.bps[blkid&(format.BPsPerIndirect-1)] = h
	return nil
}

// killTree reports every block under bp (bp included) as killed. Structural
// blocks are read without a key.
func (os *Objset) killTree(bp *format.BlockPointer) error {
	return walkTree(os.pool, bp, func(b *format.BlockPointer) (bool, error) {
		os.kill(b)
		return true, nil
	})
}
