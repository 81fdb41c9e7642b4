package dmu

import (
	"errors"
	"fmt"
	"runtime"
	"sync"

	"coffer/internal/compress"
	"coffer/internal/crypto"
	"coffer/internal/format"
	"coffer/internal/pool"
)

// Rewrite copies one version of an object set into a new tree protected by
// another master key (deep rekey, docs/design/crypto.md "Deep rekey"). Every
// block is read and authenticated with Old and written anew with New at a
// new address, keeping its logical and physical births, its fill and its
// position, so that every birth-based walk (snapshot space, destroy, send)
// sees the same tree. Data blocks and dnode bonus buffers are re-encrypted;
// structural blocks are re-MACed over their new children.
type Rewrite struct {
	Pool     *pool.Pool
	Old, New *crypto.DatasetKey
	// Share, when set, is an already rewritten older version of the same
	// object set: a subtree whose root was born at or before ShareTxg is the
	// same in both versions, so its new copy is taken from Share at the
	// same position instead of being written again.
	Share    *Locator
	ShareTxg uint64
	// Placed is told about every block allocated, before it is written and
	// referenced anywhere (so that an abandoned rewrite can free them). It
	// may be called from several goroutines.
	Placed func(bp *format.BlockPointer)
	// Guard, when set, is held around each allocation and its Placed call
	// (not the write), so that a consistency check sees no block allocated
	// but unrecorded.
	Guard sync.Locker
	// Done is called, from the calling goroutine, after each block is
	// rewritten; an error stops the rewrite.
	Done func(bp *format.BlockPointer) error
}

// Tree rewrites the object set with header root and returns the new
// header's pointer.
func (rw *Rewrite) Tree(root format.BlockPointer) (format.BlockPointer, error) {
	if rw.Old == nil || rw.New == nil || rw.Old.Suite() != rw.New.Suite() {
		return format.BlockPointer{}, errors.New("rewrite: both keys of one suite are needed")
	}
	return rw.node(Pos{Header: true}, &root)
}

func (rw *Rewrite) place(stored []byte, bp *format.BlockPointer) error {
	if rw.Guard != nil {
		rw.Guard.Lock()
	}
	rw.Pool.Alloc(bp)
	if rw.Placed != nil {
		rw.Placed(bp)
	}
	if rw.Guard != nil {
		rw.Guard.Unlock()
	}
	err := rw.Pool.WriteStored(bp, stored)
	pool.PutBuf(stored)
	return err
}

func (rw *Rewrite) done(bp *format.BlockPointer) error {
	if rw.Done != nil {
		return rw.Done(bp)
	}
	return nil
}

// shared returns the new copy of a subtree both versions hold.
func (rw *Rewrite) shared(pos Pos, bp *format.BlockPointer) (format.BlockPointer, bool, error) {
	if rw.Share == nil || bp.PhysBirth > rw.ShareTxg {
		return format.BlockPointer{}, false, nil
	}
	nb, err := rw.Share.At(pos)
	if err != nil {
		return nb, false, err
	}
	if nb.IsHole() || nb.Type != bp.Type || nb.Level != bp.Level || nb.LSize != bp.LSize ||
		nb.Birth != bp.Birth || nb.PhysBirth != bp.PhysBirth || nb.Fill != bp.Fill {
		return nb, false, fmt.Errorf("rewrite: %w: block at %+v is not in the older version", format.ErrCorrupt, pos)
	}
	return nb, true, nil
}

