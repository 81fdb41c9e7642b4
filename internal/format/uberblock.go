package format

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"fmt"
)

const (
	uberMagic        = 0x4255524546464f43 // "COFFERUB"
	UberblockVersion = 1
	UberblockSize    = 200
	UberSlots        = 128
)

// Uberblock is the root of a pool's state at one txg. The newest valid
// uberblock across all vdevs is the pool's state.
type Uberblock struct {
	Txg      uint64
	Time     int64 // unix nanoseconds
	PoolGUID uint64
	MOS      BlockPointer
}

// Encode returns the UberblockSize-byte encoding, ending with a SHA-256 of
// the preceding bytes.
func (u *Uberblock) Encode() []byte {
	b := make([]byte, UberblockSize)
	le := binary.LittleEndian
	le.PutUint64(b[0:], uberMagic)
	le.PutUint32(b[8:], UberblockVersion)
	le.PutUint64(b[16:], u.Txg)
	le.PutUint64(b[24:], uint64(u.Time))
	le.PutUint64(b[32:], u.PoolGUID)
	u.MOS.Encode(b[40:168])
	sum := sha256.Sum256(b[:168])
	copy(b[168:200], sum[:])
	return b
}

// Decode parses and verifies an uberblock. An all-zero slot is ErrCorrupt.
func (u *Uberblock) Decode(b []byte) error {
	if len(b) < UberblockSize {
		return fmt.Errorf("uberblock: %w: short", ErrCorrupt)
	}
	le := binary.LittleEndian
	if le.Uint64(b[0:]) != uberMagic {
		return fmt.Errorf("uberblock: %w: bad magic", ErrCorrupt)
	}
	sum := sha256.Sum256(b[:168])
	if subtle.ConstantTimeCompare(sum[:], b[168:200]) != 1 {
		return fmt.Errorf("uberblock: %w: checksum mismatch", ErrCorrupt)
	}
	if v := le.Uint32(b[8:]); v != UberblockVersion {
		return fmt.Errorf("uberblock: %w: unsupported version %d", ErrCorrupt, v)
	}
	*u = Uberblock{Txg: le.Uint64(b[16:]), Time: int64(le.Uint64(b[24:])), PoolGUID: le.Uint64(b[32:])}
	if err := u.MOS.Decode(b[40:168]); err != nil {
		return fmt.Errorf("uberblock: %w", err)
	}
	if u.MOS.Type != TypeMOS || u.MOS.IsHole() {
		return fmt.Errorf("uberblock: %w: MOS pointer", ErrCorrupt)
	}
	return nil
}
