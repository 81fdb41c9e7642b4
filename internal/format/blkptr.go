package format

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// BlockType says what a block holds. Values are frozen.
type BlockType uint8

const (
	TypeNone     BlockType = 0
	TypeData     BlockType = 1 // level-0 contents of an object
	TypeIndirect BlockType = 2 // array of block pointers
	TypeDnode    BlockType = 3 // level-0 block of an object table: array of dnodes
	TypeObjset   BlockType = 4 // object-set header
	TypeMOS      BlockType = 5 // pool metadata document
)

func (t BlockType) String() string {
	switch t {
	case TypeNone:
		return "none"
	case TypeData:
		return "data"
	case TypeIndirect:
		return "indirect"
	case TypeDnode:
		return "dnode"
	case TypeObjset:
		return "objset"
	case TypeMOS:
		return "mos"
	}
	return fmt.Sprintf("type(%d)", uint8(t))
}

// Checksum algorithms of the on-disk bytes of a block. Values are frozen.
//
// Pools of MOS version 1 hold only ChecksumXXH64; version 2 pools write
// ChecksumXXH3 (docs/design/on-disk-format.md §3).
const (
	ChecksumXXH64 uint8 = 1 // xxhash64 of the stored bytes, in the first 8 bytes
	ChecksumXXH3  uint8 = 2 // XXH3-64 (seed 0) of the stored bytes, in the first 8 bytes
)

// KnownChecksum reports whether alg is a checksum algorithm this version
// reads.
func KnownChecksum(alg uint8) bool { return alg == ChecksumXXH64 || alg == ChecksumXXH3 }

// BPSize is the encoded size of a block pointer.
const BPSize = 128

// BlockPointer locates one stored block and carries everything needed to
// verify it (checksum of the stored bytes, keyless) and to decrypt it (IV,
// salt, MAC). The physical fields (Vdev, Offset, PhysBirth) change when a
// block is moved to another pool; the rest is "portable" and is what keyed
// MACs of parent blocks cover.
type BlockPointer struct {
	Vdev      uint32 // top-level vdev index
	PSize     uint32 // bytes stored
	Offset    uint64 // byte offset in the vdev's data
	LSize     uint32 // logical (uncompressed) bytes
	Type      BlockType
	Level     uint8
	Compress  uint8 // compress.Alg
	Crypt     uint8 // crypto.Suite; 0 = not encrypted (may still carry a MAC)
	CksumAlg  uint8
	Flags     uint8
	PhysBirth uint64 // txg in which the block was written in this pool
	Birth     uint64 // logical birth txg: bound into the block's associated data, survives raw send
	Fill      uint64 // non-hole level-0 blocks beneath (data); allocated dnodes (dnode blocks)
	Checksum  [16]byte
	MAC       [16]byte
	IV        [12]byte
	Salt      [8]byte
}

// IsHole reports whether the pointer points at no stored block. A hole may
// still carry a Birth: the txg in which the range was punched.
func (bp *BlockPointer) IsHole() bool { return bp.PSize == 0 }

// IsZero reports whether the pointer was never written.
func (bp *BlockPointer) IsZero() bool { return *bp == BlockPointer{} }

// SameBlock reports whether two pointers reference the same stored block.
func (bp *BlockPointer) SameBlock(o *BlockPointer) bool {
	return bp.Vdev == o.Vdev && bp.Offset == o.Offset && bp.PSize == o.PSize &&
		bp.PhysBirth == o.PhysBirth && bp.Birth == o.Birth
}

// Encode writes the pointer into b[:BPSize].
func (bp *BlockPointer) Encode(b []byte) {
	_ = b[BPSize-1]
	le := binary.LittleEndian
	le.PutUint32(b[0:], bp.Vdev)
	le.PutUint32(b[4:], bp.PSize)
	le.PutUint64(b[8:], bp.Offset)
	le.PutUint32(b[16:], bp.LSize)
	b[20] = uint8(bp.Type)
	b[21] = bp.Level
	b[22] = bp.Compress
	b[23] = bp.Crypt
	b[24] = bp.CksumAlg
	b[25] = bp.Flags
	clear(b[26:32])
	le.PutUint64(b[32:], bp.PhysBirth)
	le.PutUint64(b[40:], bp.Birth)
	le.PutUint64(b[48:], bp.Fill)
	copy(b[56:72], bp.Checksum[:])
	copy(b[72:88], bp.MAC[:])
	copy(b[88:100], bp.IV[:])
	copy(b[100:108], bp.Salt[:])
	clear(b[108:128])
}

