package dsl

import (
	"coffer/internal/dmu"
	"coffer/internal/format"
)

// Scrub verifies every copy of every block of the pool against its checksum
// and repairs bad mirror copies. It needs no keys. The pool metadata block
// is included; a block shared by several versions is checked once.
//
// Commits wait while a scrub runs, so that no block it is about to read is
// freed and reused under it.
func (dp *Pool) Scrub() error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	roots := make([]format.BlockPointer, 0, len(dp.m.Datasets))
	for _, r := range dp.m.Datasets {
		roots = append(roots, r.Root)
	}
	mos := dp.p.MOSPointer()
	dp.p.ScrubBlock(&mos)
	seen := map[[2]uint64]bool{}
	for _, root := range roots {
		err := dmu.Walk(dp.p, root, func(bp *format.BlockPointer) (bool, error) {
			k := [2]uint64{uint64(bp.Vdev), bp.Offset}
			if seen[k] {
				return false, nil
			}
			seen[k] = true
			dp.p.ScrubBlock(bp)
			return true, nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}
