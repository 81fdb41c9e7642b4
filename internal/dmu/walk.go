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
	d := differ{p: p, min: minBirth, fn: fn}
	var bb *format.BlockPointer
	if !b.IsZero() {
		bb = &b
	}
	return d.node(&a, bb)
}

type differ struct {
	p   *pool.Pool
	min uint64
	fn  func(*format.BlockPointer) error
}

func (d *differ) node(a, b *format.BlockPointer) error {
	if a.IsHole() || a.PhysBirth <= d.min {
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
	if err := d.fn(a); err != nil {
		return err
	}
	if a.Type == format.TypeData {
		return nil
	}
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
		if err := d.node(&akids[i], bk); err != nil {
			return err
		}
	}
	return nil
}
