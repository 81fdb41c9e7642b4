package dmu

import (
	"bytes"
	"fmt"

	"coffer/internal/crypto"
	"coffer/internal/format"
	"coffer/internal/pool"
)

type indKey struct {
	level uint8
	blkid uint64
}

type indBlock struct {
	bps   []format.BlockPointer
	dirty bool
}

// Object is one object of an object set.
type Object struct {
	os         *Objset
	id         uint64
	dn         format.Dnode
	bonus      []byte // plaintext bonus; nil until loaded
	bonusOK    bool
	data       map[uint64][]byte // dirty level-0 blocks
	ind        map[indKey]*indBlock
	dirtyDnode bool
	freeing    bool   // the object is being freed in the open txg
	recordSize uint32 // largest block size the object grows to
	// freePending: blocks at and after freeFrom are freed at the next sync.
	freePending bool
	freeFrom    uint64
	// Read-ahead state: the block after the last one read, and the first
	// block not yet asked for.
	raNext, raIssued uint64
	raStream         bool              // the last read was near the one before it
	wb               map[uint64]*wbJob // level-0 blocks being written ahead (writebehind.go)
}

// ID is the object number.
func (o *Object) ID() uint64 { return o.id }

// Type is the object type.
func (o *Object) Type() format.ObjectType { return o.dn.Type }

// BlockSize is the object's data block size.
func (o *Object) BlockSize() uint32 { return o.dn.DataBlkSz }

func (os *Objset) markDirty(o *Object) {
	if o.id == metaObject {
		os.dirty[metaObject] = o
		return
	}
	os.dirty[o.id] = o
}

// bp returns the block pointer at (level, blkid) of o, or a zero pointer.
func (o *Object) bpAt(level uint8, blkid uint64) (format.BlockPointer, error) {
	top := o.dn.NLevels - 1
	if level > top {
		return format.BlockPointer{}, nil
	}
	if blkid > format.MaxBlkIDFor(o.dn.NLevels-level) {
		return format.BlockPointer{}, nil
	}
	if level == top {
		if blkid != 0 {
			return format.BlockPointer{}, nil
		}
		return o.dn.Root, nil
	}
	parent, err := o.indirect(level+1, blkid>>format.IndirectShift, false)
	if err != nil || parent == nil {
		return format.BlockPointer{}, err
	}
	return parent.bps[blkid&(format.BPsPerIndirect-1)], nil
}

// indirect loads (or, with create, makes) the indirect block at (level, blkid).
func (o *Object) indirect(level uint8, blkid uint64, create bool) (*indBlock, error) {
	if o.ind == nil {
		o.ind = map[indKey]*indBlock{}
	}
	k := indKey{level, blkid}
	if ib := o.ind[k]; ib != nil {
		return ib, nil
	}
	bp, err := o.bpAt(level, blkid)
	if err != nil {
		return nil, err
	}
	ib := &indBlock{bps: make([]format.BlockPointer, format.BPsPerIndirect)}
	if !bp.IsHole() {
		b, err := o.os.readBP(&bp, o.id, level, blkid)
		if err != nil {
			return nil, err
		}
		if len(b) != format.IndirectSize {
			return nil, fmt.Errorf("indirect block: %w: size %d", format.ErrCorrupt, len(b))
		}
		for i := range ib.bps {
			if err := ib.bps[i].Decode(b[i*format.BPSize:]); err != nil {
				return nil, err
			}
		}
	} else if !create {
		return nil, nil
	}
	o.ind[k] = ib
	return ib, nil
}

