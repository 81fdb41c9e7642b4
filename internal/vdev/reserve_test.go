package vdev

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"path/filepath"
	"slices"
	"testing"

	"golang.org/x/sys/unix"
)

func reservingLeaf(t *testing.T) *Leaf {
	t.Helper()
	l := createLeaf(t)
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(l.data.Fd()), &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type != unix.EXT4_SUPER_MAGIC {
		t.Skipf("the temporary directory is not on ext4 (type %#x): no reservation", fs.Type)
	}
	if !l.reserves {
		t.Fatal("a leaf on ext4 does not reserve host space")
	}
	return l
}

// TestReserveAhead: writes at the end of the block store have the host
// allocate ReserveBytes past them, without changing the file's size, so a
// read past the end is still damage; a hole the leaf punched has its blocks
// back when a write reuses it, and reads as zeros where nothing was
// written.
func TestReserveAhead(t *testing.T) {
	t.Parallel()
	l := reservingLeaf(t)
	path := filepath.Join(l.Path(), dataFile)
	const mib = 1 << 20
	buf := make([]byte, mib)
	rand.Read(buf)

	if err := l.WriteAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if got := allocated(t, path); got < mib+ReserveBytes {
		t.Fatalf("%d bytes allocated after a 1 MiB write, want >= %d", got, mib+ReserveBytes)
	}
	if n, _ := l.Size(); n != mib {
		t.Fatalf("Size() = %d, want %d: reserving changed the size", n, mib)
	}
	p := make([]byte, 4096)
	if err := l.ReadAt(p, 2*mib); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("read past the end in reserved space: %v, want io.ErrUnexpectedEOF", err)
	}

	// Writing on to 40 MiB reserves again, in one run, when a write
	// passes the reserved end (the one ending at 34 MiB).
	for off := int64(mib); off < 40*mib; off += mib {
		if err := l.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
	if r := l.reserved.Load(); r != 34*mib+ReserveBytes {
		t.Fatalf("reserved end %d, want %d", r, 34*mib+ReserveBytes)
	}
	if got := allocated(t, path); got < 34*mib+ReserveBytes {
		t.Fatalf("%d bytes allocated after 40 MiB, want >= %d", got, 34*mib+ReserveBytes)
	}

	// Free 16 MiB inside: the host gets it back, and the leaf remembers it.
	before := allocated(t, path)
	if err := l.Free(4*mib, 16*mib); err != nil {
		t.Fatal(err)
	}
	// Splitting the extent may cost ext4 a block of its extent tree,
	// which st_blocks counts: allow 64 KiB of it.
	if got := allocated(t, path); got > before-16*mib+64<<10 {
		t.Fatalf("%d -> %d bytes allocated after freeing 16 MiB", before, got)
	}
	if !slices.Equal(l.holes, []hole{{4 * mib, 20 * mib}}) {
		t.Fatalf("holes %v, want [4 MiB, 20 MiB)", l.holes)
	}
	// A free under reserveMinHole is not remembered.
	if err := l.Free(30*mib, 4096); err != nil {
		t.Fatal(err)
	}
	if len(l.holes) != 1 {
		t.Fatalf("holes %v after a 4 KiB free", l.holes)
	}

	// A write into the hole has the whole hole allocated again.
	freed := allocated(t, path)
	if err := l.WriteAt(buf[:64<<10], 5*mib); err != nil {
		t.Fatal(err)
	}
	if got := allocated(t, path); got < freed+15*mib {
		t.Fatalf("%d -> %d bytes allocated after a write into a 16 MiB hole, want the hole back", freed, got)
	}
	// [4 MiB, 5 MiB) is left of the hole, and remembered.
	if !slices.Equal(l.holes, []hole{{4 * mib, 5 * mib}}) {
		t.Fatalf("holes %v, want [4 MiB, 5 MiB)", l.holes)
	}
	if err := l.ReadAt(p, 5*mib); err != nil || !bytes.Equal(p, buf[:4096]) {
		t.Fatalf("written block reads back wrong: %v", err)
	}
	if err := l.ReadAt(p, 6*mib); err != nil || !bytes.Equal(p, make([]byte, 4096)) {
		t.Fatalf("reserved range does not read as zeros: %v", err)
	}
	if err := l.ReadAt(p, 21*mib); err != nil || !bytes.Equal(p, buf[:4096]) {
		t.Fatalf("data after the hole changed: %v", err)
	}
}

// TestReserveHoleList: the leaf's list of punched holes stays sorted and
// merged, forgets what a write reuses, and drops what a free at the
// reserved end makes part of the unreserved tail.
func TestReserveHoleList(t *testing.T) {
	t.Parallel()
	l := createLeaf(t)
	l.reserves = true // the list does not depend on the host file system
	const m = reserveMinHole
	l.reserved.Store(100 * m)
	l.punched(10*m, 2*m)
	l.punched(30*m, 2*m)
	l.punched(12*m, 3*m) // touches the first: merged
	l.punched(29*m, m/2) // too small to remember
	l.punched(20*m, 11*m)
	want := []hole{{10 * m, 15 * m}, {20 * m, 32 * m}}
	if !slices.Equal(l.holes, want) {
		t.Fatalf("holes %v, want %v", l.holes, want)
	}
	if l.holeCount.Load() != 2 {
		t.Fatalf("holeCount %d, want 2", l.holeCount.Load())
	}
	// A free reaching the reserved end moves the end back and drops holes
	// past it, cutting the one it starts in.
	l.punched(25*m, 75*m)
	if r := l.reserved.Load(); r != 25*m {
		t.Fatalf("reserved end %d, want %d", r, 25*m)
	}
	want = []hole{{10 * m, 15 * m}, {20 * m, 25 * m}}
	if !slices.Equal(l.holes, want) {
		t.Fatalf("holes %v, want %v", l.holes, want)
	}
	// A write reuses the middle of a hole; the rest on both sides stays
	// (what is under reserveMinHole goes).
	l.reserveFor(11*m, 11*m+4096)
	want = []hole{{10 * m, 11 * m}, {20 * m, 25 * m}}
	if !slices.Equal(l.holes, want) {
		t.Fatalf("holes %v, want %v", l.holes, want)
	}
	l.reserveFor(20*m+4096, 20*m+8192)
	want = []hole{{10 * m, 11 * m}}
	if !slices.Equal(l.holes, want) || l.holeCount.Load() != 1 {
		t.Fatalf("holes %v (%d), want %v", l.holes, l.holeCount.Load(), want)
	}
	// The list is bounded.
	l.reserved.Store(1 << 40)
	for i := range reserveMaxHoles + 10 {
		l.punched(int64(200+3*i)*m, m)
	}
	if n := len(l.holes); n != reserveMaxHoles {
		t.Fatalf("%d holes remembered, want the bound %d", n, reserveMaxHoles)
	}
}
