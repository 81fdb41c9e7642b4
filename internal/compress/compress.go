package compress

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Alg is a compression algorithm. Its numeric value is part of the on-disk
// format and must never change.
type Alg uint8

const (
	Off  Alg = 0
	LZ4  Alg = 1
	ZSTD Alg = 2 // zstd at the default level (3)
)

// ErrCorrupt is returned (wrapped) by Decompress when the input does not
// decode to exactly the expected number of bytes.
var ErrCorrupt = errors.New("corrupt compressed data")

// Supported lists the algorithms, in on-disk value order.
func Supported() []Alg { return []Alg{Off, LZ4, ZSTD} }

// Parse parses a value of the "compression" property. "on" selects the
// default algorithm, lz4, as in ZFS.
func Parse(s string) (Alg, error) {
	switch s {
	case "on", "lz4":
		return LZ4, nil
	case "off":
		return Off, nil
	case "zstd":
		return ZSTD, nil
	}
	return 0, fmt.Errorf("invalid compression %q: must be one of on, off, lz4, zstd", s)
}

// String returns the property value of a: "off", "lz4" or "zstd".
func (a Alg) String() string {
	switch a {
	case Off:
		return "off"
	case LZ4:
		return "lz4"
	case ZSTD:
		return "zstd"
	}
	return fmt.Sprintf("Alg(%d)", uint8(a))
}

// Compress appends the compressed form of src to dst. ok is false, and out
// holds exactly dst's contents, when a is Off or unknown, or when compression would
// not save at least 1/8 of len(src); the caller then stores src as it is.
func Compress(a Alg, dst, src []byte) (out []byte, ok bool) {
	limit := maxCompressed(len(src))
	if limit <= 0 {
		return dst, false
	}
	switch a {
	case LZ4:
		if !lz4Promising(src) {
			return dst, false
		}
		return compressLZ4(dst, src, limit)
	case ZSTD:
		return compressZstd(dst, src, limit)
	}
	return dst, false
}

// maxCompressed is the largest compressed size worth storing for n input
// bytes: it must save at least n/8 bytes and at least one byte.
func maxCompressed(n int) int {
	m := n - n/8
	if m >= n {
		m = n - 1
	}
	return m
}

func compressLZ4(dst, src []byte, limit int) ([]byte, bool) {
	l := len(dst)
	buf := slices.Grow(dst, limit)[:l+limit]
	// With a destination smaller than CompressBlockBound, lz4 gives up with
	// n == 0 or an error as soon as the output would not fit.
	n, err := lz4.CompressBlock(src, buf[l:], nil)
	if err != nil || n <= 0 || n > limit {
		return buf[:l], false // keep the grown buffer for callers that reuse it
	}
	return buf[:l+n], true
}

// The lz4 probe: a block of at least probeMin bytes is compressed with lz4
// only if probeParts spans of probePart bytes, spread evenly over it and
// put end to end, compress by at least 1/probeSave. On random data lz4's
// own early abort still costs a walk of the whole block; the probe's walk
// of 4 KiB costs a third of that (docs/design/on-disk-format.md §7).
const (
	probeMin   = 32 << 10
	probeParts = 8
	probePart  = 512
	probeSave  = 16
)

// lz4Promising reports whether a full lz4 pass over src may save 1/8.
// Small blocks always get the full pass. Redundancy the sample cannot see
// (a block whose only repeats lie far apart, between the spans) goes
// uncompressed: the block is stored as it is, which is always correct.
func lz4Promising(src []byte) bool {
	if len(src) < probeMin {
		return true
	}
	sp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(sp)
	const n = probeParts * probePart
	if cap(*sp) < 2*n {
		*sp = make([]byte, 0, 2*n)
	}
	sample, out := (*sp)[:0:n], (*sp)[n:2*n]
	stride := len(src) / probeParts
	for i := range probeParts {
		sample = append(sample, src[i*stride:i*stride+probePart]...)
	}
	limit := n - n/probeSave
	c, err := lz4.CompressBlock(sample, out[:limit], nil)
	return err == nil && c > 0 && c <= limit
}

// scratch buffers for the early-abort trial compressions.
var scratchPool = sync.Pool{New: func() any { return new([]byte) }}

// compressZstd compresses with zstd level 3, after a ZFS-style early abort:
// a cheap LZ4 trial, and when that fails, an order-0 entropy estimate (if
// bytes are near-uniform, neither matches nor entropy coding will save 1/8)
// and then a zstd-fastest trial. Declaring random data incompressible thus
// costs a small fraction of a full level-3 pass.
func compressZstd(dst, src []byte, limit int) ([]byte, bool) {
	sp := scratchPool.Get().(*[]byte)
	defer scratchPool.Put(sp)
	if cap(*sp) < limit {
		*sp = make([]byte, 0, limit)
	}

	var fast []byte // a valid zstd frame from the fast trial, if it was needed
	if trial, ok := compressLZ4((*sp)[:0], src, limit); ok {
		*sp = trial
	} else {
		*sp = trial
		if entropyBits(src) > maxEntropyBits {
			return dst, false
		}
		fast = encoders().fast.EncodeAll(src, (*sp)[:0])
		*sp = fast
		if len(fast) > limit {
			return dst, false
		}
	}
	l := len(dst)
	out := encoders().def.EncodeAll(src, dst)
	if len(out)-l <= limit {
		return out, true
	}
	if fast != nil {
		return append(out[:l], fast...), true
	}
	return out[:l], false
}

