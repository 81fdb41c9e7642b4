package zpl_test

import (
	"bytes"
	"errors"
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"

	"coffer/internal/zpl"
	"coffer/internal/zpl/zpltest"
)

func newFS(t *testing.T, encrypted bool) (*zpltest.Pool, *zpl.FS) {
	t.Helper()
	p := zpltest.NewPool(t)
	p.CreateFS(t, "tank/fs", encrypted)
	return p, p.OpenFS(t, "tank/fs")
}

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func wantErr(t *testing.T, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got %v, want %v", err, want)
	}
}

// check fails the test when the file system is inconsistent.
func check(t *testing.T, fs *zpl.FS) {
	t.Helper()
	if err := fs.Check(); err != nil {
		t.Fatalf("check: %v", err)
	}
}

func names(t *testing.T, fs *zpl.FS, dir uint64) []string {
	t.Helper()
	var out []string
	ok(t, fs.ReadDir(dir, 0, func(e zpl.DirEntry) bool { out = append(out, e.Name); return true }))
	sort.Strings(out)
	return out
}

func readAll(t *testing.T, fs *zpl.FS, id uint64) []byte {
	t.Helper()
	a := must[zpl.Attr](t)(fs.Getattr(id))
	b := make([]byte, a.Size)
	n := must[int](t)(fs.Read(id, b, 0))
	return b[:n]
}

func TestBasicsAndReopen(t *testing.T) {
	t.Parallel()
	for _, enc := range []bool{false, true} {
		t.Run(fmt.Sprint("encrypted=", enc), func(t *testing.T) {
			p, fs := newFS(t, enc)
			root := fs.Root()
			f := must[zpl.Attr](t)(fs.Create(root, "hello.txt", 0o644, 1000, 1000))
			must[int](t)(fs.Write(f.Ino, []byte("hello, world"), 0))
			d := must[zpl.Attr](t)(fs.Mkdir(root, "sub", 0o755, 0, 0))
			s := must[zpl.Attr](t)(fs.Symlink(d.Ino, "link", "../hello.txt", 0, 0))
			ok(t, fs.Setxattr(f.Ino, "user.color", []byte("blue"), 0))
			if got := must[zpl.Attr](t)(fs.Getattr(root)); got.Nlink != 3 {
				t.Fatalf("root nlink %d", got.Nlink)
			}
			wantErr(t, func() error { _, err := fs.Create(root, "hello.txt", 0o644, 0, 0); return err }(), syscall.EEXIST)
			wantErr(t, func() error { _, err := fs.Lookup(root, "nope"); return err }(), syscall.ENOENT)
			ok(t, fs.Sync())

			p.Reimport(t, map[bool]string{true: "tank/fs"}[enc])
			fs = p.OpenFS(t, "tank/fs")
			if fs.Root() != root {
				t.Fatalf("root moved: %d != %d", fs.Root(), root)
			}
			got := must[zpl.Attr](t)(fs.Lookup(root, "hello.txt"))
			if got.Ino != f.Ino || got.UID != 1000 || got.Mode != zpl.ModeRegular|0o644 || got.Size != 12 {
				t.Fatalf("attr after reopen: %+v", got)
			}
			if b := readAll(t, fs, f.Ino); string(b) != "hello, world" {
				t.Fatalf("content %q", b)
			}
			if v := must[[]byte](t)(fs.Getxattr(f.Ino, "user.color")); string(v) != "blue" {
				t.Fatalf("xattr %q", v)
			}
			if tgt := must[string](t)(fs.Readlink(s.Ino)); tgt != "../hello.txt" {
				t.Fatalf("symlink %q", tgt)
			}
			if n := names(t, fs, root); fmt.Sprint(n) != "[hello.txt sub]" {
				t.Fatalf("readdir %v", n)
			}
			check(t, fs)
		})
	}
}

