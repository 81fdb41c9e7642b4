package vdev

import (
	"errors"
	"fmt"
	"sync"
)

// ErrChecksum means no copy of a block passed verification.
var ErrChecksum = errors.New("checksum mismatch")

// Vdev states, as zpool status shows them.
const (
	StateOnline   = "ONLINE"
	StateDegraded = "DEGRADED"
	StateFaulted  = "FAULTED"
)

// Status is the health of a vdev for pool status.
type Status struct {
	Name        string   `json:"name"`  // "mirror-N" or the leaf's path
	State       string   `json:"state"` // StateOnline, StateDegraded, StateFaulted
	ReadErrors  uint64   `json:"read_errors"`
	WriteErrors uint64   `json:"write_errors"`
	CksumErrors uint64   `json:"cksum_errors"`
	Repaired    uint64   `json:"repaired"` // bytes rewritten from a good copy
	Children    []Status `json:"children,omitempty"`
}

func (s *Status) addCounters(c *counters) {
	s.ReadErrors += c.read.Load()
	s.WriteErrors += c.write.Load()
	s.CksumErrors += c.cksum.Load()
	s.Repaired += c.repaired.Load()
}

// Top is a top-level vdev: a single leaf, or a mirror of leaves holding
// every block at the same offset. Its methods are safe for concurrent use;
// the caller must not write a range while it reads or repairs that range
// (the pool's copy-on-write allocator guarantees this).
type Top struct {
	index  int
	mirror bool
	leaves []*Leaf
	// Errors no child could absorb: reads with no good copy, writes that
	// failed on every child. Children's own counters are on the leaves.
	cnt counters
}

// NewTop makes top-level vdev number index out of leaves: exactly one leaf
// unless mirror. It panics on a wrong number of leaves (a programmer bug).
func NewTop(index int, mirror bool, leaves []*Leaf) *Top {
	if len(leaves) == 0 || (!mirror && len(leaves) != 1) {
		panic(fmt.Sprintf("vdev.NewTop: %d leaves, mirror=%v", len(leaves), mirror))
	}
	return &Top{index: index, mirror: mirror, leaves: append([]*Leaf(nil), leaves...)}
}

// Leaves returns the children (for a single vdev, the one leaf).
func (t *Top) Leaves() []*Leaf { return append([]*Leaf(nil), t.leaves...) }

// Mirror reports whether t is a mirror.
func (t *Top) Mirror() bool { return t.mirror }

// Index returns the position of t among the pool's top-level vdevs.
func (t *Top) Index() int { return t.index }

// Name is "mirror-N" for a mirror and the leaf's path otherwise.
func (t *Top) Name() string {
	if t.mirror {
		return fmt.Sprintf("mirror-%d", t.index)
	}
	return t.leaves[0].dir
}

// readOrder lists the children to read: healthy ones in order, then, when
// a verifier can reject stale data, faulted ones as a last resort (blocks
// written before the fault are still good there).
func (t *Top) readOrder(withVerify bool) []*Leaf {
	order := make([]*Leaf, 0, len(t.leaves))
	for _, l := range t.leaves {
		if !l.faulted.Load() {
			order = append(order, l)
		}
	}
	if withVerify {
		for _, l := range t.leaves {
			if l.faulted.Load() {
				order = append(order, l)
			}
		}
	}
	return order
}

// ReadAt reads the block at off into p and checks it with verify (nil means
// no check). When a child fails to read or verify, the next is tried; once
// one verifies, the failed healthy children are rewritten with the good copy
// (self-healing: counted in their checksum or read errors and in Repaired)
// and ReadAt returns nil. When no copy verifies the error wraps ErrChecksum;
// when no child could be read at all, it wraps the last I/O error.
func (t *Top) ReadAt(p []byte, off int64, verify func([]byte) bool) error {
	return t.readAt(p, off, verify, false)
}

// ReadAtCold is ReadAt for a block of a sequential reader: each child
// reads it with Leaf.ReadAtCold, past the host's page cache when it is not
// there. It may write into p up to cap(p).
func (t *Top) ReadAtCold(p []byte, off int64, verify func([]byte) bool) error {
	return t.readAt(p, off, verify, true)
}

// ReadRunCold reads the run of blocks at [off, off+len(p)) with one
// read from the first child in read order, as Leaf.ReadAtCold does (it may
// write into p up to cap(p)). Nothing is verified, counted or repaired:
// the caller checks each block and reads one that fails again with
// ReadAtCold, which does all three.
func (t *Top) ReadRunCold(p []byte, off int64) error {
	order := t.readOrder(false)
	if len(order) == 0 {
		return fmt.Errorf("%s: no healthy child", t.Name())
	}
	return order[0].readRunCold(p, off)
}

func (t *Top) readAt(p []byte, off int64, verify func([]byte) bool, cold bool) error {
	var bad []*Leaf
	var ioErr error
	sawData := false
	for _, l := range t.readOrder(verify != nil) {
		read := l.ReadAt
		if cold {
			read = l.ReadAtCold
		}
		if err := read(p, off); err != nil {
			ioErr = err
			bad = append(bad, l)
			continue
		}
		if verify != nil && !verify(p) {
			sawData = true
			l.cnt.cksum.Add(1)
			bad = append(bad, l)
			continue
		}
		t.heal(bad, p, off)
		return nil
	}
	if sawData || ioErr == nil {
		t.cnt.cksum.Add(1)
		return fmt.Errorf("%s: block at %d: %w", t.Name(), off, ErrChecksum)
	}
	t.cnt.read.Add(1)
	return fmt.Errorf("%s: block at %d: %w", t.Name(), off, ioErr)
}

