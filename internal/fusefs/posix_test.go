package fusefs_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestPOSIX(t *testing.T) {
	t.Parallel()
	mt := mountNew(t, true)
	d := mt.Dir
	p := func(s string) string { return filepath.Join(d, s) }

	ok(t, os.WriteFile(p("a.txt"), []byte("hello"), 0o640))
	if b, err := os.ReadFile(p("a.txt")); err != nil || string(b) != "hello" {
		t.Fatalf("read: %q %v", b, err)
	}
	fi, err := os.Stat(p("a.txt"))
	ok(t, err)
	if fi.Mode().Perm() != 0o640 || fi.Size() != 5 {
		t.Fatalf("stat: %v %d", fi.Mode(), fi.Size())
	}

	// O_EXCL, O_APPEND, past-EOF writes, truncate.
	if _, err := os.OpenFile(p("a.txt"), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644); !errors.Is(err, os.ErrExist) {
		t.Fatalf("O_EXCL on existing: %v", err)
	}
	f, err := os.OpenFile(p("a.txt"), os.O_APPEND|os.O_WRONLY, 0)
	ok(t, err)
	_, err = f.Write([]byte(", world"))
	ok(t, err)
	ok(t, f.Close())
	f, err = os.OpenFile(p("a.txt"), os.O_RDWR, 0)
	ok(t, err)
	_, err = f.WriteAt([]byte("!"), 20)
	ok(t, err)
	ok(t, f.Sync())
	ok(t, f.Close())
	b, _ := os.ReadFile(p("a.txt"))
	if want := "hello, world\x00\x00\x00\x00\x00\x00\x00\x00!"; string(b) != want {
		t.Fatalf("after append and sparse write: %q", b)
	}
	ok(t, os.Truncate(p("a.txt"), 5))
	b, _ = os.ReadFile(p("a.txt"))
	if string(b) != "hello" {
		t.Fatalf("after truncate: %q", b)
	}
	ok(t, os.WriteFile(p("a.txt"), []byte("new"), 0o640)) // O_TRUNC
	if b, _ = os.ReadFile(p("a.txt")); string(b) != "new" {
		t.Fatalf("after O_TRUNC: %q", b)
	}

	// chmod, chown, utimens.
	ok(t, os.Chmod(p("a.txt"), 0o600))
	ok(t, os.Chown(p("a.txt"), 1234, 5678))
	mtime := time.Date(2001, 2, 3, 4, 5, 6, 7000, time.UTC)
	ok(t, os.Chtimes(p("a.txt"), mtime, mtime))
	fi, err = os.Stat(p("a.txt"))
	ok(t, err)
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode().Perm() != 0o600 || st.Uid != 1234 || st.Gid != 5678 || !fi.ModTime().Equal(mtime) {
		t.Fatalf("attrs: %v uid %d gid %d mtime %v", fi.Mode(), st.Uid, st.Gid, fi.ModTime())
	}

	// Directories, rename over targets, symlinks, hard links.
	ok(t, os.MkdirAll(p("x/y/z"), 0o755))
	ok(t, os.WriteFile(p("x/y/z/f"), []byte("deep"), 0o644))
	if err := os.Remove(p("x/y")); !errors.Is(err, syscall.ENOTEMPTY) && !errors.Is(err, syscall.EEXIST) {
		t.Fatalf("rmdir non-empty: %v", err)
	}
	ok(t, os.WriteFile(p("target"), []byte("old"), 0o644))
	ok(t, os.Rename(p("x/y/z/f"), p("target")))
	if b, _ = os.ReadFile(p("target")); string(b) != "deep" {
		t.Fatalf("rename over: %q", b)
	}
	ok(t, os.Mkdir(p("empty"), 0o755))
	ok(t, syscall.Rename(p("x/y/z"), p("empty"))) // os.Rename refuses a directory target
	if _, err := os.Stat(p("x/y/z")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("old dir still there: %v", err)
	}
	ok(t, os.Symlink("target", p("sym")))
	if s, err := os.Readlink(p("sym")); err != nil || s != "target" {
		t.Fatalf("readlink %q %v", s, err)
	}
	if b, _ = os.ReadFile(p("sym")); string(b) != "deep" {
		t.Fatalf("through symlink: %q", b)
	}
	ok(t, os.Link(p("target"), p("hard")))
	fi, _ = os.Stat(p("target"))
	if n := fi.Sys().(*syscall.Stat_t).Nlink; n != 2 {
		t.Fatalf("nlink %d", n)
	}
	fi2, _ := os.Stat(p("hard"))
	if !os.SameFile(fi, fi2) {
		t.Fatal("hard link is another file")
	}

	// Unlink while open.
	f, err = os.Open(p("hard"))
	ok(t, err)
	ok(t, os.Remove(p("hard")))
	ok(t, os.Remove(p("target")))
	b, err = io.ReadAll(f)
	ok(t, err)
	if string(b) != "deep" {
		t.Fatalf("read after unlink: %q", b)
	}
	ok(t, f.Close())

	// xattrs.
	ok(t, unix.Setxattr(p("a.txt"), "user.k", []byte("value"), 0))
	buf := make([]byte, 64)
	n, err := unix.Getxattr(p("a.txt"), "user.k", buf)
	ok(t, err)
	if string(buf[:n]) != "value" {
		t.Fatalf("getxattr %q", buf[:n])
	}
	n, err = unix.Listxattr(p("a.txt"), buf)
	ok(t, err)
	if string(buf[:n]) != "user.k\x00" {
		t.Fatalf("listxattr %q", buf[:n])
	}
	ok(t, unix.Removexattr(p("a.txt"), "user.k"))
	if _, err := unix.Getxattr(p("a.txt"), "user.k", buf); !errors.Is(err, unix.ENODATA) {
		t.Fatalf("after removexattr: %v", err)
	}

	// statfs reports the pool.
	var sfs unix.Statfs_t
	ok(t, unix.Statfs(d, &sfs))
	if sfs.Blocks == 0 || sfs.Bfree == 0 || sfs.Bfree > sfs.Blocks {
		t.Fatalf("statfs %+v", sfs)
	}

	// A FIFO works through the kernel.
	ok(t, unix.Mkfifo(p("fifo"), 0o644))
	go func() { _ = os.WriteFile(p("fifo"), []byte("piped"), 0) }()
	if b, err := os.ReadFile(p("fifo")); err != nil || string(b) != "piped" {
		t.Fatalf("fifo: %q %v", b, err)
	}
	ok(t, os.Remove(p("fifo")))

	ents, err := os.ReadDir(d)
	ok(t, err)
	var got []string
	for _, e := range ents {
		got = append(got, e.Name())
	}
	sort.Strings(got)
	if fmt.Sprint(got) != "[a.txt empty sym x]" {
		t.Fatalf("root listing %v", got)
	}
}

