package vdev

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

const blockSize = 4096

// newTop creates n leaves under one temporary directory and returns them as
// a top-level vdev (a mirror when n > 1), closed at cleanup.
func newTop(t *testing.T, n int) *Top {
	t.Helper()
	root := t.TempDir()
	var leaves []*Leaf
	for i := range n {
		l, err := CreateLeaf(filepath.Join(root, fmt.Sprintf("d%d", i)), testLabel("tank"), false)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		leaves = append(leaves, l)
	}
	return NewTop(0, n > 1, leaves)
}

// block returns the content of block number i; it embeds i so that
// misplaced blocks are detected.
func block(i int) []byte {
	b := bytes.Repeat([]byte(fmt.Sprintf("block %6d|", i)), blockSize/13+1)
	return b[:blockSize]
}

// verifier plays the pool's checksum: a block is good when it is block(i).
func verifier(i int) func([]byte) bool {
	want := block(i)
	return func(b []byte) bool { return bytes.Equal(b, want) }
}

// corrupt damages block i of leaf l on disk, behind the vdev's back.
func corrupt(t *testing.T, l *Leaf, i int) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(l.Path(), dataFile), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt([]byte("ROT"), int64(i)*blockSize+100); err != nil {
		t.Fatal(err)
	}
}

// onDisk reads block i of leaf l straight from its data file.
func onDisk(t *testing.T, l *Leaf, i int) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(l.Path(), dataFile))
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < (i+1)*blockSize {
		return nil
	}
	return b[i*blockSize : (i+1)*blockSize]
}

