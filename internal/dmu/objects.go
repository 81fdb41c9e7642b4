package dmu

import (
	"fmt"

	"coffer/internal/format"
)

// Object returns object id.
func (os *Objset) Object(id uint64) (*Object, error) {
	os.mu.Lock()
	defer os.mu.Unlock()
	return os.object(id)
}

func (os *Objset) object(id uint64) (*Object, error) {
	if id == metaObject {
		return nil, fmt.Errorf("object %d: %w", id, ErrNoObject)
	}
	if o := os.objs[id]; o != nil {
		if o.freeing {
			return nil, fmt.Errorf("object %d: %w", id, ErrNoObject)
		}
		return o, nil
	}
	blkid := id / format.DnodesPerBlock
	if blkid > os.meta.dn.MaxBlkID {
		return nil, fmt.Errorf("object %d: %w", id, ErrNoObject)
	}
	b, h, err := os.meta.readBlock(blkid)
	if err != nil {
		return nil, err
	}
	defer h.Release()
	var dn format.Dnode
	if err := dn.Decode(b[(id%format.DnodesPerBlock)*format.DnodeSize:]); err != nil {
		return nil, fmt.Errorf("object %d: %w", id, err)
	}
	if dn.IsFree() {
		return nil, fmt.Errorf("object %d: %w", id, ErrNoObject)
	}
	o := &Object{os: os, id: id, dn: dn, recordSize: dn.DataBlkSz}
	if dn.MaxBlkID == 0 {
		o.recordSize = 0 // still growing: the object set's record size applies
	}
	os.objs[id] = o
	return o, nil
}

// NextID returns the lowest object id above every allocated one.
func (os *Objset) nextID() (uint64, error) {
	if os.next != 0 {
		return os.next, nil
	}
	last := os.meta.dn.MaxBlkID
	for blkid := last; ; blkid-- {
		b, h, err := os.meta.readBlock(blkid)
		if err != nil {
			return 0, err
		}
		for slot := format.DnodesPerBlock - 1; slot >= 0; slot-- {
			if b[slot*format.DnodeSize] != 0 {
				h.Release()
				os.next = blkid*format.DnodesPerBlock + uint64(slot) + 1
				return os.next, nil
			}
		}
		h.Release()
		if blkid == 0 {
			break
		}
	}
	os.next = 1
	return 1, nil
}

// NewObject allocates an object whose blocks grow up to recordSize.
func (os *Objset) NewObject(t format.ObjectType, recordSize uint32, txg uint64) (*Object, error) {
	os.mu.Lock()
	defer os.mu.Unlock()
	if err := os.writable(); err != nil {
		return nil, err
	}
	if recordSize < format.MinBlockSize || recordSize > format.MaxBlockSize || recordSize&(recordSize-1) != 0 {
		return nil, fmt.Errorf("invalid record size %d", recordSize)
	}
	id, err := os.nextID()
	if err != nil {
		return nil, err
	}
	os.next = id + 1
	o := &Object{os: os, id: id, dn: format.Dnode{
		Type: t, NLevels: 1, DataBlkSz: format.MinBlockSize, Gen: txg,
	}, dirtyDnode: true, bonusOK: true, recordSize: recordSize}
	os.objs[id] = o
	os.markDirty(o)
	return o, nil
}

// NewObjectAt allocates a specific, free object id (used for well-known
// objects such as the master node, object 1).
func (os *Objset) NewObjectAt(id uint64, t format.ObjectType, recordSize uint32, txg uint64) (*Object, error) {
	os.mu.Lock()
	if _, err := os.object(id); err == nil {
		os.mu.Unlock()
		return nil, fmt.Errorf("object %d exists", id)
	}
	next, err := os.nextID()
	os.mu.Unlock()
	if err != nil {
		return nil, err
	}
	o, err := os.NewObject(t, recordSize, txg)
	if err != nil {
		return nil, err
	}
	if o.id != id {
		os.mu.Lock()
		delete(os.objs, o.id)
		delete(os.dirty, o.id)
		o.id = id
		os.objs[id] = o
		os.dirty[id] = o
		os.next = max(next, id+1)
		os.mu.Unlock()
	}
	return o, nil
}

// FreeObject frees an object and all its blocks at the next Sync.
func (os *Objset) FreeObject(id uint64) error {
	os.mu.Lock()
	defer os.mu.Unlock()
	if err := os.writable(); err != nil {
		return err
	}
	o, err := os.object(id)
	if err != nil {
		return err
	}
	o.detachAll()
	for range o.data {
		os.addDirty(-int64(o.dn.DataBlkSz))
	}
	clear(o.data)
	o.freeing = true
	os.markDirty(o)
	return nil
}

// MaxObjectID is the highest object id that may be in use.
func (os *Objset) MaxObjectID() uint64 {
	os.mu.Lock()
	defer os.mu.Unlock()
	n, err := os.nextID()
	if err != nil || n == 0 {
		return 0
	}
	return n - 1
}

// ObjectInfo is the layout of an object.
type ObjectInfo struct {
	Type     format.ObjectType
	BlkSz    uint32
	MaxBlkID uint64
	Gen      uint64
}

// Info returns the object's layout.
func (o *Object) Info() ObjectInfo {
	o.os.mu.Lock()
	defer o.os.mu.Unlock()
	return ObjectInfo{Type: o.dn.Type, BlkSz: o.dn.DataBlkSz, MaxBlkID: o.dn.MaxBlkID, Gen: o.dn.Gen}
}

// Claim makes object id exist with the given type and block size, as a
// plaintext receive needs: a missing object is created at that id; an
// existing one of another type or block size is emptied and retyped.
func (os *Objset) Claim(id uint64, t format.ObjectType, blkSz uint32, txg uint64) (*Object, error) {
	os.mu.Lock()
	defer os.mu.Unlock()
	if err := os.writable(); err != nil {
		return nil, err
	}
	if id == metaObject || blkSz < format.MinBlockSize || blkSz > format.MaxBlockSize || blkSz%format.MinBlockSize != 0 {
		return nil, fmt.Errorf("claim object %d: bad id or block size %d", id, blkSz)
	}
	o, err := os.object(id)
	if err == nil && o.dn.Type == t && o.dn.DataBlkSz == blkSz {
		return o, nil
	}
	if err == nil {
		// Empty it: every block goes, then the new layout applies.
		o.detachAll()
		for range o.data {
			os.addDirty(-int64(o.dn.DataBlkSz))
		}
		clear(o.data)
		if o.dn.MaxBlkID > 0 || !o.dn.Root.IsZero() {
			o.freePending, o.freeFrom = true, 0
		}
		o.dn.MaxBlkID = 0
	} else {
		o = &Object{os: os, id: id, dn: format.Dnode{NLevels: 1}, bonusOK: true}
		os.objs[id] = o
		if next, err := os.nextID(); err == nil && id >= next {
			os.next = id + 1
		}
	}
	o.dn.Type, o.dn.DataBlkSz, o.dn.Gen = t, blkSz, txg
	o.recordSize = blkSz
	o.dirtyDnode = true
	os.markDirty(o)
	return o, nil
}