func TestLargeDirectory(t *testing.T) {
	t.Parallel()
	p, fs := newFS(t, true)
	root := fs.Root()
	d := must[zpl.Attr](t)(fs.Mkdir(root, "big", 0o755, 0, 0))
	const n = 20000
	for i := range n {
		must[zpl.Attr](t)(fs.Create(d.Ino, fmt.Sprintf("file-%06d-with-a-longer-name", i), 0o644, 0, 0))
	}
	// Remove every third, then re-add some: slots are reused.
	for i := 0; i < n; i += 3 {
		ok(t, fs.Unlink(d.Ino, fmt.Sprintf("file-%06d-with-a-longer-name", i)))
	}
	sizeBefore := must[zpl.Attr](t)(fs.Getattr(d.Ino)).Size
	for i := 0; i < n; i += 3 {
		must[zpl.Attr](t)(fs.Create(d.Ino, fmt.Sprintf("again-%06d-with-a-longer-nam", i), 0o644, 0, 0))
	}
	if after := must[zpl.Attr](t)(fs.Getattr(d.Ino)).Size; after != sizeBefore {
		t.Fatalf("freed slots not reused: size %d -> %d", sizeBefore, after)
	}
	count := func(fs *zpl.FS) int {
		seen := map[string]bool{}
		ok(t, fs.ReadDir(d.Ino, 0, func(e zpl.DirEntry) bool {
			if seen[e.Name] {
				t.Fatalf("duplicate %q", e.Name)
			}
			seen[e.Name] = true
			return true
		}))
		return len(seen)
	}
	if c := count(fs); c != n {
		t.Fatalf("readdir: %d entries, want %d", c, n)
	}
	// Cookies resume where they stopped, even across a change.
	var first []zpl.DirEntry
	ok(t, fs.ReadDir(d.Ino, 0, func(e zpl.DirEntry) bool { first = append(first, e); return len(first) < 100 }))
	ok(t, fs.Unlink(d.Ino, first[50].Name))
	var rest int
	ok(t, fs.ReadDir(d.Ino, first[99].Next, func(e zpl.DirEntry) bool { rest++; return true }))
	if rest != n-100 {
		t.Fatalf("resumed readdir: %d, want %d", rest, n-100)
	}
	ok(t, fs.Sync())
	p.Reimport(t, "tank/fs")
	fs = p.OpenFS(t, "tank/fs")
	if c := count(fs); c != n-1 {
		t.Fatalf("after reimport: %d entries", c)
	}
	must[zpl.Attr](t)(fs.Lookup(d.Ino, "file-019999-with-a-longer-name"))
	check(t, fs)
}

func TestRename(t *testing.T) {
	t.Parallel()
	_, fs := newFS(t, false)
	root := fs.Root()
	a := must[zpl.Attr](t)(fs.Mkdir(root, "a", 0o755, 0, 0))
	b := must[zpl.Attr](t)(fs.Mkdir(root, "b", 0o755, 0, 0))
	f1 := must[zpl.Attr](t)(fs.Create(a.Ino, "f1", 0o644, 0, 0))
	f2 := must[zpl.Attr](t)(fs.Create(b.Ino, "f2", 0o644, 0, 0))
	must[int](t)(fs.Write(f1.Ino, []byte("one"), 0))

	// File over an existing file, across directories: the target is freed.
	ok(t, fs.Rename(a.Ino, "f1", b.Ino, "f2", 0))
	if got := must[zpl.Attr](t)(fs.Lookup(b.Ino, "f2")); got.Ino != f1.Ino {
		t.Fatalf("f2 is %d, want %d", got.Ino, f1.Ino)
	}
	wantErr(t, func() error { _, err := fs.Getattr(f2.Ino); return err }(), syscall.ENOENT)
	wantErr(t, func() error { _, err := fs.Lookup(a.Ino, "f1"); return err }(), syscall.ENOENT)

	// Directory moves: nlink of parents, no move below itself.
	c := must[zpl.Attr](t)(fs.Mkdir(a.Ino, "c", 0o755, 0, 0))
	wantErr(t, fs.Rename(root, "a", c.Ino, "x", 0), syscall.EINVAL)
	ok(t, fs.Rename(a.Ino, "c", b.Ino, "c", 0))
	if got := must[zpl.Attr](t)(fs.Getattr(a.Ino)); got.Nlink != 2 {
		t.Fatalf("a nlink %d", got.Nlink)
	}
	if got := must[zpl.Attr](t)(fs.Getattr(b.Ino)); got.Nlink != 3 {
		t.Fatalf("b nlink %d", got.Nlink)
	}
	if got := must[zpl.Attr](t)(fs.Getattr(c.Ino)); got.Parent != b.Ino {
		t.Fatalf("c parent %d", got.Parent)
	}
	// Directory over a non-empty directory, over a file, file over dir.
	wantErr(t, func() error { _, err := fs.Create(b.Ino, "c/x", 0, 0, 0); return err }(), syscall.EINVAL)
	check(t, fs)
}