func (rw *Rewrite) node(pos Pos, bp *format.BlockPointer) (format.BlockPointer, error) {
	if bp.IsHole() {
		return *bp, nil
	}
	if nb, ok, err := rw.shared(pos, bp); err != nil || ok {
		return nb, err
	}
	if bp.Type == format.TypeData {
		nb, err := rw.data(pos, bp)
		if err != nil {
			return nb, err
		}
		return nb, rw.done(&nb)
	}
	var oldAD, newAD []byte
	if pos.Header {
		oldAD, newAD = headerAD(rw.Old.GUID()), headerAD(rw.New.GUID())
	} else {
		oldAD = blockAD(rw.Old.GUID(), pos.Obj, pos.Level, pos.BlkID, bp.Birth)
		newAD = blockAD(rw.New.GUID(), pos.Obj, pos.Level, pos.BlkID, bp.Birth)
	}
	b, err := rw.Pool.ReadBlock(bp, rw.Old, oldAD)
	if err != nil {
		return format.BlockPointer{}, err
	}
	logical := append([]byte(nil), b...)
	switch bp.Type {
	case format.TypeObjset:
		var h format.Objset
		if err := h.Decode(logical); err != nil {
			return format.BlockPointer{}, err
		}
		if h.KeyGUID != rw.Old.GUID() {
			return format.BlockPointer{}, fmt.Errorf("rewrite: %w: header names another key", format.ErrCorrupt)
		}
		if err := rw.bonus(&h.Meta, metaObject); err != nil {
			return format.BlockPointer{}, err
		}
		nr, err := rw.node(Pos{Obj: metaObject, Level: h.Meta.Root.Level}, &h.Meta.Root)
		if err != nil {
			return format.BlockPointer{}, err
		}
		h.Meta.Root = nr
		h.KeyGUID = rw.New.GUID()
		logical = h.Encode()
	case format.TypeIndirect:
		if len(logical) != format.IndirectSize {
			return format.BlockPointer{}, fmt.Errorf("indirect block: %w", format.ErrCorrupt)
		}
		if err := rw.indirect(pos, bp, logical); err != nil {
			return format.BlockPointer{}, err
		}
	case format.TypeDnode:
		if len(logical)%format.DnodeSize != 0 {
			return format.BlockPointer{}, fmt.Errorf("dnode block: %w", format.ErrCorrupt)
		}
		for i := 0; i*format.DnodeSize < len(logical); i++ {
			enc := logical[i*format.DnodeSize : (i+1)*format.DnodeSize]
			var dn format.Dnode
			if err := dn.Decode(enc); err != nil {
				return format.BlockPointer{}, err
			}
			if dn.IsFree() {
				continue
			}
			obj := pos.BlkID*format.DnodesPerBlock + uint64(i)
			if err := rw.bonus(&dn, obj); err != nil {
				return format.BlockPointer{}, err
			}
			nr, err := rw.node(childPos(pos, bp, i, &dn.Root), &dn.Root)
			if err != nil {
				return format.BlockPointer{}, err
			}
			dn.Root = nr
			dn.Encode(enc)
		}
	default:
		return format.BlockPointer{}, fmt.Errorf("rewrite: %w: unexpected block type %s", format.ErrCorrupt, bp.Type)
	}
	spec := pool.BlockSpec{Type: bp.Type, Level: bp.Level, Compress: compress.LZ4, Fill: bp.Fill,
		Key: rw.New, AD: newAD, Birth: bp.Birth, Cksum: bp.CksumAlg} // a rewritten block keeps its checksum algorithm, as Recrypt does
	stored, nb, err := pool.Encode(bp.PhysBirth, spec, logical)
	if err != nil {
		return format.BlockPointer{}, err
	}
	if err := rw.place(stored, &nb); err != nil {
		return format.BlockPointer{}, err
	}
	return nb, rw.done(&nb)
}

// data re-encrypts one data block.
func (rw *Rewrite) data(pos Pos, bp *format.BlockPointer) (format.BlockPointer, error) {
	stored, err := rw.Pool.ReadStored(bp)
	if err != nil {
		return format.BlockPointer{}, err
	}
	ct, nb, err := pool.Recrypt(bp, stored,
		rw.Old, blockAD(rw.Old.GUID(), pos.Obj, pos.Level, pos.BlkID, bp.Birth),
		rw.New, blockAD(rw.New.GUID(), pos.Obj, pos.Level, pos.BlkID, bp.Birth))
	if err != nil {
		return format.BlockPointer{}, err
	}
	if err := rw.place(ct, &nb); err != nil {
		return format.BlockPointer{}, err
	}
	return nb, nil
}

// indirect rewrites the children of an indirect block in place in its
// logical bytes. Data children are re-encrypted in parallel.
func (rw *Rewrite) indirect(pos Pos, bp *format.BlockPointer, logical []byte) error {
	kids := make([]format.BlockPointer, format.BPsPerIndirect)
	for i := range kids {
		if err := kids[i].Decode(logical[i*format.BPSize:]); err != nil {
			return err
		}
	}
	out := make([]format.BlockPointer, len(kids))
	errs := make([]error, len(kids))
	var par []int
	for i := range kids {
		k := &kids[i]
		cpos := childPos(pos, bp, i, k)
		if k.IsHole() {
			out[i] = *k
			continue
		}
		if nb, ok, err := rw.shared(cpos, k); err != nil || ok {
			out[i], errs[i] = nb, err
			continue
		}
		if k.Type == format.TypeData {
			par = append(par, i)
			continue
		}
		out[i], errs[i] = rw.node(cpos, k)
		if errs[i] != nil {
			return errs[i]
		}
	}
	if len(par) > 0 {
		work := make(chan int)
		var wg sync.WaitGroup
		for w := 0; w < min(runtime.NumCPU(), len(par)); w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					out[i], errs[i] = rw.data(childPos(pos, bp, i, &kids[i]), &kids[i])
				}
			}()
		}
		for _, i := range par {
			work <- i
		}
		close(work)
		wg.Wait()
	}
	for i := range out {
		if errs[i] != nil {
			return errs[i]
		}
	}
	for _, i := range par {
		if err := rw.done(&out[i]); err != nil {
			return err
		}
	}
	for i := range out {
		out[i].Encode(logical[i*format.BPSize:])
	}
	return nil
}