// ErrCorrupt is returned by decoders for malformed input.
var ErrCorrupt = errors.New("corrupt metadata")

// Decode reads a pointer from b[:BPSize].
func (bp *BlockPointer) Decode(b []byte) error {
	if len(b) < BPSize {
		return fmt.Errorf("block pointer: %w: short (%d bytes)", ErrCorrupt, len(b))
	}
	le := binary.LittleEndian
	*bp = BlockPointer{
		Vdev:      le.Uint32(b[0:]),
		PSize:     le.Uint32(b[4:]),
		Offset:    le.Uint64(b[8:]),
		LSize:     le.Uint32(b[16:]),
		Type:      BlockType(b[20]),
		Level:     b[21],
		Compress:  b[22],
		Crypt:     b[23],
		CksumAlg:  b[24],
		Flags:     b[25],
		PhysBirth: le.Uint64(b[32:]),
		Birth:     le.Uint64(b[40:]),
		Fill:      le.Uint64(b[48:]),
	}
	copy(bp.Checksum[:], b[56:72])
	copy(bp.MAC[:], b[72:88])
	copy(bp.IV[:], b[88:100])
	copy(bp.Salt[:], b[100:108])
	return bp.Validate()
}

// MaxBlockSize bounds LSize and PSize of any block.
const MaxBlockSize = 16 << 20

// MaxMOSSize bounds the pool metadata document.
const MaxMOSSize = 256 << 20

// Validate checks the invariants a well-formed pointer satisfies.
func (bp *BlockPointer) Validate() error {
	if bp.IsZero() {
		return nil
	}
	lim := uint32(MaxBlockSize)
	if bp.Type == TypeMOS {
		lim = MaxMOSSize
	}
	switch {
	case bp.Type > TypeMOS:
		return fmt.Errorf("block pointer: %w: type %d", ErrCorrupt, bp.Type)
	case bp.PSize > lim || bp.LSize > lim:
		return fmt.Errorf("block pointer: %w: size %d/%d", ErrCorrupt, bp.PSize, bp.LSize)
	case bp.Level > MaxLevels:
		return fmt.Errorf("block pointer: %w: level %d", ErrCorrupt, bp.Level)
	case !bp.IsHole() && bp.LSize == 0:
		return fmt.Errorf("block pointer: %w: zero logical size", ErrCorrupt)
	case !bp.IsHole() && !KnownChecksum(bp.CksumAlg):
		return fmt.Errorf("block pointer: %w: checksum algorithm %d", ErrCorrupt, bp.CksumAlg)
	}
	return nil
}

// Portable returns the encoding with the physical fields (vdev, offset,
// physical birth) zeroed: what a keyed MAC over a parent block covers, so that
// blocks keep their MACs when a raw stream moves them to another pool.
func (bp *BlockPointer) Portable(b []byte) {
	bp.Encode(b)
	MakePortable(b)
}

// MakePortable zeroes the physical fields of an encoded block pointer in
// place: vdev, offset and physical birth always; for a structural block
// (indirect, dnode, objset) also its stored size and checksum, because its
// stored bytes hold its children's physical addresses and change when the
// tree is copied to another pool. A structural block stays authenticated by
// its own keyed MAC, which the portable form keeps.
func MakePortable(b []byte) {
	clear(b[0:4])
	clear(b[8:16])
	clear(b[32:40])
	switch BlockType(b[20]) {
	case TypeIndirect, TypeDnode, TypeObjset:
		clear(b[4:8])   // psize
		clear(b[56:72]) // checksum
	}
}

func (bp BlockPointer) String() string {
	if bp.IsZero() {
		return "<zero>"
	}
	if bp.IsHole() {
		return fmt.Sprintf("<hole birth=%d>", bp.Birth)
	}
	return fmt.Sprintf("%d:%#x:%d/%d %s L%d birth=%d/%d fill=%d", bp.Vdev, bp.Offset, bp.PSize, bp.LSize,
		bp.Type, bp.Level, bp.PhysBirth, bp.Birth, bp.Fill)
}