func TestRenameRules(t *testing.T) {
	t.Parallel()
	_, fs := newFS(t, false)
	root := fs.Root()
	must[zpl.Attr](t)(fs.Mkdir(root, "d1", 0o755, 0, 0))
	d2 := must[zpl.Attr](t)(fs.Mkdir(root, "d2", 0o755, 0, 0))
	must[zpl.Attr](t)(fs.Create(d2.Ino, "inside", 0o644, 0, 0))
	f := must[zpl.Attr](t)(fs.Create(root, "f", 0o644, 0, 0))
	g := must[zpl.Attr](t)(fs.Create(root, "g", 0o644, 0, 0))
	cases := []struct {
		name     string
		src, dst string
		flags    uint32
		want     error
	}{
		{"dir over non-empty dir", "d1", "d2", 0, syscall.ENOTEMPTY},
		{"dir over file", "d1", "f", 0, syscall.ENOTDIR},
		{"file over dir", "f", "d1", 0, syscall.EISDIR},
		{"noreplace", "f", "g", zpl.RenameNoReplace, syscall.EEXIST},
		{"exchange missing", "f", "nope", zpl.RenameExchange, syscall.ENOENT},
		{"missing source", "nope", "x", 0, syscall.ENOENT},
	}
	for _, c := range cases {
		if err := fs.Rename(root, c.src, root, c.dst, c.flags); !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", c.name, err, c.want)
		}
	}
	ok(t, fs.Rename(root, "f", root, "g", zpl.RenameExchange))
	if got := must[zpl.Attr](t)(fs.Lookup(root, "g")); got.Ino != f.Ino {
		t.Fatal("exchange did not swap")
	}
	if got := must[zpl.Attr](t)(fs.Lookup(root, "f")); got.Ino != g.Ino {
		t.Fatal("exchange did not swap")
	}
	// Exchange a directory and a file across directories keeps nlink right.
	ok(t, fs.Rename(root, "d1", d2.Ino, "inside", zpl.RenameExchange))
	if got := must[zpl.Attr](t)(fs.Getattr(root)); got.Nlink != 3 { // d2 + "inside" file now at root
		t.Fatalf("root nlink %d", got.Nlink)
	}
	if got := must[zpl.Attr](t)(fs.Getattr(d2.Ino)); got.Nlink != 3 {
		t.Fatalf("d2 nlink %d", got.Nlink)
	}
	// Empty dir over empty dir is fine; the target goes.
	must[zpl.Attr](t)(fs.Mkdir(root, "e1", 0o755, 0, 0))
	e2 := must[zpl.Attr](t)(fs.Mkdir(root, "e2", 0o755, 0, 0))
	ok(t, fs.Rename(root, "e1", root, "e2", 0))
	wantErr(t, func() error { _, err := fs.Getattr(e2.Ino); return err }(), syscall.ENOENT)
	// Two names of one inode: rename is a no-op.
	must[zpl.Attr](t)(fs.Link(g.Ino, root, "g2"))
	ok(t, fs.Rename(root, "f", root, "g2", 0))
	if n := names(t, fs, root); fmt.Sprint(n) != "[d1 d2 e2 f g g2]" {
		t.Fatalf("names %v", n)
	}
	check(t, fs)
}

