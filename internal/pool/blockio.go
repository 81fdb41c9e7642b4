package pool

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cespare/xxhash/v2"
	"github.com/zeebo/xxh3"

	"coffer/internal/compress"
	"coffer/internal/crypto"
	"coffer/internal/format"
	"coffer/internal/vdev"
)

// Block flags (format.BlockPointer.Flags). Values are frozen.
const (
	FlagEncrypted = 1 << 0 // stored bytes are ciphertext; MAC is the AEAD tag
	FlagMAC       = 1 << 1 // plaintext structural block; MAC is a keyed MAC of its portable form
)

// ErrKeyNotLoaded is returned when a block of an encrypted dataset is read
// without its key.
var ErrKeyNotLoaded = errors.New("encryption key not loaded")

// BlockSpec says how to store one block.
type BlockSpec struct {
	Type     format.BlockType
	Level    uint8
	Compress compress.Alg
	Fill     uint64
	// Key protects the block: data blocks are encrypted with it, structural
	// blocks (indirect, dnode, objset) carry a keyed MAC. Nil: neither.
	Key *crypto.DatasetKey
	// AD is bound into the encryption or MAC (the block's identity).
	AD []byte
	// Birth is the logical birth to record (and bind); 0 means txg.
	Birth uint64
	// Cksum is the checksum algorithm of the stored bytes
	// (format.ChecksumXXH3 or format.ChecksumXXH64); 0 means
	// format.ChecksumXXH64, the only one of format version 1
	// (Pool.WriteChecksum gives the pool's).
	Cksum uint8
}

// checksum is the checksum alg records for stored bytes b: the 64-bit hash
// little-endian in the first 8 bytes, the rest zero. Unknown algorithms
// give the zero sum, which matches nothing written: Decode of a pointer
// validates alg before any read.
func checksum(alg uint8, b []byte) [16]byte {
	var s [16]byte
	switch alg {
	case format.ChecksumXXH64:
		binary.LittleEndian.PutUint64(s[:], xxhash.Sum64(b))
	case format.ChecksumXXH3:
		binary.LittleEndian.PutUint64(s[:], xxh3.Hash(b))
	}
	return s
}

// ChecksumOK reports whether stored bytes b match bp's checksum (by bp's
// algorithm). It needs no key.
func ChecksumOK(bp *format.BlockPointer, b []byte) bool {
	return format.KnownChecksum(bp.CksumAlg) && checksum(bp.CksumAlg, b) == bp.Checksum
}

// portable returns the bytes a keyed MAC covers for a structural block.
func portable(t format.BlockType, data []byte) []byte {
	c := append([]byte(nil), data...)
	switch t {
	case format.TypeIndirect:
		format.MakeIndirectPortable(c)
	case format.TypeDnode:
		format.MakeDnodeBlockPortable(c)
	case format.TypeObjset:
		format.MakeObjsetPortable(c)
	}
	return c
}

// Encode turns logical bytes into stored bytes and a pointer without an
// address: compress, then encrypt or MAC, then checksum. It does no I/O and
// is safe to call concurrently. The stored bytes come from GetBuf; the
// caller gives them back with PutBuf once written.
func Encode(txg uint64, spec BlockSpec, data []byte) ([]byte, format.BlockPointer, error) {
	if len(data) == 0 {
		return nil, format.BlockPointer{}, errors.New("empty block")
	}
	birth := spec.Birth
	if birth == 0 {
		birth = txg
	}
	cksum := spec.Cksum
	if cksum == 0 {
		cksum = format.ChecksumXXH64
	}
	if !format.KnownChecksum(cksum) {
		return nil, format.BlockPointer{}, fmt.Errorf("unknown checksum algorithm %d", cksum)
	}
	bp := format.BlockPointer{
		LSize: uint32(len(data)), Type: spec.Type, Level: spec.Level, CksumAlg: cksum,
		PhysBirth: txg, Birth: birth, Fill: spec.Fill,
	}
	src := data // the bytes to encrypt or store
	var cbuf []byte
	if spec.Compress != compress.Off {
		cbuf = GetBuf(len(data))
		if c, ok := compress.Compress(spec.Compress, cbuf[:0], data); ok && len(c) <= cap(cbuf) && &c[:1][0] == &cbuf[:1][0] {
			src = c
			bp.Compress = uint8(spec.Compress)
		} else if ok {
			// The compressor returned its own buffer: keep the result anyway.
			PutBuf(cbuf)
			cbuf = nil
			src = c
			bp.Compress = uint8(spec.Compress)
		}
	}
	var stored []byte
	if k := spec.Key; k != nil && spec.Type == format.TypeData {
		bp.Crypt = uint8(k.Suite())
		out := GetBuf(len(src) + crypto.MACLen) // room for the tag the AEAD appends before it is split off
		ct, iv, salt, mac, err := k.SealTo(out[:0], crypto.PurposeData, src, spec.AD)
		if cbuf != nil {
			PutBuf(cbuf)
		}
		if err != nil {
			PutBuf(out)
			return nil, bp, err
		}
		stored, bp.IV, bp.Salt, bp.MAC = ct, iv, salt, mac
		bp.Flags |= FlagEncrypted
	} else {
		if k != nil {
			bp.Crypt = uint8(k.Suite())
			bp.MAC = k.MAC(spec.AD, portable(spec.Type, data))
			bp.Flags |= FlagMAC
		}
		if cbuf != nil && bp.Compress != 0 {
			stored = src // lives in cbuf
		} else {
			if cbuf != nil {
				PutBuf(cbuf)
			}
			stored = GetBuf(len(src))
			copy(stored, src)
		}
	}
	bp.PSize = uint32(len(stored))
	bp.Checksum = checksum(cksum, stored)
	return stored, bp, nil
}

