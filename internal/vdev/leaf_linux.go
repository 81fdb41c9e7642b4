package vdev

import (
	"errors"
	"os"

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