func TestHardLinksAndUnlinkWhileOpen(t *testing.T) {
	t.Parallel()
	p, fs := newFS(t, true)
	root := fs.Root()
	f := must[zpl.Attr](t)(fs.Create(root, "f", 0o644, 0, 0))
	must[int](t)(fs.Write(f.Ino, []byte("data"), 0))
	must[zpl.Attr](t)(fs.Link(f.Ino, root, "f2"))
	if a := must[zpl.Attr](t)(fs.Getattr(f.Ino)); a.Nlink != 2 {
		t.Fatalf("nlink %d", a.Nlink)
	}
	ok(t, fs.Unlink(root, "f"))
	if b := readAll(t, fs, f.Ino); string(b) != "data" {
		t.Fatalf("read via second link: %q", b)
	}
	must[zpl.Attr](t)(fs.OpenFile(f.Ino))
	ok(t, fs.Unlink(root, "f2"))
	if b := readAll(t, fs, f.Ino); string(b) != "data" {
		t.Fatalf("read while open after unlink: %q", b)
	}
	must[int](t)(fs.Write(f.Ino, []byte("more"), 4))
	ok(t, fs.Release(f.Ino))
	wantErr(t, func() error { _, err := fs.Getattr(f.Ino); return err }(), syscall.ENOENT)

	// Crash with an open, unlinked file: the next open frees it.
	g := must[zpl.Attr](t)(fs.Create(root, "g", 0o644, 0, 0))
	must[int](t)(fs.Write(g.Ino, bytes.Repeat([]byte("x"), 1<<20), 0))
	must[zpl.Attr](t)(fs.OpenFile(g.Ino))
	ok(t, fs.Unlink(root, "g"))
	ok(t, fs.Sync())
	p.Crash(t, "tank/fs") // nothing more is committed: the on-disk state as a crash leaves it
	fs = p.OpenFS(t, "tank/fs")
	wantErr(t, func() error { _, err := fs.Getattr(g.Ino); return err }(), syscall.ENOENT)
	if n := names(t, fs, root); len(n) != 0 {
		t.Fatalf("root not empty: %v", n)
	}
	check(t, fs)
}

func TestSparseTruncateAndLargeOffsets(t *testing.T) {
	t.Parallel()
	p, fs := newFS(t, false)
	root := fs.Root()
	f := must[zpl.Attr](t)(fs.Create(root, "sparse", 0o644, 0, 0))
	const far = 5 << 30 // past 4 GiB
	must[int](t)(fs.Write(f.Ino, []byte("tail"), far))
	must[int](t)(fs.Write(f.Ino, []byte("head"), 0))
	if a := must[zpl.Attr](t)(fs.Getattr(f.Ino)); a.Size != far+4 {
		t.Fatalf("size %d", a.Size)
	}
	buf := make([]byte, 8)
	n := must[int](t)(fs.Read(f.Ino, buf, far-4))
	if n != 8 || string(buf) != "\x00\x00\x00\x00tail" {
		t.Fatalf("read across hole: %d %q", n, buf)
	}
	if n := must[int](t)(fs.Read(f.Ino, buf, far+4)); n != 0 {
		t.Fatalf("read at EOF: %d", n)
	}
	// Truncate down then extend: the old bytes must not come back.
	g := must[zpl.Attr](t)(fs.Create(root, "trunc", 0o644, 0, 0))
	must[int](t)(fs.Write(g.Ino, bytes.Repeat([]byte("A"), 300<<10), 0))
	ok(t, fs.Sync())
	size := uint64(10)
	must[zpl.Attr](t)(fs.Setattr(g.Ino, zpl.SetAttr{Size: &size}))
	must[int](t)(fs.Write(g.Ino, []byte("B"), 200<<10)) // partial block past the cut
	b := readAll(t, fs, g.Ino)
	if len(b) != 200<<10+1 || !bytes.Equal(b[:10], bytes.Repeat([]byte("A"), 10)) || !bytes.Equal(b[10:200<<10], make([]byte, 200<<10-10)) || b[200<<10] != 'B' {
		t.Fatalf("truncate then extend: stale data resurrected")
	}
	size = 1 << 20
	must[zpl.Attr](t)(fs.Setattr(g.Ino, zpl.SetAttr{Size: &size}))
	b = readAll(t, fs, g.Ino)
	if len(b) != 1<<20 || !bytes.Equal(b[200<<10+1:], make([]byte, 1<<20-200<<10-1)) {
		t.Fatal("extending truncate does not read zeros")
	}
	ok(t, fs.Sync())
	p.Reimport(t, "")
	fs = p.OpenFS(t, "tank/fs")
	n = must[int](t)(fs.Read(f.Ino, buf, far-4))
	if n != 8 || string(buf) != "\x00\x00\x00\x00tail" {
		t.Fatalf("after reimport: %d %q", n, buf)
	}
	check(t, fs)
}

