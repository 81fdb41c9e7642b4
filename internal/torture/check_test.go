package torture

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"coffer/internal/format"
	"coffer/internal/pool"
)

// TestCheckDetectsDamage proves that Check is not vacuous: it passes on a
// healthy pool and names the block when a live block of each kind is
// overwritten under the open pool.
func TestCheckDetectsDamage(t *testing.T) {
	seed := testSeed(t)
	for _, kind := range []format.BlockType{format.TypeData, format.TypeIndirect, format.TypeDnode, format.TypeObjset} {
		t.Run(kind.String(), func(t *testing.T) {
			rng := newRand(seed, uint64(kind))
			dir := filepath.Join(t.TempDir(), "v")
			fp := buildFaultPool(t, dir, rng)
			dp := mustImport(t, dir)
			defer dp.Close()
			rep, err := dp.Check()
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Problems) != 0 || rep.Blocks == 0 || rep.Bytes+dp.Raw().DeferredBytes() != dp.Raw().AllocatedBytes() {
				t.Fatalf("healthy pool: %+v, allocated %d", rep, dp.Raw().AllocatedBytes())
			}
			var victim *block
			for i, b := range fp.blocks {
				if b.bp.Type == kind {
					victim = &fp.blocks[i]
					break
				}
			}
			if victim == nil {
				t.Fatalf("no %s block in the pool", kind)
			}
			junk := fill(7, 7, int(victim.bp.PSize))
			writeAt(t, dataPath(dir), int64(victim.bp.Offset), junk)
			rep, err = dp.Check()
			if err != nil {
				t.Fatal(err)
			}
			at := fmt.Sprintf("%d:%#x", victim.bp.Vdev, victim.bp.Offset)
			if len(rep.Problems) == 0 || !strings.Contains(strings.Join(rep.Problems, "\n"), at) {
				t.Fatalf("Check after overwriting %v: %q", victim, rep.Problems)
			}
			t.Logf("%v overwritten: %d problems, first %q", victim, len(rep.Problems), rep.Problems[0])
			if err := dp.CheckErr(); err == nil {
				t.Fatal("CheckErr passes a damaged pool")
			}
		})
	}
	// A block outside the tree does not count: Check still passes when
	// free space is scribbled on.
	t.Run("free space", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "v")
		dp := createPool(t, pool.VdevSpec{Paths: []string{dir}})
		defer dp.Close()
		writeAt(t, dataPath(dir), 64<<20, []byte("scribble"))
		checked(t, dp)
	})
}