// maxEntropyBits is the order-0 entropy, in bits per byte, above which data
// that LZ4 could not compress is declared incompressible without trying zstd:
// entropy coding alone would save less than 1/16.
const maxEntropyBits = 7.5

// entropyBits estimates the order-0 entropy of b in bits per byte.
func entropyBits(b []byte) float64 {
	var h [4][256]uint32 // four tables break the store-to-load dependency
	i := 0
	for ; i+4 <= len(b); i += 4 {
		h[0][b[i]]++
		h[1][b[i+1]]++
		h[2][b[i+2]]++
		h[3][b[i+3]]++
	}
	for ; i < len(b); i++ {
		h[0][b[i]]++
	}
	n := float64(len(b))
	var e float64
	for v := range 256 {
		c := h[0][v] + h[1][v] + h[2][v] + h[3][v]
		if c != 0 {
			p := float64(c) / n
			e -= p * math.Log2(p)
		}
	}
	return e
}

type zstdEncoders struct {
	def, fast *zstd.Encoder
}

var encoders = sync.OnceValue(func() zstdEncoders {
	mk := func(level zstd.EncoderLevel) *zstd.Encoder {
		e, err := zstd.NewWriter(nil,
			zstd.WithEncoderLevel(level),
			zstd.WithEncoderConcurrency(0), // GOMAXPROCS pooled EncodeAll states
			zstd.WithEncoderCRC(false),     // blocks are checksummed/authenticated above
			// Entropy-code literals even in blocks with few matches, as C zstd
			// does; klauspost skips it by default at fast levels.
			zstd.WithAllLitEntropyCompression(true),
		)
		if err != nil {
			panic("compress: zstd encoder: " + err.Error()) // fixed options: programmer bug
		}
		return e
	}
	return zstdEncoders{def: mk(zstd.SpeedDefault), fast: mk(zstd.SpeedFastest)}
})

var decoder = sync.OnceValue(func() *zstd.Decoder {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0),
		zstd.WithDecodeAllCapLimit(true), // never decode more than asked for
	)
	if err != nil {
		panic("compress: zstd decoder: " + err.Error()) // fixed options: programmer bug
	}
	return d
})

// Decompress decodes src, compressed with a, and appends exactly n bytes to
// dst. Input that is corrupt or does not decode to exactly n bytes is an
// error wrapping ErrCorrupt; on error dst's contents are unspecified beyond
// len(dst) but the returned slice is nil.
func Decompress(a Alg, dst, src []byte, n int) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("decompress %v: negative size %d", a, n)
	}
	l := len(dst)
	switch a {
	case Off:
		if len(src) != n {
			return nil, fmt.Errorf("decompress off: %d bytes, want %d: %w", len(src), n, ErrCorrupt)
		}
		return append(dst, src...), nil
	case LZ4:
		if n == 0 {
			if len(src) != 0 {
				return nil, fmt.Errorf("decompress lz4: %d bytes for empty block: %w", len(src), ErrCorrupt)
			}
			return dst, nil
		}
		buf := slices.Grow(dst, n)[:l+n]
		k, err := lz4.UncompressBlock(src, buf[l:])
		if err != nil {
			return nil, fmt.Errorf("decompress lz4: %w: %v", ErrCorrupt, err)
		}
		if k != n {
			return nil, fmt.Errorf("decompress lz4: got %d bytes, want %d: %w", k, n, ErrCorrupt)
		}
		return buf, nil
	case ZSTD:
		if len(src) == 0 {
			if n != 0 {
				return nil, fmt.Errorf("decompress zstd: empty input, want %d bytes: %w", n, ErrCorrupt)
			}
			return dst, nil
		}
		// Limit the capacity so that the decoder cannot write more than n bytes.
		buf := slices.Grow(dst, n)[: l : l+n]
		out, err := decoder().DecodeAll(src, buf)
		if err != nil {
			return nil, fmt.Errorf("decompress zstd: %w: %v", ErrCorrupt, err)
		}
		if len(out)-l != n {
			return nil, fmt.Errorf("decompress zstd: got %d bytes, want %d: %w", len(out)-l, n, ErrCorrupt)
		}
		return out, nil
	}
	return nil, fmt.Errorf("decompress: unknown algorithm %v", a)
}