// O_TRUNC of a file, then a write far past its old end before the next
// commit: the tree grows a level (past 1,024 records) in the txg that frees
// the old records, and the old bytes must not come back.
func TestTruncateThenWriteFarSameTxg(t *testing.T) {
	t.Parallel()
	p, fs := newFS(t, true)
	root := fs.Root()
	f := must[zpl.Attr](t)(fs.Create(root, "f", 0o644, 0, 0))
	secret := bytes.Repeat([]byte("deleted-secret "), (1<<20)/15)
	must[int](t)(fs.Write(f.Ino, secret, 0))
	ok(t, fs.Sync())
	zero := uint64(0)
	must[zpl.Attr](t)(fs.Setattr(f.Ino, zpl.SetAttr{Size: &zero}))
	const far = 200 << 20
	must[int](t)(fs.Write(f.Ino, []byte("new"), far))
	verify := func(when string) {
		t.Helper()
		head := make([]byte, len(secret))
		if n := must[int](t)(fs.Read(f.Ino, head, 0)); n != len(head) || !bytes.Equal(head, make([]byte, len(head))) {
			t.Fatalf("%s: the truncated bytes came back (%q...)", when, head[:15])
		}
		tail := make([]byte, 8)
		if n := must[int](t)(fs.Read(f.Ino, tail, far-5)); n != 8 || string(tail) != "\x00\x00\x00\x00\x00new" {
			t.Fatalf("%s: tail %q", when, tail[:n])
		}
	}
	verify("before the commit")
	ok(t, fs.Sync())
	verify("after the commit")
	p.Reimport(t, "tank/fs")
	fs = p.OpenFS(t, "tank/fs")
	verify("after reimport")
	check(t, fs)
}

func TestXattrs(t *testing.T) {
	t.Parallel()
	_, fs := newFS(t, true)
	f := must[zpl.Attr](t)(fs.Create(fs.Root(), "f", 0o644, 0, 0))
	ok(t, fs.Setxattr(f.Ino, "user.a", []byte("1"), 0))
	ok(t, fs.Setxattr(f.Ino, "user.b", bytes.Repeat([]byte("v"), 10000), zpl.XattrCreate))
	wantErr(t, fs.Setxattr(f.Ino, "user.a", []byte("2"), zpl.XattrCreate), syscall.EEXIST)
	wantErr(t, fs.Setxattr(f.Ino, "user.c", []byte("2"), zpl.XattrReplace), syscall.ENODATA)
	ok(t, fs.Setxattr(f.Ino, "user.a", []byte("22"), zpl.XattrReplace))
	if l := must[[]string](t)(fs.Listxattr(f.Ino)); fmt.Sprint(l) != "[user.a user.b]" {
		t.Fatalf("list %v", l)
	}
	ok(t, fs.Removexattr(f.Ino, "user.b"))
	wantErr(t, fs.Removexattr(f.Ino, "user.b"), syscall.ENODATA)
	if v := must[[]byte](t)(fs.Getxattr(f.Ino, "user.a")); string(v) != "22" {
		t.Fatalf("get %q", v)
	}
	ok(t, fs.Removexattr(f.Ino, "user.a"))
	if a := must[zpl.Attr](t)(fs.Getattr(f.Ino)); a.Xattr != 0 {
		t.Fatal("empty xattr object not freed")
	}
	check(t, fs)
}

func TestReadOnlySnapshotView(t *testing.T) {
	t.Parallel()
	p, fs := newFS(t, true)
	f := must[zpl.Attr](t)(fs.Create(fs.Root(), "f", 0o644, 0, 0))
	must[int](t)(fs.Write(f.Ino, []byte("v1"), 0))
	ok(t, fs.Sync())
	ok(t, p.DP.Snapshot([]string{"tank/fs@s1"}, false, nil))
	must[int](t)(fs.Write(f.Ino, []byte("v2"), 0))
	sos, err := p.DP.SnapshotObjset("tank/fs@s1")
	ok(t, err)
	sfs, err := zpl.Open(sos, zpl.Options{ReadOnly: true})
	ok(t, err)
	if b := readAll(t, sfs, f.Ino); string(b) != "v1" {
		t.Fatalf("snapshot content %q", b)
	}
	wantErr(t, func() error { _, err := sfs.Create(sfs.Root(), "x", 0o644, 0, 0); return err }(), syscall.EROFS)
	check(t, sfs)
	check(t, fs)
}

