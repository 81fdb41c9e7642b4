// Package stream encodes and decodes send streams (docs/design/stream-format.md).
// It is pure: it reads and writes byte streams and knows nothing of pools.
//
// The Reader verifies every record's checksum and sequence number and, at
// END, the record count and the checksum of the whole stream; it never
// panics on any input.
package stream

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/cespare/xxhash/v2"
)

const (
	magic      = 0x52534643 // "CFSR"
	Version    = 1
	headerSize = 32
	MaxPayload = 32 << 20
)

// Type is a record type. Values are frozen.
type Type uint16

const (
	TBegin      Type = 1
	TBlock      Type = 2
	TObject     Type = 3
	TFreeObject Type = 4
	TWrite      Type = 5
	TFree       Type = 6
	TEnd        Type = 7
)

var (
	ErrCorrupt   = errors.New("stream is corrupt")
	ErrTruncated = errors.New("stream is truncated")
)

// Crypt is the key information of a raw stream of an encrypted dataset.
type Crypt struct {
	Suite     uint8  `json:"suite"`
	KeyGUID   uint64 `json:"key_guid"`
	Wrapped   []byte `json:"wrapped"`
	KeyFormat string `json:"keyformat"`
	KDF       uint8  `json:"kdf,omitempty"`
	Salt      []byte `json:"salt,omitempty"`
	Iters     uint32 `json:"iters,omitempty"`
	Memory    uint32 `json:"memory_kib,omitempty"`
	Threads   uint8  `json:"threads,omitempty"`
	// EncRoot is the sender's encryption root of the dataset. A replication
	// receive (-R) that also receives that root keeps the dataset under it.
	EncRoot string `json:"encroot,omitempty"`
	// Provider and Sealed: for a root whose key a key provider holds
	// (keylocation=tpm2:…, kmip://…, pkcs11:…), the sender's location and
	// the wrapping key as the provider sealed it. Useless without that
	// provider; the replica keeps them so that a host that reaches the
	// same KMIP server or token can open it (load-key -L PROVIDER).
	Provider string `json:"provider,omitempty"`
	Sealed   []byte `json:"sealed,omitempty"`
}

// Begin is the first record.
type Begin struct {
	Version   int               `json:"version"`
	Kind      string            `json:"kind"` // full, incremental
	Raw       bool              `json:"raw"`
	Type      string            `json:"type"` // filesystem, volume
	Name      string            `json:"name"`
	GUID      uint64            `json:"guid"`
	CreateTxg uint64            `json:"createtxg"`
	Creation  int64             `json:"creation"`
	FromGUID  uint64            `json:"from_guid,omitempty"`
	FromName  string            `json:"from_name,omitempty"`
	Props     map[string]string `json:"props,omitempty"`
	Volsize   uint64            `json:"volsize,omitempty"`
	Crypt     *Crypt            `json:"crypt,omitempty"`
	// ResumeAt, in a stream sent with a resume token, is the number of
	// BLOCK records of the original stream that this one leaves out.
	ResumeAt uint64 `json:"resume_at,omitempty"`
}

// Pos is where a raw block sits in an object set's tree.
type Pos struct {
	Header bool // the object-set header (Obj, Level, BlkID are 0)
	Obj    uint64
	Level  uint8
	BlkID  uint64
}

const posSize = 18

func (p Pos) put(b []byte) {
	if !p.Header {
		b[0] = 1
	}
	binary.LittleEndian.PutUint64(b[1:], p.Obj)
	b[9] = p.Level
	binary.LittleEndian.PutUint64(b[10:], p.BlkID)
}

func (p *Pos) get(b []byte) error {
	if b[0] > 1 {
		return fmt.Errorf("%w: bad position kind %d", ErrCorrupt, b[0])
	}
	*p = Pos{Header: b[0] == 0, Obj: binary.LittleEndian.Uint64(b[1:]), Level: b[9], BlkID: binary.LittleEndian.Uint64(b[10:])}
	return nil
}