// WriteBlock encodes and stores one block in txg.
func (p *Pool) WriteBlock(txg uint64, spec BlockSpec, data []byte) (format.BlockPointer, error) {
	stored, bp, err := Encode(txg, spec, data)
	if err != nil {
		return bp, err
	}
	err = p.Place(&bp, stored)
	PutBuf(stored)
	return bp, err
}

// Place allocates space for an encoded block, fills in its address and
// writes it.
func (p *Pool) Place(bp *format.BlockPointer, stored []byte) error {
	p.alloc1(bp, false)
	return p.WriteStored(bp, stored)
}

// Alloc allocates space for an encoded block of bp.PSize bytes and fills in
// its address; WriteStored writes it there.
func (p *Pool) Alloc(bp *format.BlockPointer) {
	p.alloc1(bp, false)
}

func (p *Pool) alloc1(bp *format.BlockPointer, early bool) {
	n := asize(bp.PSize)
	p.mu.Lock()
	if early {
		p.unsettled += n
	}
	vi := 0
	for i := range p.alloc {
		if p.alloc[i].allocated < p.alloc[vi].allocated {
			vi = i
		}
	}
	off := p.alloc[vi].alloc(n)
	p.mu.Unlock()
	bp.Vdev = uint32(vi)
	bp.Offset = off
}

// WriteStored writes a block's stored bytes at the address Alloc gave it.
func (p *Pool) WriteStored(bp *format.BlockPointer, stored []byte) error {
	n := asize(bp.PSize)
	// Pad to the allocation unit so that the tail of the sector holds no
	// stale bytes (stored has room: buffers are powers of two >= 512).
	buf := stored
	if uint64(len(buf)) != n {
		if uint64(cap(buf)) >= n {
			buf = buf[:n]
			clear(buf[len(stored):])
		} else {
			buf = make([]byte, n)
			copy(buf, stored)
		}
	}
	if err := p.tops[bp.Vdev].WriteAt(buf, int64(bp.Offset)); err != nil {
		return fmt.Errorf("write block: %w", err)
	}
	return nil
}

// ReadStored reads a block's stored bytes and verifies their checksum,
// repairing a bad mirror copy on the way. It needs no key.
func (p *Pool) ReadStored(bp *format.BlockPointer) ([]byte, error) {
	return p.readStored(bp, make([]byte, bp.PSize))
}

// ReadStoredBuf is ReadStored into a buffer from GetBuf, for hot paths
// (send, scrub): the caller gives it back with PutBuf.
func (p *Pool) ReadStoredBuf(bp *format.BlockPointer) ([]byte, error) {
	b, err := p.readStored(bp, GetBuf(int(bp.PSize)))
	if err != nil {
		return nil, err
	}
	return b, nil
}

func (p *Pool) readStored(bp *format.BlockPointer, buf []byte) ([]byte, error) {
	return p.readStoredCount(bp, buf, true, false)
}

// readStoredCount reads bp's stored bytes into buf; cold reads a
// sequential reader's block past the host's page cache when it is not
// there (vdev.Top.ReadAtCold), which may write into buf up to its cap.
func (p *Pool) readStoredCount(bp *format.BlockPointer, buf []byte, count, cold bool) ([]byte, error) {
	if bp.IsHole() {
		return nil, errors.New("read of a hole")
	}
	if int(bp.Vdev) >= len(p.tops) {
		return nil, fmt.Errorf("%w: vdev %d does not exist", ErrDamaged, bp.Vdev)
	}
	read := p.tops[bp.Vdev].ReadAt
	if cold {
		read = p.tops[bp.Vdev].ReadAtCold
	}
	err := read(buf, int64(bp.Offset), func(b []byte) bool { return ChecksumOK(bp, b) })
	if err != nil {
		if count {
			p.noteDamaged()
		}
		return nil, fmt.Errorf("%w at %d:%#x: %v", ErrDamaged, bp.Vdev, bp.Offset, err)
	}
	return buf, nil
}