// bonus re-encrypts an encrypted dnode bonus in place.
func (rw *Rewrite) bonus(dn *format.Dnode, obj uint64) error {
	if dn.Flags&format.DnodeFlagCrypt == 0 {
		return nil
	}
	var iv [crypto.IVLen]byte
	var mac [crypto.MACLen]byte
	var salt [crypto.SaltLen]byte
	copy(iv[:], dn.Bonus[0:12])
	copy(mac[:], dn.Bonus[12:28])
	copy(salt[:], dn.Bonus[28:36])
	if int(dn.BonusLen) > format.BonusArea-36 {
		return fmt.Errorf("object %d bonus: %w", obj, format.ErrCorrupt)
	}
	pt, err := rw.Old.Open(crypto.PurposeBonus, dn.Bonus[36:36+int(dn.BonusLen)], iv, salt, mac, bonusAD(rw.Old.GUID(), obj, dn.Gen))
	if err != nil {
		return fmt.Errorf("object %d bonus: %w", obj, pool.ErrDamaged)
	}
	ct, iv, salt, mac, err := rw.New.Seal(crypto.PurposeBonus, pt, bonusAD(rw.New.GUID(), obj, dn.Gen))
	clear(pt)
	if err != nil {
		return err
	}
	dn.Bonus = [format.BonusArea]byte{}
	copy(dn.Bonus[0:12], iv[:])
	copy(dn.Bonus[12:28], mac[:])
	copy(dn.Bonus[28:36], salt[:])
	copy(dn.Bonus[36:], ct)
	return nil
}

// Rekey switches a live object set to another master key: under the object
// set's lock (writers wait), pending changes are written in txg, rewrite
// turns the resulting tree into one protected by key, and the object set
// continues on the new tree; cached objects stay valid (their dnodes are
// reloaded from the new tree). It returns the tree before and after. On
// error the object set keeps its old key and tree (synced in txg).
func (os *Objset) Rekey(txg uint64, key *crypto.DatasetKey, rewrite func(old format.BlockPointer) (format.BlockPointer, error)) (old, nu format.BlockPointer, err error) {
	os.mu.Lock()
	defer os.mu.Unlock()
	if os.readOnly || os.key == nil {
		return os.root, format.BlockPointer{}, ErrReadOnly
	}
	if len(os.dirty) > 0 || os.root.IsZero() {
		if _, err := os.syncLocked(txg); err != nil {
			return os.root, format.BlockPointer{}, err
		}
	}
	old = os.root
	nu, err = rewrite(old)
	if err != nil {
		return old, format.BlockPointer{}, err
	}
	if err := os.switchTo(nu, key); err != nil {
		return old, nu, err
	}
	return old, nu, nil
}

// Retarget moves a read-only object set (an open snapshot) to the same
// version rewritten under another key by a deep rekey: reads go to the new
// tree from then on, and cached objects stay valid. On error it keeps the
// old tree.
func (os *Objset) Retarget(root format.BlockPointer, key *crypto.DatasetKey) error {
	os.mu.Lock()
	defer os.mu.Unlock()
	if !os.readOnly {
		return errors.New("retarget of a writable object set")
	}
	return os.switchTo(root, key)
}

// switchTo makes the object set continue on tree nu protected by key; os.mu
// held, nothing dirty.
func (os *Objset) switchTo(nu format.BlockPointer, key *crypto.DatasetKey) error {
	// Read everything the new tree must provide before changing anything.
	b, err := os.pool.ReadBlock(&nu, key, headerAD(key.GUID()))
	if err != nil {
		return fmt.Errorf("read rewritten object set: %w", err)
	}
	var hdr format.Objset
	if err := hdr.Decode(b); err != nil {
		return err
	}
	tmp := newObjset(os.pool, Options{Key: key})
	tmp.meta = &Object{os: tmp, id: metaObject, dn: hdr.Meta}
	dns := map[uint64]format.Dnode{}
	for id := range os.objs {
		blk, h, err := tmp.meta.readBlock(id / format.DnodesPerBlock)
		if err != nil {
			return err
		}
		var dn format.Dnode
		err = dn.Decode(blk[(id%format.DnodesPerBlock)*format.DnodeSize:])
		h.Release()
		if err != nil {
			return err
		}
		if dn.IsFree() {
			return fmt.Errorf("rewritten object set: %w: object %d missing", format.ErrCorrupt, id)
		}
		dns[id] = dn
	}
	os.key, os.keyGUID = key, key.GUID()
	os.root = nu
	os.meta.dn, os.meta.ind = hdr.Meta, nil
	for id, o := range os.objs {
		o.dn, o.ind = dns[id], nil
	}
	return nil
}