// Block is a raw block: its position, its portable block pointer (128
// bytes, physical fields zero) and its stored bytes.
type Block struct {
	Pos  Pos
	BP   [128]byte
	Data []byte
}

// Object describes an object in a plaintext stream.
type Object struct {
	Obj      uint64
	Type     uint8
	BlkSz    uint32
	MaxBlkID uint64
	Bonus    []byte
}

// FreeObject says an object was freed.
type FreeObject struct{ Obj uint64 }

// Write is one level-0 block of an object, in plaintext.
type Write struct {
	Obj   uint64
	BlkID uint64
	Data  []byte
}

// Free says blocks [First, End) of an object became holes.
type Free struct{ Obj, First, End uint64 }

// Writer writes a stream.
type Writer struct {
	w     io.Writer
	seq   uint64
	sum   *xxhash.Digest
	n     int64
	err   error
	begun bool
}

// NewWriter returns a writer on w.
func NewWriter(w io.Writer) *Writer { return &Writer{w: w, sum: xxhash.New()} }

// Written is the number of bytes written so far.
func (w *Writer) Written() int64 { return w.n }

func (w *Writer) record(t Type, payload ...[]byte) error {
	return w.recordSummed(t, nil, payload...)
}

// header returns record seq's header, its checksum (bytes 24:32) not set
// yet; n is the payload's length.
func header(t Type, seq uint64, n int) [headerSize]byte {
	var h [headerSize]byte
	binary.LittleEndian.PutUint32(h[0:], magic)
	binary.LittleEndian.PutUint16(h[4:], Version)
	binary.LittleEndian.PutUint16(h[6:], uint16(t))
	binary.LittleEndian.PutUint64(h[8:], seq)
	binary.LittleEndian.PutUint32(h[16:], uint32(n))
	return h
}

// recordSum is the checksum of a record: xxhash64 of its header's first
// 24 bytes and its payload.
func recordSum(h *[headerSize]byte, payload ...[]byte) uint64 {
	d := xxhash.New()
	d.Write(h[:24])
	for _, p := range payload {
		d.Write(p)
	}
	return d.Sum64()
}

// recordSummed writes a record; sum, when not nil, is its checksum,
// computed ahead for this record's seq.
func (w *Writer) recordSummed(t Type, sum *uint64, payload ...[]byte) error {
	if w.err != nil {
		return w.err
	}
	var n int
	for _, p := range payload {
		n += len(p)
	}
	if n > MaxPayload {
		w.err = fmt.Errorf("record of %d bytes is too large", n)
		return w.err
	}
	h := header(t, w.seq, n)
	if sum != nil {
		binary.LittleEndian.PutUint64(h[24:], *sum)
	} else {
		binary.LittleEndian.PutUint64(h[24:], recordSum(&h, payload...))
	}
	w.seq++
	if t != TEnd {
		w.sum.Write(h[:])
		for _, p := range payload {
			w.sum.Write(p)
		}
	}
	// The header goes out in one write with the small payloads that
	// follow it (a block's position and pointer, a small record's body).
	var small [headerSize + 256]byte
	first := append(small[:0], h[:]...)
	for len(payload) > 0 && len(first)+len(payload[0]) <= len(small) {
		first = append(first, payload[0]...)
		payload = payload[1:]
	}
	if err := w.write(first); err != nil {
		return err
	}
	for _, p := range payload {
		if err := w.write(p); err != nil {
			return err
		}
	}
	return nil
}

func (w *Writer) write(p []byte) error {
	if _, err := w.w.Write(p); err != nil {
		w.err = err
		return err
	}
	w.n += int64(len(p))
	return nil
}

// Begin writes the BEGIN record.
func (w *Writer) Begin(b Begin) error {
	b.Version = Version
	j, err := json.Marshal(b)
	if err != nil {
		return err
	}
	w.begun = true
	return w.record(TBegin, j)
}

// Block writes a raw block.
func (w *Writer) Block(b Block) error {
	hdr := b.head()
	return w.record(TBlock, hdr[:], b.Data)
}