func TestLargeSparseFile(t *testing.T) {
	t.Parallel()
	mt := mountNew(t, true)
	name := filepath.Join(mt.Dir, "big")
	f, err := os.Create(name)
	ok(t, err)
	offs := []int64{0, 4<<30 - 3, 6 << 30, 9<<30 + 12345}
	for _, off := range offs {
		_, err := f.WriteAt([]byte(fmt.Sprintf("at-%d", off)), off)
		ok(t, err)
	}
	ok(t, f.Sync())
	ok(t, f.Close())
	fi, err := os.Stat(name)
	ok(t, err)
	last := offs[len(offs)-1]
	if fi.Size() != last+int64(len(fmt.Sprintf("at-%d", last))) {
		t.Fatalf("size %d", fi.Size())
	}
	f, err = os.Open(name)
	ok(t, err)
	defer f.Close()
	for _, off := range offs {
		want := fmt.Sprintf("at-%d", off)
		b := make([]byte, len(want))
		_, err := f.ReadAt(b, off)
		ok(t, err)
		if string(b) != want {
			t.Fatalf("at %d: %q", off, b)
		}
	}
	hole := make([]byte, 4096)
	_, err = f.ReadAt(hole, 5<<30)
	ok(t, err)
	if !bytes.Equal(hole, make([]byte, 4096)) {
		t.Fatal("hole is not zero")
	}
}

func TestManyEntries(t *testing.T) {
	t.Parallel()
	mt := mountNew(t, true)
	dir := filepath.Join(mt.Dir, "many")
	ok(t, os.Mkdir(dir, 0o755))
	const n = 3000
	for i := range n {
		ok(t, os.WriteFile(filepath.Join(dir, fmt.Sprintf("entry-%05d", i)), []byte{byte(i)}, 0o644))
	}
	for i := 0; i < n; i += 2 {
		ok(t, os.Remove(filepath.Join(dir, fmt.Sprintf("entry-%05d", i))))
	}
	ents, err := os.ReadDir(dir)
	ok(t, err)
	if len(ents) != n/2 {
		t.Fatalf("%d entries, want %d", len(ents), n/2)
	}
	b, err := os.ReadFile(filepath.Join(dir, "entry-02999"))
	ok(t, err)
	if b[0] != byte(2999%256) {
		t.Fatal("wrong content")
	}
}

