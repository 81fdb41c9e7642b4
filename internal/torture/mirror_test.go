package torture

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"coffer/internal/dsl"
	"coffer/internal/format"
	"coffer/internal/pool"
	"coffer/internal/vdev"
)

// mirrorPool is a closed mirror pool with files, a snapshot holding
// overwritten blocks, and the list of its live blocks.
type mirrorPool struct {
	dirs   []string
	files  []file
	blocks []block
}

func buildMirrorPool(t *testing.T, base string, width int, rng *rand.Rand) mirrorPool {
	t.Helper()
	mp := mirrorPool{}
	for i := 0; i < width; i++ {
		mp.dirs = append(mp.dirs, filepath.Join(base, fmt.Sprintf("m%d", i)))
	}
	dp := createPool(t, pool.VdevSpec{Mirror: true, Paths: mp.dirs})
	if err := dp.Create(nil, "tank/plain", dsl.CreateOpts{Props: plainProps("lz4")}); err != nil {
		t.Fatal(err)
	}
	if err := dp.Create(nil, "tank/enc", dsl.CreateOpts{Props: encProps("off"), Key: []byte(passphrase)}); err != nil {
		t.Fatal(err)
	}
	for _, ds := range []string{"tank/plain", "tank/enc"} {
		mp.files = append(mp.files, writeFiles(t, dp, ds, 10, rng)...)
	}
	if err := dp.Sync(); err != nil {
		t.Fatal(err)
	}
	// A snapshot, then overwrite the first files: the snapshot alone
	// holds their old blocks.
	if err := dp.Snapshot([]string{"tank/plain@old", "tank/enc@old"}, false, nil); err != nil {
		t.Fatal(err)
	}
	for i := range mp.files {
		f := &mp.files[i]
		if i%10 > 2 {
			continue
		}
		os, _ := dp.Objset(f.ds)
		o, err := os.Object(f.id)
		if err != nil {
			t.Fatal(err)
		}
		f.data = fill(f.id, 99, len(f.data))
		if err := o.Write(f.data, 0); err != nil {
			t.Fatal(err)
		}
	}
	checked(t, dp) // commits
	roots := rootsOf(t, dp, "tank/plain", "tank/enc")
	for _, s := range []string{"tank/plain@old", "tank/enc@old"} {
		sos, err := dp.SnapshotObjset(s)
		if err != nil {
			t.Fatal(err)
		}
		roots = append(roots, sos.Root())
	}
	mp.blocks = liveBlocks(t, dp, roots)
	if err := dp.Close(); err != nil {
		t.Fatal(err)
	}
	return mp
}

// leafTotals sums the counters of every leaf of the first top-level vdev.
func leafTotals(dp *dsl.Pool) (st vdev.Status) {
	top := dp.Raw().Status()[0]
	for _, c := range top.Children {
		st.ReadErrors += c.ReadErrors
		st.WriteErrors += c.WriteErrors
		st.CksumErrors += c.CksumErrors
		st.Repaired += c.Repaired
	}
	return st
}

func scrub(t *testing.T, dp *dsl.Pool) pool.ScrubSnapshot {
	t.Helper()
	dp.Raw().ScrubBegin()
	if err := dp.Scrub(); err != nil {
		t.Fatal(err)
	}
	dp.Raw().ScrubEnd()
	return dp.Raw().ScrubInfo()
}

// identical fails when the children differ over any live block.
func identical(t *testing.T, dirs []string, blocks []block) {
	t.Helper()
	diff := 0
	for _, b := range blocks {
		ref := fileBytes(t, dataPath(dirs[0]), int64(b.bp.Offset), int(b.bp.PSize))
		for _, d := range dirs[1:] {
			if !bytes.Equal(ref, fileBytes(t, dataPath(d), int64(b.bp.Offset), int(b.bp.PSize))) {
				diff++
				if diff < 5 {
					t.Errorf("block %v differs between %s and %s", b, dirs[0], d)
				}
			}
		}
	}
	if diff > 0 {
		t.Errorf("%d live block copies differ after scrub", diff)
	}
}