// Decode turns stored bytes back into logical bytes, verifying the MAC or
// decrypting with key. Structural blocks of encrypted datasets decode
// without a key (their MAC is then not checked); data blocks need the key.
func Decode(bp *format.BlockPointer, stored []byte, key *crypto.DatasetKey, ad []byte) ([]byte, error) {
	return decode(bp, stored, key, ad, false)
}

// decode is Decode; owned says that stored is a buffer from GetBuf that
// decode may take: it then decrypts in place (stored needs TagRoom bytes
// of capacity after it) and decompresses into a buffer from GetBuf, so
// the result is stored itself or a buffer from GetBuf, and stored is given
// back when it is not the result (also on error).
func decode(bp *format.BlockPointer, stored []byte, key *crypto.DatasetKey, ad []byte, owned bool) (out []byte, err error) {
	result := true // the result is stored's buffer
	if owned {
		defer func() {
			if err != nil || !result {
				PutBuf(stored)
			}
		}()
	}
	if key != nil {
		// With a key, every block must be protected by it: a block without
		// the flag its type requires, or of another suite, is forged.
		want := uint8(FlagMAC)
		if bp.Type == format.TypeData {
			want = FlagEncrypted
		}
		if bp.Flags&(FlagEncrypted|FlagMAC) != want || bp.Crypt != uint8(key.Suite()) {
			return nil, fmt.Errorf("%w: unprotected block in an encrypted dataset at %d:%#x", ErrDamaged, bp.Vdev, bp.Offset)
		}
	}
	b := stored
	if bp.Flags&FlagEncrypted != 0 {
		if key == nil {
			return nil, ErrKeyNotLoaded
		}
		var dst []byte // a new buffer
		if owned && cap(stored)-len(stored) >= TagRoom {
			dst = stored[:0] // in place
		} else {
			result = false
		}
		pt, err := key.OpenTo(dst, crypto.PurposeData, stored, bp.IV, bp.Salt, bp.MAC, ad)
		if err != nil {
			return nil, fmt.Errorf("%w: authentication failed at %d:%#x", ErrDamaged, bp.Vdev, bp.Offset)
		}
		b = pt
	}
	if bp.Compress != uint8(compress.Off) {
		var dst []byte
		if owned {
			dst = GetBuf(int(bp.LSize))[:0]
		}
		d, err := compress.Decompress(compress.Alg(bp.Compress), dst, b, int(bp.LSize))
		if err != nil {
			PutBuf(dst)
			return nil, fmt.Errorf("%w: %v", ErrDamaged, err)
		}
		b, result = d, false
	} else if len(b) != int(bp.LSize) {
		return nil, fmt.Errorf("%w: size %d, expected %d", ErrDamaged, len(b), bp.LSize)
	}
	if bp.Flags&FlagMAC != 0 && key != nil {
		if !key.VerifyMAC(bp.MAC, ad, portable(bp.Type, b)) {
			return nil, fmt.Errorf("%w: MAC mismatch at %d:%#x", ErrDamaged, bp.Vdev, bp.Offset)
		}
	}
	return b, nil
}

// ReadBlock reads, verifies and decodes a block.
func (p *Pool) ReadBlock(bp *format.BlockPointer, key *crypto.DatasetKey, ad []byte) ([]byte, error) {
	return p.readBlock(bp, key, ad, true, false)
}

// ReadStreamBlock is ReadBlock for a level-0 data block of a sequential
// reader. When it is not in the host's page cache it is read past it
// (vdev.Leaf.ReadAtCold): its plaintext is cached above the pool and its
// ciphertext is not read again. Random reads keep the page cache, which
// serves their re-reads (fio's random 4 KiB reads ran at 98,000–106,000
// IOPS with every data block read direct, against 164,000–209,000).
func (p *Pool) ReadStreamBlock(bp *format.BlockPointer, key *crypto.DatasetKey, ad []byte) ([]byte, error) {
	return p.readBlock(bp, key, ad, true, true)
}