func writeBlocks(t *testing.T, top *Top, n int) {
	t.Helper()
	for i := range n {
		if err := top.WriteAt(block(i), int64(i)*blockSize); err != nil {
			t.Fatal(err)
		}
	}
	if err := top.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestMirrorReadAt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		children     int
		damage       func(t *testing.T, leaves []*Leaf) // damages block 1
		wantErr      error
		wantCksum    []uint64 // per child
		wantRead     []uint64
		wantRepaired []uint64 // bytes, per child
	}{
		{
			name: "all good", children: 2, damage: func(*testing.T, []*Leaf) {},
			wantCksum: []uint64{0, 0}, wantRead: []uint64{0, 0}, wantRepaired: []uint64{0, 0},
		},
		{
			name: "first child corrupt", children: 2,
			damage:    func(t *testing.T, ls []*Leaf) { corrupt(t, ls[0], 1) },
			wantCksum: []uint64{1, 0}, wantRead: []uint64{0, 0}, wantRepaired: []uint64{blockSize, 0},
		},
		{
			// Reads go to the first healthy child, so damage elsewhere is
			// found by scrub (Repair), not by a read.
			name: "second child corrupt", children: 2,
			damage:    func(t *testing.T, ls []*Leaf) { corrupt(t, ls[1], 1) },
			wantCksum: []uint64{0, 0}, wantRead: []uint64{0, 0}, wantRepaired: []uint64{0, 0},
		},
		{
			name: "first child truncated", children: 2,
			damage: func(t *testing.T, ls []*Leaf) {
				if err := os.Truncate(filepath.Join(ls[0].Path(), dataFile), blockSize+10); err != nil {
					t.Fatal(err)
				}
			},
			wantCksum: []uint64{0, 0}, wantRead: []uint64{1, 0}, wantRepaired: []uint64{blockSize, 0},
		},
		{
			name: "two of three corrupt", children: 3,
			damage:    func(t *testing.T, ls []*Leaf) { corrupt(t, ls[0], 1); corrupt(t, ls[1], 1) },
			wantCksum: []uint64{1, 1, 0}, wantRead: []uint64{0, 0, 0}, wantRepaired: []uint64{blockSize, blockSize, 0},
		},
		{
			name: "both corrupt", children: 2,
			damage:    func(t *testing.T, ls []*Leaf) { corrupt(t, ls[0], 1); corrupt(t, ls[1], 1) },
			wantErr:   ErrChecksum,
			wantCksum: []uint64{1, 1}, wantRead: []uint64{0, 0}, wantRepaired: []uint64{0, 0},
		},
		{
			name: "single leaf corrupt", children: 1,
			damage:    func(t *testing.T, ls []*Leaf) { corrupt(t, ls[0], 1) },
			wantErr:   ErrChecksum,
			wantCksum: []uint64{1}, wantRead: []uint64{0}, wantRepaired: []uint64{0},
		},
		{
			name: "both truncated", children: 2,
			damage: func(t *testing.T, ls []*Leaf) {
				for _, l := range ls {
					os.Truncate(filepath.Join(l.Path(), dataFile), blockSize)
				}
			},
			wantErr:   io.ErrUnexpectedEOF,
			wantCksum: []uint64{0, 0}, wantRead: []uint64{1, 1}, wantRepaired: []uint64{0, 0},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			top := newTop(t, tt.children)
			writeBlocks(t, top, 3)
			tt.damage(t, top.Leaves())
			before := make([][]byte, tt.children)
			for i, l := range top.Leaves() {
				before[i] = onDisk(t, l, 1)
			}

			p := make([]byte, blockSize)
			err := top.ReadAt(p, blockSize, verifier(1))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), fmt.Sprint(blockSize)) {
					t.Fatalf("ReadAt: %v, want %v naming offset %d", err, tt.wantErr, blockSize)
				}
			} else {
				if err != nil {
					t.Fatalf("ReadAt: %v", err)
				}
				if !bytes.Equal(p, block(1)) {
					t.Fatalf("ReadAt returned bad data")
				}
			}
			st := top.Status()
			kids := st.Children
			if !top.Mirror() {
				kids = []Status{st}
			}
			for i, l := range top.Leaves() {
				cs := kids[i]
				if cs.CksumErrors != tt.wantCksum[i] || cs.ReadErrors != tt.wantRead[i] || cs.Repaired != tt.wantRepaired[i] {
					t.Errorf("child %d: cksum %d read %d repaired %d; want %d %d %d", i,
						cs.CksumErrors, cs.ReadErrors, cs.Repaired, tt.wantCksum[i], tt.wantRead[i], tt.wantRepaired[i])
				}
				got := onDisk(t, l, 1)
				switch {
				case tt.wantRepaired[i] > 0 && !bytes.Equal(got, block(1)):
					t.Errorf("child %d not repaired on disk", i)
				case tt.wantRepaired[i] == 0 && !bytes.Equal(got, before[i]):
					t.Errorf("child %d changed on disk without a repair", i)
				}
			}
			if top.Mirror() {
				wantTop := uint64(0)
				if tt.wantErr != nil {
					wantTop = 1
				}
				if st.CksumErrors+st.ReadErrors != wantTop {
					t.Errorf("mirror counters: cksum %d read %d; want %d unrecovered", st.CksumErrors, st.ReadErrors, wantTop)
				}
				if st.State != StateOnline {
					t.Errorf("mirror state %s: damaged blocks do not fault a child", st.State)
				}
			}
			// Blocks around the damaged one are unaffected.
			for _, i := range []int{0, 2} {
				if err := top.ReadAt(p, int64(i)*blockSize, verifier(i)); err != nil && tt.name != "both truncated" {
					t.Errorf("block %d: %v", i, err)
				}
			}
		})
	}
}

func TestReadAtNilVerify(t *testing.T) {
	t.Parallel()
	top := newTop(t, 2)
	writeBlocks(t, top, 2)
	p := make([]byte, blockSize)
	if err := top.ReadAt(p, blockSize, nil); err != nil || !bytes.Equal(p, block(1)) {
		t.Fatalf("ReadAt(nil verify): %v", err)
	}
	// An I/O error on the first child falls through to the second.
	os.Truncate(filepath.Join(top.Leaves()[0].Path(), dataFile), 0)
	if err := top.ReadAt(p, blockSize, nil); err != nil || !bytes.Equal(p, block(1)) {
		t.Fatalf("ReadAt(nil verify) with a truncated child: %v", err)
	}
}

