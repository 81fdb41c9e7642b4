package vdev

import (
	"errors"
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// lockFile takes an exclusive, non-blocking flock on f. flock locks belong to
// the open file description, so a second open of the same vdev conflicts
// even within one process. It returns errInUse when another holder exists.
func lockFile(f *os.File) error {
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.EWOULDBLOCK):
			return errInUse
		default:
			return err
		}
	}
}

// fdatasync flushes f's data (and the metadata needed to read it back).
func fdatasync(f *os.File) error {
	for {
		err := unix.Fdatasync(int(f.Fd()))
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}

// startWriteback starts writeback of all of f's dirty pages
// (sync_file_range with SYNC_FILE_RANGE_WRITE over the whole file) and does
// not wait for it. It is advisory: errors (a file system without
// sync_file_range, a file closed meanwhile) are ignored. The raw
// descriptor is used under the file's reference, so a concurrent Close
// cannot make it name another file.
func startWriteback(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.SyncFileRange(int(fd), 0, 0, unix.SYNC_FILE_RANGE_WRITE)
	})
}

// initReserve turns reserving host space on for a block store on ext4
// (see reserve.go) and starts the reserved range at the file's end.
func (l *Leaf) initReserve() {
	var st unix.Statfs_t
	if err := unix.Fstatfs(int(l.data.Fd()), &st); err != nil || st.Type != unix.EXT4_SUPER_MAGIC {
		return
	}
	fi, err := l.data.Stat()
	if err != nil {
		return
	}
	l.reserves = true
	l.reserved.Store(fi.Size())
}

// fallocate allocates host blocks for [off, off+n) of the block store
// without changing its size. Advisory: errors are ignored (see reserve.go).
func (l *Leaf) fallocate(off, n int64) {
	if n <= 0 {
		return
	}
	rc, err := l.data.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.Fallocate(int(fd), unix.FALLOC_FL_KEEP_SIZE, off, n)
	})
}

// punchHole deallocates [off, off+n) of f without changing its size. File
// systems without hole punching are not an error: freeing is advisory.
func punchHole(f *os.File, off, n int64) error {
	err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_PUNCH_HOLE|unix.FALLOC_FL_KEEP_SIZE, off, n)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.ENOSYS) {
		return nil
	}
	return err
}

// hostFree returns the bytes available to unprivileged users on the file
// system holding dir.
func hostFree(dir string) (uint64, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// Reading blocks past the page cache.
//
// A sequential reader's blocks (loaded ahead of it by dmu read-ahead, or
// read by the reader itself) are read with ReadAtCold. A block that is not in the host's page cache is read
// with O_DIRECT into the caller's buffer: on the project's machine a
// buffered read of cold data ran at 750–870 MB/s with 8 to 32 reads of
// 128 KiB in flight, and an O_DIRECT read at 1.6–2.0 GB/s with 8 or 16
// (docs/benchmarks.md, "P2 and the order in a pair"). The buffered read
// also fills the host's page cache with ciphertext that nobody reads
// again: the plaintext lands in the FUSE mount's page cache and the
// pool's block cache. A block that is in the page cache (written a moment
// ago, or read buffered before) is read from there, as before: cachestat
// tells which. O_DIRECT reads are coherent with buffered writes: the
// kernel writes dirty pages of the range back before it reads.

// directMin is the smallest read that goes direct: smaller blocks are
// metadata or small files, which the page cache serves well.
const directMin = 64 << 10

// directAlign is the alignment of a direct read's offset, length and
// buffer: the pool's sector size, a multiple of every logical block size
// a host disk has.
const directAlign = 4096

// bounce buffers hold a direct read whose destination is not aligned or
// too short for the rounded-up length.
var bounce sync.Pool

// ReadAtCold is ReadAt for a block of a sequential reader: a block of
// at least directMin bytes, at an aligned offset, that is not wholly in
// the host's page cache is read with O_DIRECT; it may then write into p
// up to cap(p) (the rounded-up length). Any failure of the direct
// read falls back to ReadAt, which reports and counts errors.
func (l *Leaf) ReadAtCold(p []byte, off int64) error {
	return l.readAtCold(p, off, l.ReadAt)
}

// readRunCold is ReadAtCold for a run of blocks read ahead together: a
// failure is not counted, as each block is read again on its own.
func (l *Leaf) readRunCold(p []byte, off int64) error {
	return l.readAtCold(p, off, l.readQuiet)
}

func (l *Leaf) readAtCold(p []byte, off int64, fallback func([]byte, int64) error) error {
	if len(p) < directMin || off%directAlign != 0 || l.noDirect.Load() || l.cached(off, len(p)) {
		return fallback(p, off)
	}
	d := l.directFile()
	if d == nil {
		return fallback(p, off)
	}
	n := (len(p) + directAlign - 1) &^ (directAlign - 1)
	buf := p[:cap(p)]
	var b *[]byte
	if len(buf) < n || uintptr(unsafe.Pointer(&buf[0]))%directAlign != 0 {
		if v, ok := bounce.Get().(*[]byte); ok && cap(*v) >= n+directAlign {
			b = v
		} else {
			s := make([]byte, n+directAlign)
			b = &s
		}
		raw := (*b)[:cap(*b)]
		skip := (directAlign - int(uintptr(unsafe.Pointer(&raw[0]))%directAlign)) % directAlign
		buf = raw[skip:]
	}
	got, err := d.ReadAt(buf[:n], off)
	if got >= len(p) {
		if b != nil {
			copy(p, buf)
			bounce.Put(b)
		}
		return nil
	}
	if b != nil {
		bounce.Put(b)
	}
	if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.EOPNOTSUPP) {
		l.noDirect.Store(true)
	}
	return fallback(p, off)
}

// directFile opens the block store with O_DIRECT at its first use.
func (l *Leaf) directFile() *os.File {
	l.directOnce.Do(func() {
		f, err := os.OpenFile(l.data.Name(), os.O_RDONLY|unix.O_DIRECT, 0)
		if err != nil {
			l.noDirect.Store(true)
			return
		}
		l.direct = f
	})
	return l.direct
}

// cached tells whether all pages of [off, off+n) of the block store are in
// the host's page cache. Where cachestat is missing (Linux before 6.5) it
// answers false: a block read ahead is most likely cold.
func (l *Leaf) cached(off int64, n int) bool {
	first := off / directAlign
	pages := (off+int64(n)+directAlign-1)/directAlign - first
	var cs unix.Cachestat_t
	rc, err := l.data.SyscallConn()
	if err != nil {
		return false
	}
	_ = rc.Control(func(fd uintptr) {
		err = unix.Cachestat(uint(fd), &unix.CachestatRange{Off: uint64(first * directAlign), Len: uint64(pages * directAlign)}, &cs, 0)
	})
	return err == nil && int64(cs.Cache) >= pages
}