// readBlock returns the content of level-0 block blkid (zeros for a hole),
// always DataBlkSz bytes long. The result must not be modified, and is
// valid until the returned handle is released (a nil handle releases
// nothing): callers copy what they need, then release.
func (o *Object) readBlock(blkid uint64) ([]byte, *pool.Block, error) {
	if b, ok := o.data[blkid]; ok {
		return b, nil, nil
	}
	if o.freePending && blkid >= o.freeFrom {
		// Truncated in the open txg: the old block is still in the tree
		// until Sync frees it, but it is gone.
		return make([]byte, o.dn.DataBlkSz), nil, nil
	}
	bp, err := o.bpAt(0, blkid)
	if err != nil {
		return nil, nil, err
	}
	if bp.IsHole() {
		return make([]byte, o.dn.DataBlkSz), nil, nil
	}
	b, h, err := o.os.readData(&bp, o.id, blkid, o.raStream)
	if err != nil {
		return nil, nil, err
	}
	if len(b) < int(o.dn.DataBlkSz) {
		// A block stored before the object's block size grew.
		nb := make([]byte, o.dn.DataBlkSz)
		copy(nb, b)
		h.Release()
		return nb, nil, nil
	} else if len(b) > int(o.dn.DataBlkSz) {
		h.Release()
		return nil, nil, fmt.Errorf("object %d block %d: %w: size %d > %d", o.id, blkid, format.ErrCorrupt, len(b), o.dn.DataBlkSz)
	}
	return b, h, nil
}

// Read reads len(p) bytes at off. Holes and the space past the last block
// read as zeros.
func (o *Object) Read(p []byte, off uint64) error {
	o.os.mu.Lock()
	defer o.os.mu.Unlock()
	return o.read(p, off)
}

func (o *Object) read(p []byte, off uint64) error {
	return o.eachPiece(off, len(p), func(piece []byte, k int, h *pool.Block) {
		if piece == nil {
			clear(p[:k])
		} else {
			copy(p, piece)
			h.Release()
		}
		p = p[k:]
	})
}

// eachPiece calls fn, with os.mu held, for the pieces of [off, off+n) in
// order, one per block: k bytes, piece nil for the space past the last
// block (zeros), else a slice of the block that fn releases through h
// (nil: nothing to release; a dirty block's bytes may change once os.mu is
// dropped). A sequential reader's next blocks are asked for first.
func (o *Object) eachPiece(off uint64, n int, fn func(piece []byte, k int, h *pool.Block)) error {
	bs := uint64(o.dn.DataBlkSz)
	if n > 0 {
		o.readAhead(off/bs, (off+uint64(n)-1)/bs)
	}
	for n > 0 {
		blkid := off / bs
		in := off % bs
		k := min(uint64(n), bs-in)
		var piece []byte
		var h *pool.Block
		if blkid <= o.dn.MaxBlkID || o.data[blkid] != nil {
			b, bh, err := o.readBlock(blkid)
			if err != nil {
				return err
			}
			piece, h = b[in:in+k], bh
		}
		fn(piece, int(k), h)
		n -= int(k)
		off += k
	}
	return nil
}

// ReadVec is Read without copying what comes from the pool's block cache:
// it appends the pieces of [off, off+n) in order to vecs, slices of cached
// blocks (each held through the handle appended to hs, which the caller
// releases once it is done with the bytes) or of new buffers (dirty
// blocks, holes). Pieces that are slices of cached blocks must not be
// modified. On error it releases what it took and returns nil.
func (o *Object) ReadVec(off uint64, n int, vecs [][]byte, hs []*pool.Block) ([][]byte, []*pool.Block, error) {
	o.os.mu.Lock()
	defer o.os.mu.Unlock()
	held := len(hs)
	err := o.eachPiece(off, n, func(piece []byte, k int, h *pool.Block) {
		switch {
		case piece == nil:
			vecs = append(vecs, make([]byte, k))
		case h != nil:
			vecs, hs = append(vecs, piece), append(hs, h)
		default:
			vecs = append(vecs, bytes.Clone(piece)) // dirty: may change once unlocked
		}
	})
	if err != nil {
		for _, h := range hs[held:] {
			h.Release()
		}
		return nil, nil, err
	}
	return vecs, hs, nil
}