func TestRepairRange(t *testing.T) {
	t.Parallel()
	const n = 32
	top := newTop(t, 3)
	writeBlocks(t, top, n)
	leaves := top.Leaves()
	// Damage some copies of some blocks, never all copies of one block,
	// except block 30 whose every copy is bad.
	damage := map[int][]int{1: {0}, 4: {1}, 5: {2}, 9: {0, 2}, 17: {1, 2}, 30: {0, 1, 2}}
	wantRepairs := 0
	for blk, kids := range damage {
		for _, k := range kids {
			corrupt(t, leaves[k], blk)
		}
		if blk != 30 {
			wantRepairs += len(kids)
		}
	}
	total := 0
	p := make([]byte, blockSize)
	for i := range n {
		r, err := top.Repair(p, int64(i)*blockSize, verifier(i))
		if i == 30 {
			if !errors.Is(err, ErrChecksum) || r != 0 {
				t.Errorf("block 30: Repair = %d, %v; want ErrChecksum", r, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("block %d: Repair: %v", i, err)
		}
		if want := len(damage[i]); r != want {
			t.Errorf("block %d: repaired %d children, want %d", i, r, want)
		}
		if !bytes.Equal(p, block(i)) {
			t.Errorf("block %d: Repair left a bad copy in p", i)
		}
		total += r
	}
	if total != wantRepairs {
		t.Errorf("repaired %d copies, want %d", total, wantRepairs)
	}
	for k, l := range leaves {
		for i := range n {
			if i != 30 && !bytes.Equal(onDisk(t, l, i), block(i)) {
				t.Errorf("child %d block %d still bad after Repair", k, i)
			}
		}
	}
	st := top.Status()
	var cksum, repaired uint64
	for _, c := range st.Children {
		cksum += c.CksumErrors
		repaired += c.Repaired
	}
	if cksum != uint64(wantRepairs+3) || repaired != uint64(wantRepairs*blockSize) || st.CksumErrors != 1 {
		t.Errorf("counters: children cksum %d repaired %d, mirror cksum %d; want %d, %d, 1",
			cksum, repaired, st.CksumErrors, wantRepairs+3, wantRepairs*blockSize)
	}
	// A second pass finds nothing to do.
	for i := range n {
		if r, _ := top.Repair(p, int64(i)*blockSize, verifier(i)); r != 0 {
			t.Errorf("block %d: second pass repaired %d", i, r)
		}
	}
}

func TestMirrorWriteFault(t *testing.T) {
	t.Parallel()
	top := newTop(t, 2)
	writeBlocks(t, top, 2)
	leaves := top.Leaves()
	leaves[1].data.Close() // child 1 now fails every I/O

	if err := top.WriteAt(block(2), 2*blockSize); err != nil {
		t.Fatalf("WriteAt with one failing child: %v", err)
	}
	st := top.Status()
	if st.State != StateDegraded || st.Children[0].State != StateOnline || st.Children[1].State != StateFaulted {
		t.Fatalf("states: mirror %s, children %s %s; want DEGRADED, ONLINE, FAULTED",
			st.State, st.Children[0].State, st.Children[1].State)
	}
	if st.Children[1].WriteErrors != 1 || st.WriteErrors != 0 {
		t.Errorf("write errors: child %d mirror %d; want 1, 0", st.Children[1].WriteErrors, st.WriteErrors)
	}
	// The faulted child is no longer written or synced.
	if err := top.WriteAt(block(3), 3*blockSize); err != nil {
		t.Fatal(err)
	}
	if err := top.Sync(); err != nil {
		t.Fatal(err)
	}
	if got := top.Status().Children[1].WriteErrors; got != 1 {
		t.Errorf("faulted child written again: %d write errors", got)
	}
	p := make([]byte, blockSize)
	for i := range 4 {
		if err := top.ReadAt(p, int64(i)*blockSize, nil); err != nil || !bytes.Equal(p, block(i)) {
			t.Errorf("block %d from the degraded mirror: %v", i, err)
		}
	}
	// When the last healthy child fails too, nothing is faulted: the write
	// fails and may be retried.
	leaves[0].data.Close()
	if err := top.WriteAt(block(4), 4*blockSize); err == nil {
		t.Fatal("WriteAt with every child failing succeeded")
	}
	st = top.Status()
	if st.State != StateDegraded || st.WriteErrors != 1 {
		t.Errorf("after a total write failure: state %s, mirror write errors %d; want DEGRADED, 1", st.State, st.WriteErrors)
	}
}

func TestMirrorReadFromFaultedChild(t *testing.T) {
	t.Parallel()
	top := newTop(t, 2)
	writeBlocks(t, top, 2)
	leaves := top.Leaves()
	leaves[1].faulted.Store(true)
	corrupt(t, leaves[0], 1)
	// The only healthy copy is bad; the faulted child still has the block.
	p := make([]byte, blockSize)
	if err := top.ReadAt(p, blockSize, verifier(1)); err != nil || !bytes.Equal(p, block(1)) {
		t.Fatalf("ReadAt: %v", err)
	}
	if !bytes.Equal(onDisk(t, leaves[0], 1), block(1)) {
		t.Error("healthy child not repaired from the faulted child's copy")
	}
	corrupt(t, leaves[0], 0)
	if r, err := top.Repair(p, 0, verifier(0)); err != nil || r != 1 {
		t.Errorf("Repair from faulted child: %d, %v", r, err)
	}
}

func TestTopSingle(t *testing.T) {
	t.Parallel()
	top := newTop(t, 1)
	l := top.Leaves()[0]
	if top.Mirror() || top.Name() != l.Path() || top.Index() != 0 {
		t.Errorf("single top: mirror %v name %q", top.Mirror(), top.Name())
	}
	writeBlocks(t, top, 4)
	if err := top.Free(blockSize, 2*blockSize); err != nil {
		t.Fatal(err)
	}
	p := make([]byte, blockSize)
	if err := top.ReadAt(p, blockSize, nil); err != nil || !bytes.Equal(p, make([]byte, blockSize)) {
		t.Errorf("freed block: %v", err)
	}
	if err := top.ReadAt(p, 3*blockSize, verifier(3)); err != nil {
		t.Errorf("block 3: %v", err)
	}
	st := top.Status()
	if st.Name != l.Path() || st.State != StateOnline || len(st.Children) != 0 {
		t.Errorf("Status() = %+v", st)
	}
	if err := top.ReadAt(p, blockSize, verifier(1)); !errors.Is(err, ErrChecksum) {
		t.Errorf("freed block verified: %v", err)
	}
	if st := top.Status(); st.CksumErrors != 1 {
		t.Errorf("cksum errors %d, want 1 (counted once)", st.CksumErrors)
	}
}

func TestNewTopPanics(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		mirror bool
		n      int
	}{{false, 0}, {false, 2}, {true, 0}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewTop(mirror=%v, %d leaves) did not panic", tt.mirror, tt.n)
				}
			}()
			NewTop(0, tt.mirror, make([]*Leaf, tt.n))
		}()
	}
	if name := NewTop(3, true, make([]*Leaf, 2)).Name(); name != "mirror-3" {
		t.Errorf("Name() = %q, want mirror-3", name)
	}
}

// TestConcurrent exercises every Top method from many goroutines; run it
// with -race.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	top := newTop(t, 2)
	const workers, per = 8, 16
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			p := make([]byte, blockSize)
			for j := range per {
				i := w*per + j
				off := int64(i) * blockSize
				if err := top.WriteAt(block(i), off); err != nil {
					t.Error(err)
					return
				}
				if err := top.ReadAt(p, off, verifier(i)); err != nil {
					t.Error(err)
					return
				}
				if j%4 == 0 {
					corrupt(t, top.Leaves()[j%2], i)
					if _, err := top.Repair(p, off, verifier(i)); err != nil {
						t.Error(err)
					}
					if err := top.Sync(); err != nil {
						t.Error(err)
					}
				}
				_ = top.Status()
			}
		})
	}
	wg.Wait()
	st := top.Status()
	if st.State != StateOnline || st.Children[0].Repaired+st.Children[1].Repaired != workers*per/4*blockSize {
		t.Errorf("status after concurrent run: %+v", st)
	}
}
