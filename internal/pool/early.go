package pool

import (
	"fmt"

	"coffer/internal/format"
)

// Write-behind: the DMU encodes and writes full data blocks while their txg
// is still open, so that a commit finds most of its data on disk already
// and only has to sync it. Such a block is referenced by nothing until the
// commit adopts it; a crash before that commit leaves its space unreferenced,
// and import rebuilds the allocator from reachable blocks only, so it is
// free again.

// AllocEarly is Alloc for a block written ahead of the commit that will
// reference it: the caller writes it with WriteStored (and gives it back
// with Unplace if that fails). Its space stays unsettled until Adopt or
// Unplace.
func (p *Pool) AllocEarly(bp *format.BlockPointer) {
	p.alloc1(bp, true)
}

// Adopt settles a block of AllocEarly that a txg now references.
func (p *Pool) Adopt(bp *format.BlockPointer) {
	p.mu.Lock()
	p.unsettled -= min(asize(bp.PSize), p.unsettled)
	p.mu.Unlock()
}

// Unplace gives the space of a block of AllocEarly back at once: nothing
// ever referenced it, so no uberblock can reach it.
func (p *Pool) Unplace(bp *format.BlockPointer) error {
	if err := p.releaseSorted([]format.BlockPointer{*bp}); err != nil {
		return fmt.Errorf("give back early block %d:%#x: %w", bp.Vdev, bp.Offset, err)
	}
	p.mu.Lock()
	p.unsettled -= min(asize(bp.PSize), p.unsettled)
	p.mu.Unlock()
	return nil
}

// UnsettledBytes is the space of written-ahead blocks not yet adopted.
func (p *Pool) UnsettledBytes() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.unsettled
}

// AddDirty adjusts the pool-wide count of dirty bytes (object sets report
// their changes), read by DirtyBytes without any dataset lock.
func (p *Pool) AddDirty(n int64) { p.dirty.Add(n) }

// DirtyBytes is the dirty data of all object sets, a hint for throttling.
func (p *Pool) DirtyBytes() int64 { return p.dirty.Load() }

// SettledBytes is AllocatedBytes without the blocks written ahead of their
// commit, read at one instant.
func (p *Pool) SettledBytes() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n uint64
	for _, a := range p.alloc {
		n += a.allocated
	}
	return n - min(p.unsettled, n)
}