// heal rewrites good at off on the healthy children in bad and returns how
// many were repaired. A faulted child is not rewritten: it is stale anyway.
func (t *Top) heal(bad []*Leaf, good []byte, off int64) int {
	n := 0
	for _, l := range bad {
		if l.faulted.Load() {
			continue
		}
		if l.WriteAt(good, off) == nil {
			l.cnt.repaired.Add(uint64(len(good)))
			n++
		}
	}
	return n
}

// WriteAt writes p at off on every healthy child. A child whose write fails
// while another's succeeds has missed the block: it is marked FAULTED and
// no longer written or preferred for reads. WriteAt fails only when no
// child took the write; then nothing is faulted, so the caller may retry.
func (t *Top) WriteAt(p []byte, off int64) error {
	return t.each("write", func(l *Leaf) error { return l.WriteAt(p, off) }, true, false)
}

// Sync flushes every healthy child concurrently. Failures are handled as in
// WriteAt: a child that lost data others have is faulted.
func (t *Top) Sync() error {
	return t.each("sync", (*Leaf).Sync, true, true)
}

// Free frees [off, off+n) on every healthy child. Freeing is advisory; it
// fails only when it failed on every child, and faults nothing.
func (t *Top) Free(off, n int64) error {
	return t.each("free", func(l *Leaf) error { return l.Free(off, n) }, false, false)
}

// each runs op on every healthy child (concurrently if parallel) and
// succeeds when at least one child succeeded. With fault set, children that
// failed while another succeeded are marked faulted.
func (t *Top) each(what string, op func(*Leaf) error, fault, parallel bool) error {
	healthy := t.readOrder(false)
	if len(healthy) == 0 {
		t.cnt.write.Add(1)
		return fmt.Errorf("%s: %s: all children are faulted", t.Name(), what)
	}
	errs := make([]error, len(healthy))
	if parallel && len(healthy) > 1 {
		var wg sync.WaitGroup
		for i, l := range healthy {
			wg.Go(func() { errs[i] = op(l) })
		}
		wg.Wait()
	} else {
		for i, l := range healthy {
			errs[i] = op(l)
		}
	}
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		}
	}
	if ok == 0 {
		if fault {
			t.cnt.write.Add(1)
		}
		return fmt.Errorf("%s: %w", t.Name(), errs[0])
	}
	if fault {
		for i, err := range errs {
			if err != nil {
				healthy[i].faulted.Store(true)
			}
		}
	}
	return nil
}

// Repair reads the block at off from every healthy child and verifies each
// copy independently (scrub). Children that fail are rewritten from a good
// copy, which is also left in p. It returns the number of children
// repaired. With no good copy the error wraps ErrChecksum (or the I/O error
// when nothing could be read). A nil verify accepts any copy that reads,
// repairing only children with I/O errors.
func (t *Top) Repair(p []byte, off int64, verify func([]byte) bool) (repaired int, err error) {
	var bad []*Leaf
	var ioErr error
	var scratch []byte // for the copies read after p holds a good one
	good, sawData := false, false
	for _, l := range t.readOrder(false) {
		buf := p
		if good {
			if scratch == nil {
				scratch = make([]byte, len(p))
			}
			buf = scratch
		}
		if err := l.ReadAt(buf, off); err != nil {
			ioErr = err
			bad = append(bad, l)
			continue
		}
		if verify != nil && !verify(buf) {
			sawData = true
			l.cnt.cksum.Add(1)
			bad = append(bad, l)
			continue
		}
		good = true
	}
	if !good && verify != nil {
		// Last resort: a faulted child may still hold an old, good copy.
		for _, l := range t.leaves {
			if l.faulted.Load() && l.ReadAt(p, off) == nil && verify(p) {
				good = true
				break
			}
		}
	}
	if !good {
		if sawData || ioErr == nil {
			t.cnt.cksum.Add(1)
			return 0, fmt.Errorf("%s: block at %d: %w", t.Name(), off, ErrChecksum)
		}
		t.cnt.read.Add(1)
		return 0, fmt.Errorf("%s: block at %d: %w", t.Name(), off, ioErr)
	}
	return t.heal(bad, p, off), nil
}

// Status reports the state and counters of t. A single vdev reports its
// leaf; a mirror is ONLINE when every child is, FAULTED when none is, and
// DEGRADED in between; its own counters count only the errors no child
// could absorb (the children's counters show the rest).
func (t *Top) Status() Status {
	if !t.mirror {
		// The leaf's counters already include every error of a single vdev.
		return t.leaves[0].Status()
	}
	st := Status{Name: t.Name()}
	online := 0
	for _, l := range t.leaves {
		cs := l.Status()
		if cs.State == StateOnline {
			online++
		}
		st.Children = append(st.Children, cs)
	}
	switch online {
	case len(t.leaves):
		st.State = StateOnline
	case 0:
		st.State = StateFaulted
	default:
		st.State = StateDegraded
	}
	st.addCounters(&t.cnt)
	return st
}
