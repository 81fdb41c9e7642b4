package dmu

import (
	"fmt"

	"coffer/internal/format"
	"coffer/internal/pool"
)

// children decodes the child pointers of a structural block, without a key.
// Data blocks have none.
func children(p *pool.Pool, bp *format.BlockPointer) ([]format.BlockPointer, []format.Dnode, error) {
	switch bp.Type {
	case format.TypeData, format.TypeMOS, format.TypeNone:
		return nil, nil, nil
	}
	b, err := p.ReadBlock(bp, nil, nil)
	if err != nil {
		return nil, nil, err
	}
	switch bp.Type {
	case format.TypeObjset:
		var h format.Objset
		if err := h.Decode(b); err != nil {
			return nil, nil, err
		}
		return []format.BlockPointer{h.Meta.Root}, nil, nil
	case format.TypeIndirect:
		if len(b) != format.IndirectSize {
			return nil, nil, fmt.Errorf("indirect block: %w", format.ErrCorrupt)
		}
		bps := make([]format.BlockPointer, format.BPsPerIndirect)
		for i := range bps {
			if err := bps[i].Decode(b[i*format.BPSize:]); err != nil {
				return nil, nil, err
			}
		}
		return bps, nil, nil
	case format.TypeDnode:
		if len(b)%format.DnodeSize != 0 {
			return nil, nil, fmt.Errorf("dnode block: %w", format.ErrCorrupt)
		}
		dns := make([]format.Dnode, len(b)/format.DnodeSize)
		bps := make([]format.BlockPointer, len(dns))
		for i := range dns {
			if err := dns[i].Decode(b[i*format.DnodeSize:]); err != nil {
				return nil, nil, err
			}
			bps[i] = dns[i].Root
		}
		return bps, dns, nil
	}
	return nil, nil, fmt.Errorf("%w: unexpected block type %s", format.ErrCorrupt, bp.Type)
}

// walkTree calls fn for bp and every block beneath it; fn returns false to
// skip a block's children.
func walkTree(p *pool.Pool, bp *format.BlockPointer, fn func(*format.BlockPointer) (bool, error)) error {
	if bp.IsHole() {
		return nil
	}
	descend, err := fn(bp)
	if err != nil || !descend {
		return err
	}
	kids, _, err := children(p, bp)
	if err != nil {
		return err
	}
	for i := range kids {
		if err := walkTree(p, &kids[i], fn); err != nil {
			return err
		}
	}
	return nil
}