// TestMirrorRepair damages different random blocks on each child of 2- and
// 3-way mirrors (never every copy of a block; metadata included), then
// checks that import works, every read is right, scrub repairs every copy
// (the counters add up to exactly the damage done), the children end up
// identical over every live block, a second scrub finds nothing, and Check
// passes.
func TestMirrorRepair(t *testing.T) {
	seed := testSeed(t)
	for _, width := range []int{2, 3} {
		for _, scrubFirst := range []bool{false, true} {
			name := fmt.Sprintf("%d-way/read-then-scrub", width)
			if scrubFirst {
				name = fmt.Sprintf("%d-way/scrub-then-read", width)
			}
			t.Run(name, func(t *testing.T) {
				rng := newRand(seed, uint64(20+width*2)+map[bool]uint64{false: 0, true: 1}[scrubFirst])
				mp := buildMirrorPool(t, t.TempDir(), width, rng)
				copies, bytesHurt := 0, uint64(0)
				meta := 0
				for i, b := range mp.blocks {
					if i > 0 && rng.IntN(10) >= 4 { // the MOS (first) always
						continue
					}
					// A random non-empty, proper subset of the children.
					k := 1 + rng.IntN(width-1)
					for _, c := range rng.Perm(width)[:k] {
						damage(t, dataPath(mp.dirs[c]), int64(b.bp.Offset), int(b.bp.PSize), rng)
						copies++
						bytesHurt += uint64(b.bp.PSize)
					}
					if b.bp.Type != format.TypeData {
						meta++
					}
				}
				t.Logf("%d live blocks, %d copies damaged (%d bytes), %d damaged blocks are metadata", len(mp.blocks), copies, bytesHurt, meta)
				dp := mustImport(t, mp.dirs...)
				defer dp.Close()
				if err := dp.LoadKey("tank/enc", false, "", []byte(passphrase)); err != nil {
					t.Fatal(err)
				}
				read := func() {
					res, err := readFiles(dp, mp.files)
					if err != nil {
						t.Fatal(err)
					}
					if res.errs > 0 || len(res.wrong) > 0 {
						t.Errorf("reads: %d failed, %d wrong: %q %q", res.errs, len(res.wrong), res.errMsg, res.wrong)
					}
				}
				if !scrubFirst {
					read()
				}
				before := leafTotals(dp)
				si := scrub(t, dp)
				after := leafTotals(dp)
				t.Logf("scrub: %+v; leaf counters before %+v, after %+v", si, before, after)
				if si.Unrecover != 0 || si.Errors == 0 || si.Examined == 0 || si.Repaired == 0 {
					t.Errorf("scrub info %+v: want errors, repairs and nothing unrecoverable", si)
				}
				if after.CksumErrors != uint64(copies) {
					t.Errorf("children count %d checksum errors, want %d (one per damaged copy)", after.CksumErrors, copies)
				}
				if after.Repaired != bytesHurt {
					t.Errorf("children repaired %d bytes, want %d", after.Repaired, bytesHurt)
				}
				if after.ReadErrors != 0 || after.WriteErrors != 0 {
					t.Errorf("I/O errors: %+v", after)
				}
				identical(t, mp.dirs, mp.blocks)
				si2 := scrub(t, dp)
				if si2.Errors != 0 || si2.Repaired != 0 || si2.Unrecover != 0 {
					t.Errorf("second scrub found something: %+v", si2)
				}
				if again := leafTotals(dp); again.CksumErrors != after.CksumErrors || again.Repaired != after.Repaired {
					t.Errorf("counters moved in the second scrub: %+v -> %+v", after, again)
				}
				if scrubFirst {
					read()
				}
				if h := dp.Raw().Health(); h != "ONLINE" {
					t.Errorf("health %s after repair", h)
				}
				if n := dp.Raw().DamagedBlocks(); n != 0 {
					t.Errorf("%d damaged blocks with a good copy everywhere", n)
				}
				checked(t, dp)
			})
		}
	}
}

// TestMirrorDegraded removes one child of a mirror: the pool imports
// DEGRADED, reads everything, takes writes, and stays consistent. When the
// child comes back with stale contents, reads stay right and a scrub
// brings it up to date.
func TestMirrorDegraded(t *testing.T) {
	seed := testSeed(t)
	for _, width := range []int{2, 3} {
		for _, back := range []bool{false, true} {
			name := fmt.Sprintf("%d-way/deleted", width)
			if back {
				name = fmt.Sprintf("%d-way/returns-stale", width)
			}
			t.Run(name, func(t *testing.T) {
				rng := newRand(seed, uint64(40+width))
				base := t.TempDir()
				mp := buildMirrorPool(t, base, width, rng)
				gone := rng.IntN(width)
				away := filepath.Join(base, "away")
				if back {
					if err := os.Rename(mp.dirs[gone], away); err != nil {
						t.Fatal(err)
					}
				} else if err := os.RemoveAll(mp.dirs[gone]); err != nil {
					t.Fatal(err)
				}
				var present []string
				for i, d := range mp.dirs {
					if i != gone {
						present = append(present, d)
					}
				}
				dp := mustImport(t, present...)
				if h := dp.Raw().Health(); h != "DEGRADED" {
					t.Errorf("health %s with a child missing, want DEGRADED", h)
				}
				if err := dp.LoadKey("tank/enc", false, "", []byte(passphrase)); err != nil {
					t.Fatal(err)
				}
				res, err := readFiles(dp, mp.files)
				if err != nil {
					t.Fatal(err)
				}
				if res.errs > 0 || len(res.wrong) > 0 {
					t.Errorf("degraded reads: %d failed, %d wrong", res.errs, len(res.wrong))
				}
				// Writes while degraded.
				for i := range mp.files {
					f := &mp.files[i]
					if i%3 != 0 {
						continue
					}
					os, _ := dp.Objset(f.ds)
					o, err := os.Object(f.id)
					if err != nil {
						t.Fatal(err)
					}
					f.data = fill(f.id, 77, len(f.data))
					if err := o.Write(f.data, 0); err != nil {
						t.Fatal(err)
					}
				}
				mp.files = append(mp.files, writeFiles(t, dp, "tank/enc", 3, rng)...)
				checked(t, dp)
				blocks := liveBlocks(t, dp, rootsOf(t, dp, "tank/plain", "tank/enc"))
				if err := dp.Close(); err != nil {
					t.Fatal(err)
				}
				if !back {
					dp = mustImport(t, present...)
				} else {
					if err := os.Rename(away, mp.dirs[gone]); err != nil {
						t.Fatal(err)
					}
					dp = mustImport(t, mp.dirs...)
					if h := dp.Raw().Health(); h != "ONLINE" {
						t.Errorf("health %s with every child back", h)
					}
				}
				defer dp.Close()
				if err := dp.LoadKey("tank/enc", false, "", []byte(passphrase)); err != nil {
					t.Fatal(err)
				}
				res, _ = readFiles(dp, mp.files)
				if res.errs > 0 || len(res.wrong) > 0 {
					t.Errorf("reads after reopen: %d failed, %d wrong: %q", res.errs, len(res.wrong), res.errMsg)
				}
				if back {
					si := scrub(t, dp)
					t.Logf("scrub of the returned child: %+v", si)
					if si.Unrecover != 0 {
						t.Errorf("scrub: %+v", si)
					}
					identical(t, mp.dirs, blocks)
				}
				checked(t, dp)
			})
		}
	}
}
