package zpl

import (
	"syscall"

	"coffer/internal/pool"
)

// MaxFileSize bounds file offsets (the DMU addresses 2^63 bytes; keep a
// comfortable margin).
const MaxFileSize = 1 << 60

// Read reads up to len(p) bytes of file id at off; it returns 0 at and past
// the end of the file. Holes read as zeros.
func (fs *FS) Read(id uint64, p []byte, off uint64) (int, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	ino, err := fs.inode(id)
	if err != nil {
		return 0, err
	}
	if ino.a.IsDir() {
		return 0, syscall.EISDIR
	}
	if off >= ino.a.Size {
		return 0, nil
	}
	n := min(uint64(len(p)), ino.a.Size-off)
	if err := ino.obj.Read(p[:n], off); err != nil {
		return 0, ioErr(err)
	}
	return int(n), nil
}

// ReadVec is Read without copying the blocks that come from the pool's
// block cache (dmu.Object.ReadVec): it returns up to n bytes of file id at
// off as pieces, and the handles to release once they are sent.
func (fs *FS) ReadVec(id uint64, n int, off uint64) ([][]byte, []*pool.Block, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	ino, err := fs.inode(id)
	if err != nil {
		return nil, nil, err
	}
	if ino.a.IsDir() {
		return nil, nil, syscall.EISDIR
	}
	if off >= ino.a.Size {
		return nil, nil, nil
	}
	k := min(uint64(n), ino.a.Size-off)
	vecs, hs, err := ino.obj.ReadVec(off, int(k), nil, nil)
	if err != nil {
		return nil, nil, ioErr(err)
	}
	return vecs, hs, nil
}

// Write writes p to file id at off, extending it as needed (a write past
// the end leaves a hole).
func (fs *FS) Write(id uint64, p []byte, off uint64) (int, error) {
	if err := fs.writable(); err != nil {
		return 0, err
	}
	if off+uint64(len(p)) > MaxFileSize || off+uint64(len(p)) < off {
		return 0, syscall.EFBIG
	}
	fs.mu.Lock()
	ino, err := fs.inode(id)
	if err == nil && ino.a.Mode&ModeType != ModeRegular {
		err = syscall.EINVAL
	}
	if err == nil {
		err = ioErr(ino.obj.Write(p, off))
	}
	if err == nil {
		if end := off + uint64(len(p)); end > ino.a.Size {
			ino.a.Size = end
		}
		now := fs.now()
		ino.a.Mtime, ino.a.Ctime = now, now
		err = fs.store(ino)
	}
	fs.mu.Unlock()
	if err != nil {
		return 0, err
	}
	fs.maybeSync()
	return len(p), nil
}

// fallocate(2) mode bits (Linux values).
const (
	FallocKeepSize = 0x01 // FALLOC_FL_KEEP_SIZE
)

// Allocate is fallocate(2) on file id. Copy-on-write cannot set blocks
// aside for later writes (every write allocates anew, as in OpenZFS), so
// nothing is reserved: mode 0 extends the file to off+length when it is
// shorter (the new range reads as zeros, like a hole) and FallocKeepSize
// changes nothing; both fail with ENOSPC when the range beyond the end of
// the file is larger than the pool's free space. Other modes (punch hole,
// zero, collapse and insert range) are EOPNOTSUPP.
func (fs *FS) Allocate(id, off, length uint64, mode uint32) error {
	if mode&^FallocKeepSize != 0 {
		return syscall.EOPNOTSUPP
	}
	if err := fs.writable(); err != nil {
		return err
	}
	end := off + length
	if length == 0 {
		return syscall.EINVAL
	}
	if end > MaxFileSize || end < off {
		return syscall.EFBIG
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ino, err := fs.inode(id)
	if err != nil {
		return err
	}
	if ino.a.IsDir() {
		return syscall.EISDIR
	}
	if ino.a.Mode&ModeType != ModeRegular {
		return syscall.ENODEV
	}
	if end <= ino.a.Size {
		return nil
	}
	if fs.opts.Space != nil {
		if _, free := fs.opts.Space(); end-ino.a.Size > free {
			return syscall.ENOSPC
		}
	}
	if mode&FallocKeepSize != 0 {
		return nil
	}
	if err := fs.truncate(ino, end); err != nil {
		return err
	}
	now := fs.now()
	ino.a.Mtime, ino.a.Ctime = now, now
	return fs.store(ino)
}

// truncate sets a file's size; mu held.
func (fs *FS) truncate(ino *inode, size uint64) error {
	if size > MaxFileSize {
		return syscall.EFBIG
	}
	if size < ino.a.Size {
		if err := ino.obj.Truncate(size); err != nil {
			return ioErr(err)
		}
	}
	ino.a.Size = size
	return nil
}

// BlockSize returns the size of file id's data blocks: a read anywhere in
// one block decodes the whole block.
func (fs *FS) BlockSize(id uint64) (uint32, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	ino, err := fs.inode(id)
	if err != nil {
		return 0, err
	}
	return ino.obj.BlockSize(), nil
}