func TestFsyncDurable(t *testing.T) {
	t.Parallel()
	mt := mountNew(t, true)
	name := filepath.Join(mt.Dir, "durable")
	f, err := os.Create(name)
	ok(t, err)
	data := bytes.Repeat([]byte("fsync me "), 100000)
	_, err = f.Write(data)
	ok(t, err)
	ok(t, f.Sync())
	ok(t, f.Close())
	ok(t, os.Mkdir(filepath.Join(mt.Dir, "d"), 0o755))
	d, err := os.Open(mt.Dir)
	ok(t, err)
	ok(t, d.Sync()) // fsyncdir
	d.Close()
	ino := statIno(t, name)

	// Crash: take the vdevs as they are, without unmounting or closing.
	mt.unmountLater(t)
	mt.P.Crash(t, "tank/fs")
	fs := mt.P.OpenFS(t, "tank/fs")
	a, err := fs.Lookup(fs.Root(), "durable")
	ok(t, err)
	if a.Ino != ino || a.Size != uint64(len(data)) {
		t.Fatalf("after crash: %+v", a)
	}
	b := make([]byte, len(data))
	_, err = fs.Read(a.Ino, b, 0)
	ok(t, err)
	if !bytes.Equal(b, data) {
		t.Fatal("content lost")
	}
	if _, err := fs.Lookup(fs.Root(), "d"); err != nil {
		t.Fatalf("directory lost: %v", err)
	}
}

// unmountLater unmounts the live mount before the pool goes away, so that
// Crash can close the pool that serves it.
func (mt *mounted) unmountLater(t *testing.T) { mt.unmount(t) }

func statIno(t *testing.T, name string) uint64 {
	fi, err := os.Stat(name)
	ok(t, err)
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestSnapshotDir(t *testing.T) {
	t.Parallel()
	mt := mountNew(t, true)
	ok(t, os.MkdirAll(filepath.Join(mt.Dir, "docs/sub"), 0o755))
	ok(t, os.WriteFile(filepath.Join(mt.Dir, "docs/sub/f"), []byte("version 1"), 0o644))
	ok(t, mt.FS.Sync())
	ok(t, mt.P.DP.Snapshot([]string{"tank/fs@monday"}, false, nil))
	ok(t, os.WriteFile(filepath.Join(mt.Dir, "docs/sub/f"), []byte("version 2"), 0o644))
	ok(t, os.Remove(filepath.Join(mt.Dir, "docs/sub/f")))

	snapdir := filepath.Join(mt.Dir, ".coffer/snapshot")
	ents, err := os.ReadDir(snapdir)
	ok(t, err)
	if len(ents) != 1 || ents[0].Name() != "monday" {
		t.Fatalf("snapshot list %v", ents)
	}
	b, err := os.ReadFile(filepath.Join(snapdir, "monday/docs/sub/f"))
	ok(t, err)
	if string(b) != "version 1" {
		t.Fatalf("snapshot content %q", b)
	}
	if err := os.WriteFile(filepath.Join(snapdir, "monday/new"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("write into snapshot: %v", err)
	}
	// .coffer is hidden from listings (like .zfs with snapdir=hidden).
	root, err := os.ReadDir(mt.Dir)
	ok(t, err)
	for _, e := range root {
		if e.Name() == ".coffer" {
			t.Fatal(".coffer listed")
		}
	}
	// A second snapshot appears without remounting.
	ok(t, mt.P.DP.Snapshot([]string{"tank/fs@tuesday"}, false, nil))
	if _, err := os.Stat(filepath.Join(snapdir, "tuesday/docs")); err != nil {
		t.Fatal(err)
	}
}

// TestFallocate: fallocate(2) through the mount: mode 0 extends with
// zeros (posix_fallocate users get a real file size), KEEP_SIZE does not,
// punch hole is EOPNOTSUPP, and a range past the pool's free space is
// ENOSPC.
func TestFallocate(t *testing.T) {
	t.Parallel()
	mt := mountNew(t, true)
	name := filepath.Join(mt.Dir, "f")
	f, err := os.Create(name)
	ok(t, err)
	defer f.Close()
	_, err = f.Write([]byte("hello"))
	ok(t, err)
	fd := int(f.Fd())
	ok(t, syscall.Fallocate(fd, 0, 0, 1<<20))
	ok(t, syscall.Fallocate(fd, 1 /* FALLOC_FL_KEEP_SIZE */, 0, 4<<20))
	fi, err := f.Stat()
	ok(t, err)
	if fi.Size() != 1<<20 {
		t.Fatalf("size %d after fallocate 1M and a KEEP_SIZE 4M", fi.Size())
	}
	if err := syscall.Fallocate(fd, 1|2 /* KEEP_SIZE|PUNCH_HOLE */, 0, 4096); err != syscall.EOPNOTSUPP {
		t.Fatalf("punch hole: %v", err)
	}
	if err := syscall.Fallocate(fd, 0, 0, 1<<55); err != syscall.ENOSPC {
		t.Fatalf("fallocate past the free space: %v", err)
	}
	ok(t, f.Sync())
	b, err := os.ReadFile(name)
	ok(t, err)
	if len(b) != 1<<20 || string(b[:5]) != "hello" || !bytes.Equal(b[5:], make([]byte, 1<<20-5)) {
		t.Fatalf("content after fallocate: %d bytes", len(b))
	}
}