// Write writes p at off, growing the object as needed.
func (o *Object) Write(p []byte, off uint64) error {
	os := o.os
	os.mu.Lock()
	defer os.mu.Unlock()
	if err := os.writable(); err != nil {
		return err
	}
	if len(p) == 0 {
		return nil
	}
	end := off + uint64(len(p))
	if err := o.growBlockSize(end); err != nil {
		return err
	}
	bs := uint64(o.dn.DataBlkSz)
	for len(p) > 0 {
		blkid := off / bs
		in := off % bs
		n := min(uint64(len(p)), bs-in)
		b, ok := o.data[blkid]
		if !ok {
			if in == 0 && n == bs {
				b = pool.GetBuf(int(bs))
			} else {
				old, h, err := o.readBlock(blkid)
				if err != nil {
					return err
				}
				b = pool.GetBuf(len(old))
				copy(b, old)
				h.Release()
			}
			if o.data == nil {
				o.data = map[uint64][]byte{}
			}
			o.data[blkid] = b
			os.addDirty(int64(bs))
		} else if o.wb[blkid] != nil {
			o.detach(blkid, true)
			b = o.data[blkid]
		}
		copy(b[in:], p[:n])
		if blkid > o.dn.MaxBlkID {
			o.dn.MaxBlkID = blkid
			o.dirtyDnode = true
		}
		if in+n == bs && (o.dn.MaxBlkID > 0 || bs >= uint64(o.maxBlkSz())) {
			o.writeBehind(blkid, b)
		}
		p = p[n:]
		off += n
	}
	os.markDirty(o)
	return nil
}

// MaxRecordSize bounds the block size an object may grow to. Set per object
// from the dataset's recordsize when the object is created.
func (o *Object) growBlockSize(end uint64) error {
	if o.dn.MaxBlkID > 0 || end <= uint64(o.dn.DataBlkSz) {
		return nil
	}
	limit := uint64(o.maxBlkSz())
	if uint64(o.dn.DataBlkSz) >= limit {
		return nil
	}
	nbs := uint64(format.MinBlockSize)
	for nbs < end && nbs < limit {
		nbs <<= 1
	}
	old, h, err := o.readBlock(0)
	if err != nil {
		return err
	}
	nb := make([]byte, nbs)
	copy(nb, old)
	h.Release()
	if o.data == nil {
		o.data = map[uint64][]byte{}
	}
	o.detach(0, false)
	if _, was := o.data[0]; was {
		o.os.addDirty(-int64(o.dn.DataBlkSz))
	}
	o.data[0] = nb
	o.os.addDirty(int64(nbs))
	o.dn.DataBlkSz = uint32(nbs)
	o.dirtyDnode = true
	o.os.markDirty(o)
	return nil
}

// maxBlkSz is kept in the high bits of nothing: objects remember their
// record size in the dnode's block size once they have more than one block;
// until then the limit comes from the object set's record size.
func (o *Object) maxBlkSz() uint32 {
	if o.recordSize != 0 {
		return o.recordSize
	}
	if o.os.RecordSize != 0 {
		return o.os.RecordSize
	}
	return format.DefaultRecordSz
}

// Truncate frees everything at and after size (whole blocks become holes,
// the tail of a partial block is zeroed).
func (o *Object) Truncate(size uint64) error {
	os := o.os
	os.mu.Lock()
	defer os.mu.Unlock()
	if err := os.writable(); err != nil {
		return err
	}
	bs := uint64(o.dn.DataBlkSz)
	first := (size + bs - 1) / bs // first block wholly freed
	if in := size % bs; in != 0 && size/bs <= o.dn.MaxBlkID {
		blkid := size / bs
		b, ok := o.data[blkid]
		if !ok {
			old, h, err := o.readBlock(blkid)
			if err != nil {
				return err
			}
			b = append([]byte(nil), old...)
			h.Release()
			if o.data == nil {
				o.data = map[uint64][]byte{}
			}
			o.data[blkid] = b
			os.addDirty(int64(bs))
		} else if o.wb[blkid] != nil {
			o.detach(blkid, true)
			b = o.data[blkid]
		}
		clear(b[in:])
	}
	for id := range o.data {
		if id >= first {
			o.detach(id, false)
			delete(o.data, id)
			os.addDirty(-int64(bs))
		}
	}
	if first <= o.dn.MaxBlkID {
		if !o.freePending || first < o.freeFrom {
			o.freePending, o.freeFrom = true, first
		}
		if first == 0 {
			o.dn.MaxBlkID = 0
		} else {
			o.dn.MaxBlkID = first - 1
		}
		o.dirtyDnode = true
	}
	os.markDirty(o)
	return nil
}

