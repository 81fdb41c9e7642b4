package pool

import (
	"fmt"
	"sort"
)

// SectorSize is the allocation unit (ashift 12).
const SectorSize = 4096

func asize(psize uint32) uint64 {
	return (uint64(psize) + SectorSize - 1) &^ (SectorSize - 1)
}

// extent is a free range [off, off+len).
type extent struct{ off, len uint64 }

// allocator hands out space in one top-level vdev: first fit among free
// extents below the high-water mark, else at the mark. It is not persisted:
// import rebuilds it from the blocks reachable from the uberblock (see
// docs/design/on-disk-format.md, "Space").
type allocator struct {
	free      []extent // sorted by off, coalesced, all below end
	end       uint64   // high-water mark
	allocated uint64
}

func (a *allocator) alloc(n uint64) uint64 {
	for i := range a.free {
		e := &a.free[i]
		if e.len >= n {
			off := e.off
			e.off += n
			e.len -= n
			if e.len == 0 {
				a.free = append(a.free[:i], a.free[i+1:]...)
			}
			a.allocated += n
			return off
		}
	}
	off := a.end
	a.end += n
	a.allocated += n
	return off
}

// release returns [off, off+n) to the free set.
func (a *allocator) release(off, n uint64) error {
	if err := a.canRelease(off, n); err != nil {
		return err
	}
	i := sort.Search(len(a.free), func(i int) bool { return a.free[i].off >= off })
	a.allocated -= n
	mergePrev := i > 0 && a.free[i-1].off+a.free[i-1].len == off
	mergeNext := i < len(a.free) && off+n == a.free[i].off
	switch {
	case mergePrev && mergeNext:
		a.free[i-1].len += n + a.free[i].len
		a.free = append(a.free[:i], a.free[i+1:]...)
	case mergePrev:
		a.free[i-1].len += n
	case mergeNext:
		a.free[i].off = off
		a.free[i].len += n
	default:
		a.free = append(a.free, extent{})
		copy(a.free[i+1:], a.free[i:])
		a.free[i] = extent{off, n}
	}
	// Give back a free tail to the high-water mark.
	if l := len(a.free); l > 0 && a.free[l-1].off+a.free[l-1].len == a.end {
		a.end = a.free[l-1].off
		a.free = a.free[:l-1]
	}
	return nil
}

// usedMap collects allocated ranges during import; build turns it into an
// allocator. Overlapping ranges are reported: two live blocks never overlap.
type usedMap struct {
	ranges []extent
}

func (u *usedMap) add(off, n uint64) { u.ranges = append(u.ranges, extent{off, n}) }

func (u *usedMap) build() (*allocator, error) {
	sort.Slice(u.ranges, func(i, j int) bool { return u.ranges[i].off < u.ranges[j].off })
	a := &allocator{}
	var pos uint64
	for i, r := range u.ranges {
		if i > 0 {
			p := u.ranges[i-1]
			if p.off == r.off && p.len == r.len {
				continue // the same block reached twice (shared by snapshots)
			}
			if r.off < pos {
				return nil, fmt.Errorf("blocks overlap at %#x", r.off)
			}
		}
		if r.off > pos {
			a.free = append(a.free, extent{pos, r.off - pos})
		}
		pos = r.off + r.len
		a.allocated += r.len
	}
	a.end = pos
	return a, nil
}

// freeBytes is the free space below the high-water mark.
func (a *allocator) freeBytes() uint64 {
	var n uint64
	for _, e := range a.free {
		n += e.len
	}
	return n
}

// canRelease reports whether [off, off+n) is wholly allocated, i.e. whether
// release would take it.
func (a *allocator) canRelease(off, n uint64) error {
	if off+n > a.end {
		return fmt.Errorf("free of [%#x,+%#x) beyond end %#x", off, n, a.end)
	}
	i := sort.Search(len(a.free), func(i int) bool { return a.free[i].off >= off })
	if i < len(a.free) && off+n > a.free[i].off {
		return fmt.Errorf("double free of [%#x,+%#x)", off, n)
	}
	if i > 0 && a.free[i-1].off+a.free[i-1].len > off {
		return fmt.Errorf("double free of [%#x,+%#x)", off, n)
	}
	return nil
}
