package zpl

import (
	"encoding/binary"
	"sort"
	"strings"
	"syscall"

	"coffer/internal/format"
)

// Xattr limits (Linux's).
const (
	XattrNameMax  = 255
	XattrValueMax = 64 << 10
	xattrSetMax   = 1 << 20 // all attributes of one inode, serialized
	// Setxattr flags.
	XattrCreate  = 1
	XattrReplace = 2
)

// An xattr object's data is: u32 total length, u32 count, then per
// attribute u16 name length, name, u32 value length, value; names sorted.
func (fs *FS) loadXattrs(ino *inode) (map[string][]byte, error) {
	m := map[string][]byte{}
	if ino.a.Xattr == 0 {
		return m, nil
	}
	o, err := fs.os.Object(ino.a.Xattr)
	if err != nil {
		return nil, ioErr(err)
	}
	var hdr [8]byte
	if err := o.Read(hdr[:], 0); err != nil {
		return nil, ioErr(err)
	}
	total := binary.LittleEndian.Uint32(hdr[:])
	if total < 8 || total > xattrSetMax {
		return nil, syscall.EIO
	}
	b := make([]byte, total)
	if err := o.Read(b, 0); err != nil {
		return nil, ioErr(err)
	}
	count := binary.LittleEndian.Uint32(b[4:])
	p := b[8:]
	for i := uint32(0); i < count; i++ {
		if len(p) < 2 {
			return nil, syscall.EIO
		}
		nl := int(binary.LittleEndian.Uint16(p))
		if len(p) < 2+nl+4 {
			return nil, syscall.EIO
		}
		name := string(p[2 : 2+nl])
		vl := int(binary.LittleEndian.Uint32(p[2+nl:]))
		p = p[2+nl+4:]
		if len(p) < vl {
			return nil, syscall.EIO
		}
		m[name] = append([]byte(nil), p[:vl]...)
		p = p[vl:]
	}
	return m, nil
}

func (fs *FS) storeXattrs(ino *inode, m map[string][]byte) error {
	if len(m) == 0 {
		if ino.a.Xattr != 0 {
			if err := fs.os.FreeObject(ino.a.Xattr); err != nil {
				return ioErr(err)
			}
			ino.a.Xattr = 0
		}
		return nil
	}
	names := make([]string, 0, len(m))
	size := 8
	for k, v := range m {
		names = append(names, k)
		size += 2 + len(k) + 4 + len(v)
	}
	if size > xattrSetMax {
		return syscall.ENOSPC
	}
	sort.Strings(names)
	b := make([]byte, 8, size)
	binary.LittleEndian.PutUint32(b, uint32(size))
	binary.LittleEndian.PutUint32(b[4:], uint32(len(m)))
	for _, k := range names {
		b = binary.LittleEndian.AppendUint16(b, uint16(len(k)))
		b = append(b, k...)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(m[k])))
		b = append(b, m[k]...)
	}
	if ino.a.Xattr == 0 {
		o, err := fs.os.NewObject(format.ObjectXattr, format.DefaultRecordSz, fs.opts.NextTxg())
		if err != nil {
			return ioErr(err)
		}
		ino.a.Xattr = o.ID()
	}
	o, err := fs.os.Object(ino.a.Xattr)
	if err != nil {
		return ioErr(err)
	}
	// Overwrite in place: bytes past the new total length are never read.
	return ioErr(o.Write(b, 0))
}

func checkXattrName(name string) error {
	switch {
	case name == "":
		return syscall.EINVAL
	case len(name) > XattrNameMax:
		return syscall.ERANGE
	case strings.HasPrefix(name, "system."):
		return syscall.EOPNOTSUPP // no POSIX ACLs
	}
	return nil
}

// Getxattr returns the value of attribute name of id.
func (fs *FS) Getxattr(id uint64, name string) ([]byte, error) {
	if err := checkXattrName(name); err != nil {
		return nil, err
	}
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	ino, err := fs.inode(id)
	if err != nil {
		return nil, err
	}
	m, err := fs.loadXattrs(ino)
	if err != nil {
		return nil, err
	}
	v, ok := m[name]
	if !ok {
		return nil, syscall.ENODATA
	}
	return v, nil
}

// Listxattr returns the attribute names of id, sorted.
func (fs *FS) Listxattr(id uint64) ([]string, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	ino, err := fs.inode(id)
	if err != nil {
		return nil, err
	}
	m, err := fs.loadXattrs(ino)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out, nil
}

// Setxattr sets attribute name of id; flags may hold XattrCreate or
// XattrReplace.
func (fs *FS) Setxattr(id uint64, name string, value []byte, flags uint32) error {
	if err := fs.writable(); err != nil {
		return err
	}
	if err := checkXattrName(name); err != nil {
		return err
	}
	if len(value) > XattrValueMax {
		return syscall.E2BIG
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ino, err := fs.inode(id)
	if err != nil {
		return err
	}
	m, err := fs.loadXattrs(ino)
	if err != nil {
		return err
	}
	_, ok := m[name]
	switch {
	case ok && flags&XattrCreate != 0:
		return syscall.EEXIST
	case !ok && flags&XattrReplace != 0:
		return syscall.ENODATA
	}
	m[name] = append([]byte(nil), value...)
	if err := fs.storeXattrs(ino, m); err != nil {
		return err
	}
	ino.a.Ctime = fs.now()
	return fs.store(ino)
}

// Removexattr removes attribute name of id.
func (fs *FS) Removexattr(id uint64, name string) error {
	if err := fs.writable(); err != nil {
		return err
	}
	if err := checkXattrName(name); err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ino, err := fs.inode(id)
	if err != nil {
		return err
	}
	m, err := fs.loadXattrs(ino)
	if err != nil {
		return err
	}
	if _, ok := m[name]; !ok {
		return syscall.ENODATA
	}
	delete(m, name)
	if err := fs.storeXattrs(ino, m); err != nil {
		return err
	}
	ino.a.Ctime = fs.now()
	return fs.store(ino)
}