// WalkTolerant is Walk that goes on past blocks it cannot read: onErr is
// told about each, and only that block's subtree is skipped. Import uses it
// so that one damaged block does not make a whole pool unimportable.
func WalkTolerant(p *pool.Pool, root format.BlockPointer, fn func(*format.BlockPointer) (bool, error), onErr func(*format.BlockPointer, error)) error {
	var walk func(bp *format.BlockPointer) error
	walk = func(bp *format.BlockPointer) error {
		if bp.IsHole() {
			return nil
		}
		descend, err := fn(bp)
		if err != nil || !descend {
			return err
		}
		kids, _, err := children(p, bp)
		if err != nil {
			onErr(bp, err)
			return nil
		}
		for i := range kids {
			if err := walk(&kids[i]); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(&root)
}

// Walk calls fn for every block of the object set with header root, which
// may be shared with other object sets; fn returns false to skip children.
// It needs no key.
func Walk(p *pool.Pool, root format.BlockPointer, fn func(*format.BlockPointer) (bool, error)) error {
	return walkTree(p, &root, fn)
}

// Diff calls fn for every block of the object set a that was born after
// minBirth and is not also referenced, at the same position, by the object
// set b (b may be a zero pointer). Its cost is proportional to what differs:
// subtrees that are shared, or born at or before minBirth, are not read.
// It needs no key.
func Diff(p *pool.Pool, a, b format.BlockPointer, minBirth uint64, fn func(*format.BlockPointer) error) error {
	return Changes(p, a, b, minBirth, false, func(_ Pos, bp *format.BlockPointer) error { return fn(bp) })
}

// Pos is where a block sits: the object-set header, or (object, level,
// block id) with object 0 the object table.
type Pos struct {
	Header bool
	Obj    uint64
	Level  uint8
	BlkID  uint64
}

// Changes is Diff with positions, in post-order (a block after every block
// beneath it that is reported). With holes, holes born after minBirth that b
// does not have at the same position are reported too.
func Changes(p *pool.Pool, a, b format.BlockPointer, minBirth uint64, holes bool, fn func(Pos, *format.BlockPointer) error) error {
	d := differ{p: p, min: minBirth, fn: fn, holes: holes}
	var bb *format.BlockPointer
	if !b.IsZero() {
		bb = &b
	}
	return d.node(Pos{Header: true}, &a, bb)
}

type differ struct {
	p     *pool.Pool
	min   uint64
	holes bool
	fn    func(Pos, *format.BlockPointer) error
}

// childPos is the position of child i of the block at pos.
func childPos(pos Pos, bp *format.BlockPointer, i int, kid *format.BlockPointer) Pos {
	switch {
	case pos.Header:
		return Pos{Obj: 0, Level: kid.Level}
	case bp.Type == format.TypeDnode:
		return Pos{Obj: pos.BlkID*format.DnodesPerBlock + uint64(i), Level: kid.Level}
	}
	return Pos{Obj: pos.Obj, Level: pos.Level - 1, BlkID: pos.BlkID<<format.IndirectShift | uint64(i)}
}

func (d *differ) node(pos Pos, a, b *format.BlockPointer) error {
	if a.IsHole() {
		if d.holes && !a.IsZero() && a.Birth > d.min && (b == nil || !a.SameBlock(b)) {
			return d.fn(pos, a)
		}
		return nil
	}
	if a.PhysBirth <= d.min {
		return nil
	}
	if b != nil && b.IsHole() {
		b = nil
	}
	// Trees only grow at the top: the old root is child 0 of the new one.
	for b != nil && b.Type == format.TypeIndirect && b.Level > a.Level {
		kids, _, err := children(d.p, b)
		if err != nil {
			return err
		}
		b = &kids[0]
		if b.IsHole() {
			b = nil
		}
	}
	if b != nil && a.SameBlock(b) {
		return nil
	}
	if a.Type != format.TypeData {
		if err := d.kids(pos, a, b); err != nil {
			return err
		}
	}
	return d.fn(pos, a)
}

func (d *differ) kids(pos Pos, a, b *format.BlockPointer) error {
	akids, adns, err := children(d.p, a)
	if err != nil {
		return err
	}
	var bkids []format.BlockPointer
	var bdns []format.Dnode
	sameShape := b != nil && b.Type == a.Type && b.Level == a.Level
	if sameShape {
		bkids, bdns, err = children(d.p, b)
		if err != nil {
			return err
		}
	}
	for i := range akids {
		var bk *format.BlockPointer
		switch {
		case sameShape && i < len(bkids):
			if adns != nil && (bdns[i].Type != adns[i].Type || bdns[i].Gen != adns[i].Gen) {
				break // another object in that slot
			}
			bk = &bkids[i]
		case !sameShape && b != nil && i == 0 && a.Type == format.TypeIndirect && b.Level < a.Level:
			bk = b // a grew since b: b's tree sits under child 0
		}
		if err := d.node(childPos(pos, a, i, &akids[i]), &akids[i], bk); err != nil {
			return err
		}
	}
	return nil
}

// Locator finds blocks by position in one version of an object set,
// caching the structural blocks it reads.
type Locator struct {
	p     *pool.Pool
	root  format.BlockPointer
	cache map[[2]uint64][]format.BlockPointer
}

// NewLocator returns a locator for the object set with header root.
func NewLocator(p *pool.Pool, root format.BlockPointer) *Locator {
	return &Locator{p: p, root: root, cache: map[[2]uint64][]format.BlockPointer{}}
}

func (l *Locator) kids(bp *format.BlockPointer) ([]format.BlockPointer, error) {
	k := [2]uint64{uint64(bp.Vdev), bp.Offset}
	if c, ok := l.cache[k]; ok {
		return c, nil
	}
	c, _, err := children(l.p, bp)
	if err != nil {
		return nil, err
	}
	if len(l.cache) > 4096 {
		clear(l.cache)
	}
	l.cache[k] = c
	return c, nil
}

// At returns the pointer at pos, or a zero pointer when the tree has
// nothing there.
func (l *Locator) At(pos Pos) (format.BlockPointer, error) {
	if pos.Header {
		return l.root, nil
	}
	if l.root.IsHole() {
		return format.BlockPointer{}, nil
	}
	hk, err := l.kids(&l.root)
	if err != nil {
		return format.BlockPointer{}, err
	}
	meta := hk[0]
	if pos.Obj == 0 {
		return l.descend(meta, pos.Level, pos.BlkID)
	}
	dblk, err := l.descend(meta, 0, pos.Obj/format.DnodesPerBlock)
	if err != nil || dblk.IsHole() {
		return format.BlockPointer{}, err
	}
	dk, err := l.kids(&dblk)
	if err != nil {
		return format.BlockPointer{}, err
	}
	slot := pos.Obj % format.DnodesPerBlock
	if int(slot) >= len(dk) {
		return format.BlockPointer{}, nil
	}
	return l.descend(dk[slot], pos.Level, pos.BlkID)
}

// descend walks from an object's root to (level, blkid).
func (l *Locator) descend(root format.BlockPointer, level uint8, blkid uint64) (format.BlockPointer, error) {
	bp := root
	if bp.IsHole() || bp.Level < level {
		return format.BlockPointer{}, nil
	}
	if blkid>>(uint(bp.Level-level)*format.IndirectShift) != 0 {
		return format.BlockPointer{}, nil
	}
	for bp.Level > level {
		if bp.IsHole() {
			return format.BlockPointer{}, nil
		}
		k, err := l.kids(&bp)
		if err != nil {
			return format.BlockPointer{}, err
		}
		shift := uint(bp.Level-1-level) * format.IndirectShift
		bp = k[(blkid>>shift)&(format.BPsPerIndirect-1)]
	}
	return bp, nil
}