func (b *Block) head() [posSize + 128]byte {
	var hdr [posSize + 128]byte
	b.Pos.put(hdr[:])
	copy(hdr[posSize:], b.BP[:])
	return hdr
}

// Seq is the sequence number of the next record.
func (w *Writer) Seq() uint64 { return w.seq }

// BlockSum is the checksum of b written as the BLOCK record seq. A sender
// that reads blocks on several goroutines computes it there, so that the
// one goroutine writing the stream hashes each byte once (for the
// stream's checksum) rather than twice (BlockSummed).
func BlockSum(seq uint64, b Block) uint64 {
	hdr := b.head()
	h := header(TBlock, seq, len(hdr)+len(b.Data))
	return recordSum(&h, hdr[:], b.Data)
}

// BlockSummed is Block with the record's checksum computed ahead by
// BlockSum for record seq. When seq is not the next record's, the
// checksum is computed again here.
func (w *Writer) BlockSummed(b Block, seq, sum uint64) error {
	hdr := b.head()
	if seq != w.seq {
		return w.record(TBlock, hdr[:], b.Data)
	}
	return w.recordSummed(TBlock, &sum, hdr[:], b.Data)
}

// Object writes an OBJECT record.
func (w *Writer) Object(o Object) error {
	b := make([]byte, 26+len(o.Bonus))
	binary.LittleEndian.PutUint64(b[0:], o.Obj)
	b[8] = o.Type
	binary.LittleEndian.PutUint32(b[12:], o.BlkSz)
	binary.LittleEndian.PutUint64(b[16:], o.MaxBlkID)
	binary.LittleEndian.PutUint16(b[24:], uint16(len(o.Bonus)))
	copy(b[26:], o.Bonus)
	return w.record(TObject, b)
}

// FreeObject writes a FREEOBJECT record.
func (w *Writer) FreeObject(f FreeObject) error {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], f.Obj)
	return w.record(TFreeObject, b[:])
}

// Write writes a WRITE record.
func (w *Writer) Write(x Write) error {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], x.Obj)
	binary.LittleEndian.PutUint64(b[8:], x.BlkID)
	return w.record(TWrite, b[:], x.Data)
}

// Free writes a FREE record.
func (w *Writer) Free(f Free) error {
	var b [24]byte
	binary.LittleEndian.PutUint64(b[0:], f.Obj)
	binary.LittleEndian.PutUint64(b[8:], f.First)
	binary.LittleEndian.PutUint64(b[16:], f.End)
	return w.record(TFree, b[:])
}

// End writes the END record: the count of records before it and the
// xxhash64 of every byte before it.
func (w *Writer) End() error {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[0:], w.seq)
	binary.LittleEndian.PutUint64(b[8:], w.sum.Sum64())
	return w.record(TEnd, b[:])
}

// Record is one decoded record: *Begin, *Block, *Object, *FreeObject,
// *Write, *Free. The END record is checked by the reader and not returned.
type Record any

// Reader reads and verifies a stream.
type Reader struct {
	r    io.Reader
	seq  uint64
	sum  *xxhash.Digest
	n    int64
	done bool
	buf  []byte
}

// NewReader returns a reader on r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r, sum: xxhash.New()} }

// BytesRead is the number of bytes consumed so far.
func (r *Reader) BytesRead() int64 { return r.n }

