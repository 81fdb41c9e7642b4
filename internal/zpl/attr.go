package zpl

import (
	"encoding/binary"
	"fmt"
	"syscall"
)

// Format versions, frozen: changing a layout needs a new version.
const (
	// FormatVersion is the version in the master node.
	FormatVersion = 1
	// attrVersion is the first byte of every inode bonus.
	attrVersion = 1
	// attrSize is the length of an inode bonus (layout in docs/design/zpl.md).
	attrSize = 96
	// masterSize is the length of the master node's bonus.
	masterSize = 32
	// MasterObject is the object id of the master node.
	MasterObject = 1
)

// File type bits of Attr.Mode (the S_IFMT values of Linux).
const (
	ModeType    = syscall.S_IFMT
	ModeDir     = syscall.S_IFDIR
	ModeRegular = syscall.S_IFREG
	ModeSymlink = syscall.S_IFLNK
)

// Attr is an inode's attributes. Times are nanoseconds since the epoch.
type Attr struct {
	Ino    uint64 // object id (not stored: it is the object's number)
	Mode   uint32 // type and permission bits
	UID    uint32
	GID    uint32
	Nlink  uint32
	Rdev   uint32
	Flags  uint16
	Size   uint64 // bytes; for a directory, the end of its record area
	Atime  int64
	Mtime  int64
	Ctime  int64
	Crtime int64
	Parent uint64 // parent directory (directories; last link for others)
	Gen    uint64 // txg the inode was created in
	Xattr  uint64 // object holding the xattrs; 0: none
}

// IsDir reports whether the inode is a directory.
func (a *Attr) IsDir() bool { return a.Mode&ModeType == ModeDir }

func (a *Attr) encode() []byte {
	b := make([]byte, attrSize)
	le := binary.LittleEndian
	b[0] = attrVersion
	le.PutUint16(b[2:], a.Flags)
	le.PutUint32(b[4:], a.Mode)
	le.PutUint32(b[8:], a.UID)
	le.PutUint32(b[12:], a.GID)
	le.PutUint32(b[16:], a.Nlink)
	le.PutUint32(b[20:], a.Rdev)
	le.PutUint64(b[24:], a.Size)
	le.PutUint64(b[32:], uint64(a.Atime))
	le.PutUint64(b[40:], uint64(a.Mtime))
	le.PutUint64(b[48:], uint64(a.Ctime))
	le.PutUint64(b[56:], uint64(a.Crtime))
	le.PutUint64(b[64:], a.Parent)
	le.PutUint64(b[72:], a.Gen)
	le.PutUint64(b[80:], a.Xattr)
	// 88..95 reserved, zero.
	return b
}

func decodeAttr(id uint64, b []byte) (Attr, error) {
	if len(b) < attrSize || b[0] != attrVersion {
		return Attr{}, fmt.Errorf("inode %d: bad attribute bonus (len %d): %w", id, len(b), syscall.EIO)
	}
	le := binary.LittleEndian
	return Attr{
		Ino:    id,
		Flags:  le.Uint16(b[2:]),
		Mode:   le.Uint32(b[4:]),
		UID:    le.Uint32(b[8:]),
		GID:    le.Uint32(b[12:]),
		Nlink:  le.Uint32(b[16:]),
		Rdev:   le.Uint32(b[20:]),
		Size:   le.Uint64(b[24:]),
		Atime:  int64(le.Uint64(b[32:])),
		Mtime:  int64(le.Uint64(b[40:])),
		Ctime:  int64(le.Uint64(b[48:])),
		Crtime: int64(le.Uint64(b[56:])),
		Parent: le.Uint64(b[64:]),
		Gen:    le.Uint64(b[72:]),
		Xattr:  le.Uint64(b[80:]),
	}, nil
}

// master is the master node's bonus.
type master struct {
	version  uint32
	root     uint64
	unlinked uint64
}

func (m *master) encode() []byte {
	b := make([]byte, masterSize)
	copy(b[0:4], "ZPL\x00")
	binary.LittleEndian.PutUint32(b[4:], m.version)
	binary.LittleEndian.PutUint64(b[8:], m.root)
	binary.LittleEndian.PutUint64(b[16:], m.unlinked)
	return b
}

func decodeMaster(b []byte) (master, error) {
	if len(b) < masterSize || string(b[0:4]) != "ZPL\x00" {
		return master{}, fmt.Errorf("master node: not a coffer file system: %w", syscall.EIO)
	}
	m := master{
		version:  binary.LittleEndian.Uint32(b[4:]),
		root:     binary.LittleEndian.Uint64(b[8:]),
		unlinked: binary.LittleEndian.Uint64(b[16:]),
	}
	if m.version != FormatVersion {
		return master{}, fmt.Errorf("master node: unsupported format version %d: %w", m.version, syscall.EIO)
	}
	return m, nil
}
