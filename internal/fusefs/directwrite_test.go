package fusefs_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// cachedPages is cachestat(2) of all of the file open as f: how many of
// its pages the kernel holds.
func cachedPages(t *testing.T, f *os.File) uint64 {
	t.Helper()
	var st unix.Cachestat_t
	rng := unix.CachestatRange{Off: 0, Len: 0} // to the end of the file
	if err := unix.Cachestat(uint(f.Fd()), &rng, &st, 0); err != nil {
		if errors.Is(err, unix.ENOSYS) {
			t.Skip("cachestat(2) needs Linux 6.5")
		}
		t.Fatal(err)
	}
	return st.Cache
}

// writeThrough writes p at 0 of path through a descriptor opened with
// flag (plus O_CREATE) and closes it.
func writeThrough(t *testing.T, path string, flag int, p []byte) {
	t.Helper()
	f, err := os.OpenFile(path, flag|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(p, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestWriteOnlyBypassesPageCache: a write-only descriptor writes without
// filling the kernel's page cache (the open is answered with
// FOPEN_DIRECT_IO), while a read-write one still caches what it writes.
// The data is the same either way.
func TestWriteOnlyBypassesPageCache(t *testing.T) {
	for _, enc := range []bool{false, true} {
		mt := mountNew(t, enc)
		path := filepath.Join(mt.Dir, "f")
		data := make([]byte, 1<<20)
		rand.Read(data)
		writeThrough(t, path, os.O_WRONLY, make([]byte, len(data)))
		// The watcher is opened first: every later open drops the
		// file's cached pages, and so would opening it after the write.
		watch, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		writeThrough(t, path, os.O_WRONLY, data)
		if n := cachedPages(t, watch); n != 0 {
			t.Errorf("encrypted=%v: %d pages cached after a write-only write, want 0", enc, n)
		}
		got := make([]byte, len(data))
		if _, err := watch.ReadAt(got, 0); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("encrypted=%v: read back after a write-only write: %v", enc, err)
		}
		writeThrough(t, path, os.O_RDWR, data)
		if n := cachedPages(t, watch); n < uint64(len(data))/4096/2 {
			t.Errorf("encrypted=%v: %d pages cached after a read-write write of %d, want most", enc, n, len(data)/4096)
		}
		watch.Close()
		mt.unmount(t)
	}
}

// TestDirectWriteCoherent: readers that hold the file open and cached,
// with read(2) and with mmap, see what a write-only descriptor writes
// at once, and an O_APPEND writer appends at the end the readers see.
func TestDirectWriteCoherent(t *testing.T) {
	mt := mountNew(t, true)
	path := filepath.Join(mt.Dir, "f")
	const size = 1 << 20
	writeThrough(t, path, os.O_WRONLY, bytes.Repeat([]byte("A"), size))
	r, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	buf := make([]byte, size)
	if _, err := r.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	m, err := unix.Mmap(int(r.Fd()), 0, size, unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	_ = m[8192] // fault a page in

	w, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.WriteAt(bytes.Repeat([]byte("B"), 3*4096), 4096); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	want := bytes.Repeat([]byte("A"), size)
	copy(want[4096:], bytes.Repeat([]byte("B"), 3*4096))
	if !bytes.Equal(buf, want) {
		i := 0
		for buf[i] == want[i] {
			i++
		}
		t.Fatalf("read(2) after a write-only write: byte %d is %q, want %q", i, buf[i], want[i])
	}
	if !bytes.Equal(m[:size], want) {
		t.Fatal("mmap after a write-only write shows old data")
	}

	a, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if _, err := a.Write([]byte("tail")); err != nil {
		t.Fatal(err)
	}
	if fi, err := r.Stat(); err != nil || fi.Size() != size+4 {
		t.Fatalf("size after an O_APPEND write: %v, %v; want %d", fi.Size(), err, size+4)
	}
	tail := make([]byte, 8)
	if n, err := r.ReadAt(tail, size-4); n != 8 || string(tail) != "AAAAtail" {
		t.Fatalf("end after an O_APPEND write: %q, %v", tail[:n], err)
	}
}

// capNetRaw is cap_net_raw=ep as setcap(8) writes it: struct
// vfs_cap_data, revision 2 with the effective flag, permitted bit 13.
var capNetRaw = []byte{1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

// mountForNobody mounts a new encrypted file system whose root the nobody
// user can reach and write.
func mountForNobody(t *testing.T) *mounted {
	t.Helper()
	mt := mountNew(t, true)
	for d := mt.Dir; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(mt.Dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return mt
}

// TestDirectWriteKillsPrivs: a write by another user than root clears
// the set-user-ID and set-group-ID bits of a group-executable file, and
// any write removes the file's capabilities, as ext4 does, through a
// write-only descriptor (direct) as through a read-write one; root's
// writes keep the set-ID bits. stat right after the write shows the new
// mode.
func TestDirectWriteKillsPrivs(t *testing.T) {
	mt := mountForNobody(t)
	write := func(uid uint32, script, path string) {
		t.Helper()
		cmd := exec.Command("/bin/sh", "-c", script, "sh", path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s as %d: %v: %s", script, uid, err, out)
		}
	}
	const (
		writeOnly = `printf y | dd of="$1" conv=notrunc status=none` // O_WRONLY, no O_TRUNC (with seek=, dd opens O_RDWR)
		readWrite = `printf y 1<>"$1"`                               // O_RDWR
		nobody    = 65534
	)
	for _, c := range []struct {
		name, script string
		uid          uint32
		want         os.FileMode
	}{
		{"write-only by nobody", writeOnly, nobody, 0o777},
		{"read-write by nobody", readWrite, nobody, 0o777},
		{"write-only by root", writeOnly, 0, 0o777 | os.ModeSetuid | os.ModeSetgid},
	} {
		path := filepath.Join(mt.Dir, "prog")
		if err := os.WriteFile(path, []byte("xx"), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, 0o777|os.ModeSetuid|os.ModeSetgid); err != nil {
			t.Fatal(err)
		}
		if err := unix.Setxattr(path, "security.capability", capNetRaw, 0); err != nil {
			t.Fatal(err)
		}
		write(c.uid, c.script, path)
		if _, err := unix.Getxattr(path, "security.capability", make([]byte, 64)); !errors.Is(err, unix.ENODATA) {
			t.Errorf("%s: file capabilities after the write: %v, want ENODATA", c.name, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() &^ os.ModeType; got != c.want {
			t.Errorf("%s: mode %v, want %v", c.name, got, c.want)
		}
		if b, err := os.ReadFile(path); err != nil || string(b) != "yx" {
			t.Errorf("%s: content %q, %v", c.name, b, err)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	}
}

// TestChownTruncateKillPrivs: as on ext4, chown of a file clears its
// set-user-ID bit and, when it is group-executable, its set-group-ID bit,
// even by root, and removes its capabilities; a truncate by another user
// than root clears the set-ID bits as a write does; root's truncate keeps
// them. Directories keep theirs across chown.
func TestChownTruncateKillPrivs(t *testing.T) {
	mt := mountForNobody(t)
	const nobody = 65534
	setID := os.ModeSetuid | os.ModeSetgid
	for _, c := range []struct {
		name  string
		mode  os.FileMode // before
		dir   bool
		op    func(path string) error
		want  os.FileMode
		noCap bool // capabilities gone
	}{
		{"chown by root, group-executable", 0o775 | setID, false, func(p string) error { return os.Chown(p, nobody, nobody) }, 0o775, true},
		{"chown by root, not group-executable", 0o765 | setID, false, func(p string) error { return os.Chown(p, nobody, nobody) }, 0o765 | os.ModeSetgid, true},
		{"chown of a directory", 0o775 | os.ModeSetgid, true, func(p string) error { return os.Chown(p, nobody, nobody) }, 0o775 | os.ModeSetgid | os.ModeDir, false},
		{"truncate by nobody", 0o777 | setID, false, func(p string) error {
			cmd := exec.Command("truncate", "-s", "1", p)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
			if out, err := cmd.CombinedOutput(); err != nil {
				return errors.New(string(out))
			}
			return nil
		}, 0o777, false},
		{"truncate by root", 0o777 | setID, false, func(p string) error { return os.Truncate(p, 1) }, 0o777 | setID, false},
	} {
		path := filepath.Join(mt.Dir, "prog")
		if c.dir {
			if err := os.Mkdir(path, 0o775); err != nil {
				t.Fatal(err)
			}
		} else if err := os.WriteFile(path, []byte("xx"), 0o777); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(path, c.mode); err != nil {
			t.Fatal(err)
		}
		if !c.dir {
			if err := unix.Setxattr(path, "security.capability", capNetRaw, 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.op(path); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode() &^ (os.ModeType &^ os.ModeDir); got != c.want {
			t.Errorf("%s: mode %v, want %v", c.name, got, c.want)
		}
		if c.noCap {
			if _, err := unix.Getxattr(path, "security.capability", make([]byte, 64)); !errors.Is(err, unix.ENODATA) {
				t.Errorf("%s: file capabilities after it: %v, want ENODATA", c.name, err)
			}
		}
		if err := os.RemoveAll(path); err != nil {
			t.Fatal(err)
		}
	}
}