// Next returns the next record, or io.EOF after a verified END. Any damage
// is ErrCorrupt or ErrTruncated, with the record number.
func (r *Reader) Next() (Record, error) {
	if r.done {
		return nil, io.EOF
	}
	var h [headerSize]byte
	if _, err := io.ReadFull(r.r, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w (no end record after record %d)", ErrTruncated, r.seq)
		}
		return nil, err
	}
	le := binary.LittleEndian
	switch {
	case le.Uint32(h[0:]) != magic:
		return nil, fmt.Errorf("%w: record %d: bad magic (not a coffer stream?)", ErrCorrupt, r.seq)
	case le.Uint16(h[4:]) != Version:
		return nil, fmt.Errorf("%w: record %d: unsupported stream version %d", ErrCorrupt, r.seq, le.Uint16(h[4:]))
	case le.Uint64(h[8:]) != r.seq:
		return nil, fmt.Errorf("%w: record %d: out of order (sequence number %d)", ErrCorrupt, r.seq, le.Uint64(h[8:]))
	}
	n := le.Uint32(h[16:])
	if n > MaxPayload {
		return nil, fmt.Errorf("%w: record %d: length %d", ErrCorrupt, r.seq, n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r.r, payload); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, fmt.Errorf("%w (inside record %d)", ErrTruncated, r.seq)
		}
		return nil, err
	}
	d := xxhash.New()
	d.Write(h[:24])
	d.Write(payload)
	if d.Sum64() != le.Uint64(h[24:]) {
		return nil, fmt.Errorf("%w: record %d: checksum mismatch", ErrCorrupt, r.seq)
	}
	t := Type(le.Uint16(h[6:]))
	seq := r.seq
	r.seq++
	r.n += int64(headerSize) + int64(n)
	if t == TEnd {
		if len(payload) != 16 {
			return nil, fmt.Errorf("%w: end record: length %d", ErrCorrupt, len(payload))
		}
		if le.Uint64(payload[0:]) != seq {
			return nil, fmt.Errorf("%w: end record: %d records expected, %d read", ErrCorrupt, le.Uint64(payload[0:]), seq)
		}
		if le.Uint64(payload[8:]) != r.sum.Sum64() {
			return nil, fmt.Errorf("%w: whole-stream checksum mismatch", ErrCorrupt)
		}
		r.done = true
		return nil, io.EOF
	}
	r.sum.Write(h[:])
	r.sum.Write(payload)
	if (seq == 0) != (t == TBegin) {
		return nil, fmt.Errorf("%w: record %d: unexpected %s record", ErrCorrupt, seq, t)
	}
	bad := func(what string) error { return fmt.Errorf("%w: record %d: bad %s record", ErrCorrupt, seq, what) }
	switch t {
	case TBegin:
		var b Begin
		if err := json.Unmarshal(payload, &b); err != nil || b.Version != Version {
			return nil, bad("begin")
		}
		return &b, nil
	case TBlock:
		if len(payload) < posSize+128 {
			return nil, bad("block")
		}
		var b Block
		if err := b.Pos.get(payload); err != nil {
			return nil, err
		}
		copy(b.BP[:], payload[posSize:])
		b.Data = payload[posSize+128:]
		return &b, nil
	case TObject:
		if len(payload) < 26 || int(le.Uint16(payload[24:]))+26 != len(payload) {
			return nil, bad("object")
		}
		return &Object{Obj: le.Uint64(payload[0:]), Type: payload[8], BlkSz: le.Uint32(payload[12:]),
			MaxBlkID: le.Uint64(payload[16:]), Bonus: payload[26:]}, nil
	case TFreeObject:
		if len(payload) != 8 {
			return nil, bad("freeobject")
		}
		return &FreeObject{Obj: le.Uint64(payload)}, nil
	case TWrite:
		if len(payload) < 16 {
			return nil, bad("write")
		}
		return &Write{Obj: le.Uint64(payload[0:]), BlkID: le.Uint64(payload[8:]), Data: payload[16:]}, nil
	case TFree:
		if len(payload) != 24 {
			return nil, bad("free")
		}
		return &Free{Obj: le.Uint64(payload[0:]), First: le.Uint64(payload[8:]), End: le.Uint64(payload[16:])}, nil
	}
	return nil, fmt.Errorf("%w: record %d: unknown type %d", ErrCorrupt, seq, t)
}

func (t Type) String() string {
	switch t {
	case TBegin:
		return "begin"
	case TBlock:
		return "block"
	case TObject:
		return "object"
	case TFreeObject:
		return "freeobject"
	case TWrite:
		return "write"
	case TFree:
		return "free"
	case TEnd:
		return "end"
	}
	return fmt.Sprintf("type(%d)", uint16(t))
}