// Bonus returns the plaintext bonus (attributes kept in the dnode).
func (o *Object) Bonus() ([]byte, error) {
	o.os.mu.Lock()
	defer o.os.mu.Unlock()
	if err := o.loadBonus(); err != nil {
		return nil, err
	}
	return append([]byte(nil), o.bonus...), nil
}

func (o *Object) loadBonus() error {
	if o.bonusOK {
		return nil
	}
	dn := &o.dn
	if dn.Flags&format.DnodeFlagCrypt == 0 {
		o.bonus = append([]byte(nil), dn.Bonus[:dn.BonusLen]...)
		o.bonusOK = true
		return nil
	}
	k := o.os.key
	if k == nil {
		return pool.ErrKeyNotLoaded
	}
	var iv [crypto.IVLen]byte
	var mac [crypto.MACLen]byte
	var salt [crypto.SaltLen]byte
	copy(iv[:], dn.Bonus[0:12])
	copy(mac[:], dn.Bonus[12:28])
	copy(salt[:], dn.Bonus[28:36])
	pt, err := k.Open(crypto.PurposeBonus, dn.Bonus[36:36+int(dn.BonusLen)], iv, salt, mac,
		bonusAD(o.os.keyGUID, o.id, dn.Gen))
	if err != nil {
		return fmt.Errorf("object %d bonus: %w", o.id, pool.ErrDamaged)
	}
	o.bonus = pt
	o.bonusOK = true
	return nil
}

// SetBonus replaces the bonus.
func (o *Object) SetBonus(b []byte) error {
	o.os.mu.Lock()
	defer o.os.mu.Unlock()
	if err := o.os.writable(); err != nil {
		return err
	}
	if len(b) > format.BonusMax {
		return ErrBonusSize
	}
	o.bonus = append([]byte(nil), b...)
	o.bonusOK = true
	o.dirtyDnode = true
	o.os.markDirty(o)
	return nil
}

// sealBonus stores the plaintext bonus into the dnode's bonus area.
func (o *Object) sealBonus() error {
	if !o.bonusOK {
		return nil // unchanged since load: keep the stored bytes
	}
	dn := &o.dn
	dn.Bonus = [format.BonusArea]byte{}
	dn.BonusLen = uint16(len(o.bonus))
	if o.os.key == nil {
		dn.Flags &^= format.DnodeFlagCrypt
		copy(dn.Bonus[:], o.bonus)
		return nil
	}
	ct, iv, salt, mac, err := o.os.key.Seal(crypto.PurposeBonus, o.bonus, bonusAD(o.os.keyGUID, o.id, dn.Gen))
	if err != nil {
		return err
	}
	dn.Flags |= format.DnodeFlagCrypt
	copy(dn.Bonus[0:12], iv[:])
	copy(dn.Bonus[12:28], mac[:])
	copy(dn.Bonus[28:36], salt[:])
	copy(dn.Bonus[36:], ct)
	return nil
}

// FreeRange turns level-0 blocks [first, end) into holes (zeros). Blocks
// past the object's last block are left alone.
func (o *Object) FreeRange(first, end uint64) error {
	o.os.mu.Lock()
	last := o.dn.MaxBlkID
	bs := uint64(o.dn.DataBlkSz)
	o.os.mu.Unlock()
	end = min(end, last+1)
	if first >= end {
		return nil
	}
	zero := make([]byte, bs)
	for b := first; b < end; b++ {
		if err := o.Write(zero, b*bs); err != nil {
			return err
		}
	}
	return nil
}
