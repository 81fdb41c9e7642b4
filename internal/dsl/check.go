package dsl

import (
	"errors"
	"fmt"
	"sort"

	"coffer/internal/dmu"
	"coffer/internal/format"
	"coffer/internal/pool"
)

// CheckReport is the result of a consistency check.
type CheckReport struct {
	Blocks   uint64   // distinct blocks reached
	Bytes    uint64   // their allocated size
	Problems []string // empty when the pool is consistent
}

// Check verifies the whole pool without keys: every block reachable from
// the metadata reads back and matches its checksum, no two blocks overlap,
// the allocator holds exactly the reachable blocks (no leak, no block
// counted free), and every dataset's referenced space matches its tree.
// It commits first so that the on-disk state is complete.
func (dp *Pool) Check() (CheckReport, error) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if err := dp.txgDo(nil); err != nil {
		return CheckReport{}, err
	}
	var rep CheckReport
	bad := func(f string, a ...any) { rep.Problems = append(rep.Problems, fmt.Sprintf(f, a...)) }
	type ext struct{ vdev, off, size uint64 }
	seen := map[[2]uint64]uint64{}
	var exts []ext
	markRead := func(bp *format.BlockPointer, read bool) bool {
		k := [2]uint64{uint64(bp.Vdev), bp.Offset}
		if sz, ok := seen[k]; ok {
			if sz != pool.ASize(bp) {
				bad("block %v reached with two sizes", bp)
			}
			return false
		}
		seen[k] = pool.ASize(bp)
		exts = append(exts, ext{uint64(bp.Vdev), bp.Offset, pool.ASize(bp)})
		rep.Blocks++
		rep.Bytes += pool.ASize(bp)
		if !read {
			return true
		}
		if _, err := dp.p.ReadStored(bp); err != nil {
			bad("%v: %v", bp, err)
		}
		return true
	}
	mark := func(bp *format.BlockPointer) bool { return markRead(bp, true) }
	mos := dp.p.MOSPointer()
	mark(&mos)
	ids := make([]uint64, 0, len(dp.m.Datasets))
	for id := range dp.m.Datasets {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		r := dp.m.Datasets[id]
		var ref uint64
		err := dmu.Walk(dp.p, r.Root, func(bp *format.BlockPointer) (bool, error) {
			ref += pool.ASize(bp)
			mark(bp)
			return true, nil // walk all: referenced counts shared blocks too
		})
		if err != nil {
			bad("dataset '%s': %v", r.Name, err)
			continue
		}
		if ref != r.Referenced {
			bad("dataset '%s': referenced %d, tree holds %d", r.Name, r.Referenced, ref)
		}
		if r.Type != "snapshot" {
			for _, sid := range r.Snaps {
				s := dp.m.Datasets[sid]
				if s == nil || s.Type != "snapshot" || s.Parent != r.ID {
					bad("dataset '%s': bad snapshot id %d", r.Name, sid)
				}
			}
		}
		if r.Parent != 0 && dp.m.Datasets[r.Parent] == nil {
			bad("dataset '%s': parent %d missing", r.Name, r.Parent)
		}
		if r.Suite != 0 && dp.m.Datasets[r.EncRoot] == nil {
			bad("dataset '%s': encryption root %d missing", r.Name, r.EncRoot)
		}
	}
	for _, id := range ids {
		if st := dp.m.Datasets[id].Resume; st != nil {
			for _, bp := range st.blocks() {
				mark(&bp)
			}
		}
	}
	// A running deep rekey holds blocks it wrote but has not committed yet,
	// and old blocks it still reads; its placements wait while the
	// allocator is read.
	for _, run := range dp.rk {
		run.Lock()
		defer run.Unlock()
		// Only where they lie is kept for them: their extents are
		// counted, not read.
		for _, b := range run.placed {
			markRead(b.bp(), false)
		}
		for _, b := range run.deferred {
			markRead(b.bp(), false)
		}
	}
	sort.Slice(exts, func(i, j int) bool {
		if exts[i].vdev != exts[j].vdev {
			return exts[i].vdev < exts[j].vdev
		}
		return exts[i].off < exts[j].off
	})
	for i := 1; i < len(exts); i++ {
		a, b := exts[i-1], exts[i]
		if a.vdev == b.vdev && a.off+a.size > b.off {
			bad("blocks overlap at %d:%#x", b.vdev, b.off)
		}
	}
	if n := dp.p.PendingFrees(); n != 0 {
		bad("%d frees pending after commit", n)
	}
	// Writers go on during the check: blocks they write ahead of their
	// commit are allocated but not reachable yet (unsettled).
	if a, d := dp.p.SettledBytes(), dp.p.DeferredBytes(); a != rep.Bytes+d {
		bad("allocator holds %d bytes, reachable blocks %d and deferred frees %d (leak or double use)", a, rep.Bytes, d)
	}
	return rep, nil
}

// ErrInconsistent is returned by CheckErr for a pool with problems.
var ErrInconsistent = errors.New("pool is inconsistent")

// CheckErr runs Check and turns problems into an error.
func (dp *Pool) CheckErr() error {
	rep, err := dp.Check()
	if err != nil {
		return err
	}
	if len(rep.Problems) > 0 {
		return fmt.Errorf("%w: %d problems, first: %s", ErrInconsistent, len(rep.Problems), rep.Problems[0])
	}
	return nil
}
