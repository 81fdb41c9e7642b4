package format

import (
	"encoding/binary"
	"fmt"
)

// ObjectType is the kind of an object in an object set. Values are frozen.
// The type is stored in plaintext (as in ZFS); everything that describes a
// file beyond its block layout lives in the encrypted bonus.
type ObjectType uint8

const (
	ObjectNone    ObjectType = 0 // free slot
	ObjectPlain   ObjectType = 1 // opaque data (file contents, volume data)
	ObjectDir     ObjectType = 2 // directory contents
	ObjectSymlink ObjectType = 3
	ObjectMaster  ObjectType = 4 // the object set's master node
	ObjectXattr   ObjectType = 5
	ObjectVolume  ObjectType = 6
	objectMax     ObjectType = 6
)

const (
	DnodeSize       = 512
	DnodeBlockSize  = 16 << 10 // object-table blocks
	DnodesPerBlock  = DnodeBlockSize / DnodeSize
	IndirectSize    = 128 << 10 // indirect blocks
	IndirectShift   = 10        // log2(IndirectSize / BPSize)
	BPsPerIndirect  = 1 << IndirectShift
	MaxLevels       = 7
	bonusOffset     = 160
	BonusArea       = DnodeSize - bonusOffset // 352
	BonusMax        = BonusArea - 12 - 16 - 8 // 316: plaintext bonus bytes
	DnodeFlagCrypt  = 1                       // bonus is encrypted
	MinBlockSize    = 512
	DefaultRecordSz = 128 << 10
)

// Dnode describes one object: its type and the root of its block tree, plus
// a small "bonus" of attributes that is encrypted in encrypted object sets.
type Dnode struct {
	Type      ObjectType
	NLevels   uint8
	Flags     uint8
	DataBlkSz uint32
	MaxBlkID  uint64
	Gen       uint64 // txg in which the object was allocated
	BonusLen  uint16 // plaintext length of the bonus
	Root      BlockPointer
	// Bonus holds the bonus area as stored: plaintext (BonusLen bytes) or,
	// with DnodeFlagCrypt, iv(12) | mac(16) | salt(8) | ciphertext(BonusLen).
	Bonus [BonusArea]byte
}

// IsFree reports whether the slot holds no object.
func (d *Dnode) IsFree() bool { return d.Type == ObjectNone }

// Encode writes the dnode into b[:DnodeSize].
func (d *Dnode) Encode(b []byte) {
	_ = b[DnodeSize-1]
	le := binary.LittleEndian
	b[0] = uint8(d.Type)
	b[1] = d.NLevels
	b[2] = d.Flags
	b[3] = 0
	le.PutUint32(b[4:], d.DataBlkSz)
	le.PutUint64(b[8:], d.MaxBlkID)
	le.PutUint64(b[16:], d.Gen)
	le.PutUint16(b[24:], d.BonusLen)
	clear(b[26:32])
	d.Root.Encode(b[32:160])
	copy(b[bonusOffset:], d.Bonus[:])
}

// Decode reads a dnode from b[:DnodeSize].
func (d *Dnode) Decode(b []byte) error {
	if len(b) < DnodeSize {
		return fmt.Errorf("dnode: %w: short", ErrCorrupt)
	}
	le := binary.LittleEndian
	*d = Dnode{
		Type:      ObjectType(b[0]),
		NLevels:   b[1],
		Flags:     b[2],
		DataBlkSz: le.Uint32(b[4:]),
		MaxBlkID:  le.Uint64(b[8:]),
		Gen:       le.Uint64(b[16:]),
		BonusLen:  le.Uint16(b[24:]),
	}
	if err := d.Root.Decode(b[32:160]); err != nil {
		return fmt.Errorf("dnode: %w", err)
	}
	copy(d.Bonus[:], b[bonusOffset:DnodeSize])
	if d.Type == ObjectNone {
		return nil
	}
	switch {
	case d.Type > objectMax:
		return fmt.Errorf("dnode: %w: type %d", ErrCorrupt, d.Type)
	case d.NLevels < 1 || d.NLevels > MaxLevels:
		return fmt.Errorf("dnode: %w: %d levels", ErrCorrupt, d.NLevels)
	case d.DataBlkSz < MinBlockSize || d.DataBlkSz > MaxBlockSize || d.DataBlkSz%MinBlockSize != 0:
		return fmt.Errorf("dnode: %w: block size %d", ErrCorrupt, d.DataBlkSz)
	case d.BonusLen > BonusMax:
		return fmt.Errorf("dnode: %w: bonus length %d", ErrCorrupt, d.BonusLen)
	case d.MaxBlkID > MaxBlkIDFor(d.NLevels):
		return fmt.Errorf("dnode: %w: maxblkid %d for %d levels", ErrCorrupt, d.MaxBlkID, d.NLevels)
	}
	return nil
}

// MaxBlkIDFor is the largest level-0 block id a tree of n levels can address.
func MaxBlkIDFor(n uint8) uint64 {
	if n <= 1 {
		return 0
	}
	shift := uint(n-1) * IndirectShift
	if shift >= 64 {
		return ^uint64(0)
	}
	return (uint64(1) << shift) - 1
}

// LevelsFor is the number of levels needed to address block maxBlkID.
func LevelsFor(maxBlkID uint64) uint8 {
	n := uint8(1)
	for MaxBlkIDFor(n) < maxBlkID {
		n++
	}
	return n
}

// MakeDnodeBlockPortable zeroes the physical fields of every root pointer in
// an encoded object-table block.
func MakeDnodeBlockPortable(b []byte) {
	for off := 0; off+DnodeSize <= len(b); off += DnodeSize {
		MakePortable(b[off+32 : off+160])
	}
}

// MakeIndirectPortable zeroes the physical fields of every pointer in an
// encoded indirect block.
func MakeIndirectPortable(b []byte) {
	for off := 0; off+BPSize <= len(b); off += BPSize {
		MakePortable(b[off : off+BPSize])
	}
}
