package zpl

import (
	"encoding/binary"
	"syscall"
)

// Directory format (docs/design/zpl.md): a 16-byte header, then records
// appended at the end of the record area (the directory's size). A record
// never moves; a removed record becomes a free slot that a later name of
// the same rounded length reuses. Lookup uses an in-memory hash index built
// by one scan the first time the directory is used.
const (
	dirHeaderSize = 16
	recHeaderSize = 16
	// MaxNameLen is the longest file name, in bytes.
	MaxNameLen = 255
	dirChunk   = 64 << 10
)

var dirMagic = [8]byte{'C', 'D', 'I', 'R', 1, 0, 0, 0}

func recLen(nameLen int) uint16 { return uint16((recHeaderSize + nameLen + 7) &^ 7) }

type dent struct {
	off    uint64
	id     uint64
	reclen uint16
	typ    uint8
}

type dirIndex struct {
	ents map[string]dent
	free map[uint16][]uint64 // free slots by record length
}

// DirEntry is one entry returned by ReadDir.
type DirEntry struct {
	Name string
	Ino  uint64
	Mode uint32 // file type bits only
	Next uint64 // cookie that resumes after this entry
}

// dirLoad returns the index of directory d, scanning it on first use.
func (fs *FS) dirLoad(d *inode) (*dirIndex, error) {
	if d.dir != nil {
		return d.dir, nil
	}
	ix := &dirIndex{ents: map[string]dent{}, free: map[uint16][]uint64{}}
	err := fs.scanDir(d, dirHeaderSize, func(off uint64, reclen uint16, id uint64, typ uint8, name []byte) bool {
		if id == 0 {
			ix.free[reclen] = append(ix.free[reclen], off)
		} else {
			ix.ents[string(name)] = dent{off: off, id: id, reclen: reclen, typ: typ}
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	d.dir = ix
	return ix, nil
}

// scanDir calls fn for every record (free ones too) from off on.
func (fs *FS) scanDir(d *inode, off uint64, fn func(off uint64, reclen uint16, id uint64, typ uint8, name []byte) bool) error {
	end := d.a.Size
	if off < dirHeaderSize {
		off = dirHeaderSize
	}
	buf := make([]byte, dirChunk)
	for off < end {
		n := min(uint64(len(buf)), end-off)
		b := buf[:n]
		if err := d.obj.Read(b, off); err != nil {
			return ioErr(err)
		}
		pos := uint64(0)
		for pos+recHeaderSize <= n {
			reclen := binary.LittleEndian.Uint16(b[pos:])
			nameLen := int(b[pos+2])
			if reclen < recHeaderSize || reclen%8 != 0 || uint64(reclen) < uint64(recHeaderSize+nameLen) || off+pos+uint64(reclen) > end {
				return syscall.EIO // damaged directory
			}
			if pos+uint64(reclen) > n {
				break // record continues in the next chunk
			}
			id := binary.LittleEndian.Uint64(b[pos+8:])
			typ := b[pos+3]
			name := b[pos+recHeaderSize : pos+recHeaderSize+uint64(nameLen)]
			if !fn(off+pos, reclen, id, typ, name) {
				return nil
			}
			pos += uint64(reclen)
		}
		if pos == 0 {
			return syscall.EIO
		}
		off += pos
	}
	return nil
}

// dirAdd inserts name → id in directory d. The caller checked that name
// is absent.
func (fs *FS) dirAdd(d *inode, name string, id uint64, mode uint32) error {
	ix, err := fs.dirLoad(d)
	if err != nil {
		return err
	}
	rl := recLen(len(name))
	rec := make([]byte, rl)
	binary.LittleEndian.PutUint16(rec, rl)
	rec[2] = byte(len(name))
	rec[3] = byte(mode >> 12)
	binary.LittleEndian.PutUint64(rec[8:], id)
	copy(rec[recHeaderSize:], name)
	var off uint64
	if fl := ix.free[rl]; len(fl) > 0 {
		off = fl[len(fl)-1]
		ix.free[rl] = fl[:len(fl)-1]
	} else {
		if d.a.Size < dirHeaderSize {
			if err := d.obj.Write(dirMagic[:], 0); err != nil {
				return ioErr(err)
			}
			d.a.Size = dirHeaderSize
		}
		off = d.a.Size
		d.a.Size += uint64(rl)
	}
	if err := d.obj.Write(rec, off); err != nil {
		return ioErr(err)
	}
	ix.ents[name] = dent{off: off, id: id, reclen: rl, typ: rec[3]}
	return nil
}

// dirRemove removes name from d; its slot becomes free.
func (fs *FS) dirRemove(d *inode, name string) error {
	ix, err := fs.dirLoad(d)
	if err != nil {
		return err
	}
	e, ok := ix.ents[name]
	if !ok {
		return syscall.ENOENT
	}
	rec := make([]byte, e.reclen)
	binary.LittleEndian.PutUint16(rec, e.reclen)
	if err := d.obj.Write(rec, e.off); err != nil {
		return ioErr(err)
	}
	delete(ix.ents, name)
	ix.free[e.reclen] = append(ix.free[e.reclen], e.off)
	return nil
}

// dirSet points an existing entry at another inode, in place (rename over
// an existing name keeps the entry's cookie).
func (fs *FS) dirSet(d *inode, name string, id uint64, mode uint32) error {
	ix, err := fs.dirLoad(d)
	if err != nil {
		return err
	}
	e, ok := ix.ents[name]
	if !ok {
		return syscall.ENOENT
	}
	var b [recHeaderSize - 3]byte
	b[0] = byte(mode >> 12)
	binary.LittleEndian.PutUint64(b[5:], id)
	if err := d.obj.Write(b[:], e.off+3); err != nil {
		return ioErr(err)
	}
	e.id, e.typ = id, b[0]
	ix.ents[name] = e
	return nil
}

// ReadDir calls fn for the entries of directory dir from cookie on (0: the
// start), until fn returns false. Each entry's Next resumes after it. "."
// and ".." are not included.
func (fs *FS) ReadDir(dir, cookie uint64, fn func(DirEntry) bool) error {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	d, err := fs.inode(dir)
	if err != nil {
		return err
	}
	if !d.a.IsDir() {
		return syscall.ENOTDIR
	}
	return fs.scanDir(d, cookie, func(off uint64, reclen uint16, id uint64, typ uint8, name []byte) bool {
		if id == 0 {
			return true
		}
		return fn(DirEntry{Name: string(name), Ino: id, Mode: uint32(typ) << 12, Next: off + uint64(reclen)})
	})
}

func validName(name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return syscall.EINVAL
	case len(name) > MaxNameLen:
		return syscall.ENAMETOOLONG
	}
	for i := 0; i < len(name); i++ {
		if name[i] == '/' || name[i] == 0 {
			return syscall.EINVAL
		}
	}
	return nil
}
