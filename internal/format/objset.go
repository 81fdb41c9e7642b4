package format

import (
	"encoding/binary"
	"fmt"
)

const (
	objsetMagic   = 0x534f524546464f43 // "COFFEROS"
	ObjsetVersion = 1
	ObjsetSize    = 1024
)

// ObjsetKind is the kind of dataset an object set belongs to.
type ObjsetKind uint32

const (
	ObjsetFilesystem ObjsetKind = 1
	ObjsetVolume     ObjsetKind = 2
)

// Objset is the header block of a dataset's object set: the dnode of its
// object table (the "meta-dnode") and the identity of the key that protects
// it. Its keyed MAC (over the portable form) is kept in the pointer to it.
type Objset struct {
	Kind    ObjsetKind
	Crypt   uint8
	KeyGUID uint64
	Meta    Dnode
}

// Encode returns the ObjsetSize-byte encoding.
func (o *Objset) Encode() []byte {
	b := make([]byte, ObjsetSize)
	le := binary.LittleEndian
	le.PutUint64(b[0:], objsetMagic)
	le.PutUint32(b[8:], ObjsetVersion)
	le.PutUint32(b[12:], uint32(o.Kind))
	le.PutUint64(b[16:], o.KeyGUID)
	b[24] = o.Crypt
	o.Meta.Encode(b[32 : 32+DnodeSize])
	return b
}

// Decode parses an objset header.
func (o *Objset) Decode(b []byte) error {
	if len(b) < ObjsetSize {
		return fmt.Errorf("objset: %w: short", ErrCorrupt)
	}
	le := binary.LittleEndian
	if le.Uint64(b[0:]) != objsetMagic {
		return fmt.Errorf("objset: %w: bad magic", ErrCorrupt)
	}
	if v := le.Uint32(b[8:]); v != ObjsetVersion {
		return fmt.Errorf("objset: %w: unsupported version %d", ErrCorrupt, v)
	}
	*o = Objset{Kind: ObjsetKind(le.Uint32(b[12:])), KeyGUID: le.Uint64(b[16:]), Crypt: b[24]}
	if o.Kind != ObjsetFilesystem && o.Kind != ObjsetVolume {
		return fmt.Errorf("objset: %w: kind %d", ErrCorrupt, o.Kind)
	}
	return o.Meta.Decode(b[32 : 32+DnodeSize])
}

// MakeObjsetPortable zeroes the physical fields of the meta-dnode's root pointer.
func MakeObjsetPortable(b []byte) {
	MakePortable(b[32+32 : 32+160])
}