func TestCheckFindsDamage(t *testing.T) {
	t.Parallel()
	p, fs := newFS(t, false)
	must[zpl.Attr](t)(fs.Create(fs.Root(), "f", 0o644, 0, 0))
	check(t, fs)
	os, err := p.DP.Objset("tank/fs")
	ok(t, err)
	must[any](t)(func() (any, error) { return os.NewObject(1, 128<<10, p.DP.NextTxg()) }())
	if err := fs.Check(); err == nil || !strings.Contains(err.Error(), "not reachable") {
		t.Fatalf("leaked object not reported: %v", err)
	}
}

func TestSetgidDirectory(t *testing.T) {
	t.Parallel()
	_, fs := newFS(t, false)
	d := must[zpl.Attr](t)(fs.Mkdir(fs.Root(), "shared", 0o2775, 0, 100))
	f := must[zpl.Attr](t)(fs.Create(d.Ino, "f", 0o644, 1000, 1000))
	sub := must[zpl.Attr](t)(fs.Mkdir(d.Ino, "sub", 0o755, 1000, 1000))
	if f.GID != 100 || sub.GID != 100 || sub.Mode&syscall.S_ISGID == 0 {
		t.Fatalf("setgid inheritance: file gid %d, dir gid %d mode %o", f.GID, sub.GID, sub.Mode)
	}
	check(t, fs)
}

// TestAllocate: fallocate mode 0 extends a file with zeros and keeps it
// when shorter, FALLOC_FL_KEEP_SIZE changes nothing, a range larger than
// the free space is ENOSPC, other modes are EOPNOTSUPP; the size survives
// a reimport.
func TestAllocate(t *testing.T) {
	t.Parallel()
	p, fs := newFS(t, true)
	root := fs.Root()
	f := must[zpl.Attr](t)(fs.Create(root, "f", 0o644, 0, 0))
	must[int](t)(fs.Write(f.Ino, []byte("hello"), 0))
	ok(t, fs.Allocate(f.Ino, 0, 100<<10, 0))
	if b := readAll(t, fs, f.Ino); len(b) != 100<<10 || string(b[:5]) != "hello" || !bytes.Equal(b[5:], make([]byte, 100<<10-5)) {
		t.Fatalf("after fallocate 100K: %d bytes", len(b))
	}
	ok(t, fs.Allocate(f.Ino, 10, 20, 0)) // inside: nothing changes
	ok(t, fs.Allocate(f.Ino, 0, 1<<20, zpl.FallocKeepSize))
	if a := must[zpl.Attr](t)(fs.Getattr(f.Ino)); a.Size != 100<<10 {
		t.Fatalf("size %d after fallocates that keep the size", a.Size)
	}
	wantErr(t, fs.Allocate(f.Ino, 0, 1<<50, 0), syscall.ENOSPC)
	wantErr(t, fs.Allocate(f.Ino, 0, 1<<50, zpl.FallocKeepSize), syscall.ENOSPC)
	const punchHole = 0x02
	wantErr(t, fs.Allocate(f.Ino, 0, 10, punchHole|zpl.FallocKeepSize), syscall.EOPNOTSUPP)
	wantErr(t, fs.Allocate(f.Ino, 0, 0, 0), syscall.EINVAL)
	wantErr(t, fs.Allocate(f.Ino, zpl.MaxFileSize, 1, 0), syscall.EFBIG)
	wantErr(t, fs.Allocate(root, 0, 10, 0), syscall.EISDIR)
	if a := must[zpl.Attr](t)(fs.Getattr(f.Ino)); a.Size != 100<<10 {
		t.Fatalf("size %d after refused fallocates", a.Size)
	}
	ok(t, fs.Sync())
	p.Reimport(t, "tank/fs")
	fs = p.OpenFS(t, "tank/fs")
	if b := readAll(t, fs, f.Ino); len(b) != 100<<10 || string(b[:5]) != "hello" {
		t.Fatalf("after reimport: %d bytes", len(b))
	}
	check(t, fs)
}