// ReadAheadBlock is ReadBlock for a block read ahead of its reader: a
// damaged block is not counted, as the reader reads it again and counts it
// then (a failed read is not cached). It is read as ReadStreamBlock is.
func (p *Pool) ReadAheadBlock(bp *format.BlockPointer, key *crypto.DatasetKey, ad []byte) ([]byte, error) {
	return p.readBlock(bp, key, ad, false, true)
}

// MaxRunBytes bounds the span of a run of blocks read ahead together
// (ReadAheadRun); MaxRunGap bounds the unused bytes between two blocks of
// a run, which are read and dropped.
const (
	MaxRunBytes = 2 << 20
	MaxRunGap   = 64 << 10
)

// RunSpan reports whether bps, in the order they are wanted, can be read
// as one run (ReadAheadRun, ReadStoredRun): on one vdev, not overlapping,
// and, taken in the order of their offsets, each within MaxRunGap of the
// end of the one before, all within MaxRunBytes. The order in bps does not
// matter: blocks written by parallel writers are stored a little out of
// order.
func RunSpan(bps []format.BlockPointer) bool {
	if len(bps) == 0 {
		return false
	}
	lo, hi := runBounds(bps)
	if hi-lo > MaxRunBytes {
		return false
	}
	var small [16]*format.BlockPointer // a run's blocks, without allocating
	byOff := small[:0]
	for i := range bps {
		if bps[i].Vdev != bps[0].Vdev {
			return false
		}
		byOff = append(byOff, &bps[i])
	}
	slices.SortFunc(byOff, func(a, b *format.BlockPointer) int { return cmp.Compare(a.Offset, b.Offset) })
	end := lo
	for _, bp := range byOff {
		if bp.Offset < end || bp.Offset-end > MaxRunGap {
			return false
		}
		end = bp.Offset + asize(bp.PSize)
	}
	return true
}

// runBounds returns the span [lo, hi) that bps occupy.
func runBounds(bps []format.BlockPointer) (lo, hi uint64) {
	lo = bps[0].Offset
	for i := range bps {
		lo = min(lo, bps[i].Offset)
		hi = max(hi, bps[i].Offset+asize(bps[i].PSize))
	}
	return lo, hi
}

// ReadAheadRun reads ahead the level-0 data blocks bps, which RunSpan
// accepts, with one read of the block store (past the host's page cache
// when they are not in it, as ReadStreamBlock reads), and emits each
// block's decoded bytes (a buffer from GetBuf, the receiver's) or error;
// ads[i] is bps[i]'s associated data. A block whose stored bytes do not
// verify, or all of them when the one read fails, is read again on its
// own with ReadAheadBlock, which tries the other copies of a mirror and
// repairs; as there, nothing is counted as damage: the reader reads a
// failed block again and counts it then.
//
// Fewer, larger reads keep the disk busy where many small ones did not:
// see docs/design/architecture.md, "Read-ahead runs".
func (p *Pool) ReadAheadRun(bps []format.BlockPointer, key *crypto.DatasetKey, ads [][]byte, emit func(i int, b []byte, err error)) {
	p.readRun(bps, func(i int) {
		b, err := p.ReadAheadBlock(&bps[i], key, ads[i])
		emit(i, b, err)
	}, func(i int, stored []byte) {
		bp := &bps[i]
		buf := GetBuf(int(bp.PSize) + TagRoom)[:bp.PSize]
		copy(buf, stored)
		out, err := decode(bp, buf, key, ads[i], true)
		emit(i, out, err)
	})
}

// ReadStoredRun is ReadStoredBuf for the blocks bps, which RunSpan
// accepts (a raw send reads them so): one read of the block store for all,
// past the host's page cache when they are not in it, and each block's
// stored bytes emitted in a buffer from GetBuf (the receiver's), verified.
// A block that does not verify in the one read, or every block when it
// fails, is read again with ReadStoredBuf, which tries the other copies
// of a mirror, repairs, and counts what it cannot read.
func (p *Pool) ReadStoredRun(bps []format.BlockPointer, emit func(i int, b []byte, err error)) {
	p.readRun(bps, func(i int) {
		b, err := p.ReadStoredBuf(&bps[i])
		emit(i, b, err)
	}, func(i int, stored []byte) {
		buf := GetBuf(len(stored))
		copy(buf, stored)
		emit(i, buf, nil)
	})
}

