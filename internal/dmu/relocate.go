package dmu

import (
	"bytes"
	"fmt"

	"coffer/internal/format"
)

// Relocate rewrites, in the logical bytes of the structural block bp at
// pos, every child pointer with the one resolve returns for the child's
// position. The resolved pointer must have the same portable form as the
// child the block carries (same block, another address), or the block does
// not fit and Relocate fails. Raw receive uses it: children arrive before
// their parents, at new addresses.
func Relocate(logical []byte, bp *format.BlockPointer, pos Pos, resolve func(Pos) (format.BlockPointer, error)) error {
	type slot struct {
		off int
		i   int
	}
	var slots []slot
	switch bp.Type {
	case format.TypeObjset:
		if len(logical) < format.ObjsetSize {
			return fmt.Errorf("objset header: %w", format.ErrCorrupt)
		}
		slots = []slot{{32 + 32, 0}}
	case format.TypeIndirect:
		if len(logical) != format.IndirectSize {
			return fmt.Errorf("indirect block: %w", format.ErrCorrupt)
		}
		for i := 0; i < format.BPsPerIndirect; i++ {
			slots = append(slots, slot{i * format.BPSize, i})
		}
	case format.TypeDnode:
		if len(logical)%format.DnodeSize != 0 {
			return fmt.Errorf("dnode block: %w", format.ErrCorrupt)
		}
		for i := 0; i*format.DnodeSize < len(logical); i++ {
			if logical[i*format.DnodeSize] != 0 {
				slots = append(slots, slot{i*format.DnodeSize + 32, i})
			}
		}
	default:
		return nil
	}
	var want, got [format.BPSize]byte
	for _, s := range slots {
		var child format.BlockPointer
		if err := child.Decode(logical[s.off:]); err != nil {
			return err
		}
		if child.IsHole() {
			continue
		}
		cpos := childPos(pos, bp, s.i, &child)
		nb, err := resolve(cpos)
		if err != nil {
			return err
		}
		child.Portable(want[:])
		nb.Portable(got[:])
		if nb.IsHole() || !bytes.Equal(want[:], got[:]) {
			return fmt.Errorf("block at %+v does not match its parent", cpos)
		}
		nb.Encode(logical[s.off:])
	}
	return nil
}