// readRun reads the span of bps with one read and calls each for every
// block whose stored bytes verify, with those bytes (valid only during the
// call); a block that does not, or every block when the read fails or bps
// is no run, goes to alone.
func (p *Pool) readRun(bps []format.BlockPointer, alone func(i int), each func(i int, stored []byte)) {
	if !RunSpan(bps) || int(bps[0].Vdev) >= len(p.tops) {
		for i := range bps {
			alone(i)
		}
		return
	}
	off, end := runBounds(bps)
	span := vdev.GetSpan(int(end - off))
	if span != nil {
		defer vdev.PutSpan(span)
	} else {
		span = GetBuf(int(end - off))
		defer PutBuf(span)
	}
	if err := p.tops[bps[0].Vdev].ReadRunCold(span, int64(off)); err != nil {
		for i := range bps {
			alone(i)
		}
		return
	}
	p.runs.reads.Add(1)
	p.runs.blocks.Add(uint64(len(bps)))
	for i := range bps {
		bp := &bps[i]
		stored := span[bp.Offset-off:][:bp.PSize]
		if !ChecksumOK(bp, stored) {
			alone(i)
			continue
		}
		each(i, stored)
	}
}

func (p *Pool) readBlock(bp *format.BlockPointer, key *crypto.DatasetKey, ad []byte, count, stream bool) ([]byte, error) {
	// The buffer is decoded in place (room for the tag after it); the
	// result, from GetBuf, belongs to the caller.
	n := int(bp.PSize)
	buf := GetBuf(n + TagRoom)[:n]
	cold := stream && bp.Type == format.TypeData && bp.Level == 0
	stored, err := p.readStoredCount(bp, buf, count, cold)
	if err != nil {
		PutBuf(buf)
		return nil, err
	}
	out, err := decode(bp, stored, key, ad, true)
	if count && errors.Is(err, ErrDamaged) {
		p.noteDamaged()
	}
	return out, err
}

// Reencode stores new logical bytes for a structural block that keeps its
// identity (type, level, births, MAC, IV, salt, compression algorithm): a
// raw receive uses it after rewriting the block's child addresses. It
// needs no key: the MAC covers only the portable form, which is unchanged.
func Reencode(bp *format.BlockPointer, logical []byte) ([]byte, error) {
	if len(logical) != int(bp.LSize) {
		return nil, fmt.Errorf("%w: logical size %d, pointer says %d", ErrDamaged, len(logical), bp.LSize)
	}
	var stored []byte
	if alg := compress.Alg(bp.Compress); alg != compress.Off {
		c, ok := compress.Compress(alg, GetBuf(len(logical))[:0], logical)
		if !ok {
			// Stored uncompressed now; the algorithm is not part of what
			// the MAC covers for the block itself, only for its parent, so
			// keep the block compressed whenever possible and else refuse.
			return nil, fmt.Errorf("%w: block no longer compresses", ErrDamaged)
		}
		stored = c
	} else {
		stored = GetBuf(len(logical))
		copy(stored, logical)
	}
	bp.PSize = uint32(len(stored))
	bp.Checksum = checksum(bp.CksumAlg, stored)
	return stored, nil
}

// Recrypt re-encrypts the stored bytes of an encrypted data block from key
// old (associated data oldAD) to key nu (nuAD), for a deep rekey. The
// result keeps the pointer's identity (type, level, sizes, compression,
// both births, fill) with a new IV, salt, MAC and checksum; the stored
// bytes come from GetBuf. The ciphertext is authenticated with old before
// anything is sealed with nu.
func Recrypt(bp *format.BlockPointer, stored []byte, old *crypto.DatasetKey, oldAD []byte, nu *crypto.DatasetKey, nuAD []byte) ([]byte, format.BlockPointer, error) {
	nb := *bp
	if bp.Type != format.TypeData || bp.Flags&FlagEncrypted == 0 || bp.Crypt != uint8(old.Suite()) || nu.Suite() != old.Suite() {
		return nil, nb, fmt.Errorf("%w: not an encrypted data block of this key at %d:%#x", ErrDamaged, bp.Vdev, bp.Offset)
	}
	scratch := GetBuf(len(stored) + crypto.MACLen)
	defer PutBuf(scratch)
	pt, err := old.OpenTo(scratch[:0], crypto.PurposeData, stored, bp.IV, bp.Salt, bp.MAC, oldAD)
	if err != nil {
		return nil, nb, fmt.Errorf("%w: authentication failed at %d:%#x", ErrDamaged, bp.Vdev, bp.Offset)
	}
	out := GetBuf(len(pt) + crypto.MACLen)
	ct, iv, salt, mac, err := nu.SealTo(out[:0], crypto.PurposeData, pt, nuAD)
	clear(pt)
	if err != nil {
		PutBuf(out)
		return nil, nb, err
	}
	nb.IV, nb.Salt, nb.MAC = iv, salt, mac
	nb.Vdev, nb.Offset = 0, 0
	nb.PSize = uint32(len(ct))
	nb.Checksum = checksum(nb.CksumAlg, ct)
	return ct, nb, nil
}
