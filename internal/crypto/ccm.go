package crypto

import (
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// CCM (Counter with CBC-MAC) per NIST SP 800-38C and RFC 3610. The Go
// standard library has no CCM, so coffer carries this implementation; it is
// checked against the RFC 3610 packet vectors and the SP 800-38C Appendix C
// examples in ccm_test.go.
//
// Notation (RFC 3610): nonce length n (7..13), length-field size L = 15-n
// (2..8), tag length M (4..16, even). The payload may be at most 2^(8L)-1
// bytes: with coffer's 12-byte nonces that is 16 MiB - 1 per block.

const ccmBlockSize = 16

var errOpen = errors.New("cipher: message authentication failed")

type ccm struct {
	b         cipher.Block
	nonceSize int
	tagSize   int
	maxLen    uint64    // largest payload in bytes
	scratch   sync.Pool // *ccmScratch bound to b
}

// ccmScratch is per-call working state, pooled so Seal and Open do not
// allocate it. cbc is a CBC encrypter over b: CBC-MAC is the last block of a
// CBC encryption with a zero IV, and crypto/cipher's CBC loop is faster than
// calling b.Encrypt once per block.
type ccmScratch struct {
	m   macState
	cbc cipher.BlockMode
	buf [2048]byte
}

type ivSetter interface{ SetIV([]byte) }

// NewCCM returns b (which must have a 16-byte block, i.e. AES) wrapped in
// CCM mode with the given nonce and tag sizes. nonceSize must be 7..13 and
// tagSize an even number in 4..16.
//
// The returned AEAD follows the cipher.AEAD contract: Seal appends
// ciphertext||tag to dst and panics on a wrong nonce length, on an oversized
// payload or on inexact overlap of dst and plaintext; Open appends the
// plaintext, and on failure returns an error and zeroes what it wrote. Unlike
// crypto/cipher's GCM, Open reports a wrong nonce length as an ordinary
// authentication error instead of panicking, because nonces read from disk are
// untrusted input.
func NewCCM(b cipher.Block, nonceSize, tagSize int) (cipher.AEAD, error) {
	if b.BlockSize() != ccmBlockSize {
		return nil, fmt.Errorf("crypto: CCM needs a %d-byte block cipher, got %d", ccmBlockSize, b.BlockSize())
	}
	if nonceSize < 7 || nonceSize > 13 {
		return nil, fmt.Errorf("crypto: invalid CCM nonce size %d (must be 7..13)", nonceSize)
	}
	if tagSize < 4 || tagSize > 16 || tagSize%2 != 0 {
		return nil, fmt.Errorf("crypto: invalid CCM tag size %d (must be even, 4..16)", tagSize)
	}
	l := 15 - nonceSize
	maxLen := ^uint64(0)
	if l < 8 {
		maxLen = 1<<(8*uint(l)) - 1
	}
	c := &ccm{b: b, nonceSize: nonceSize, tagSize: tagSize, maxLen: maxLen}
	c.scratch.New = func() any {
		s := &ccmScratch{cbc: cipher.NewCBCEncrypter(b, make([]byte, ccmBlockSize))}
		if _, ok := s.cbc.(ivSetter); !ok {
			s.cbc = nil // fall back to block-at-a-time
		}
		return s
	}
	return c, nil
}

func (c *ccm) NonceSize() int { return c.nonceSize }
func (c *ccm) Overhead() int  { return c.tagSize }

func (c *ccm) Seal(dst, nonce, plaintext, ad []byte) []byte {
	if len(nonce) != c.nonceSize {
		panic("crypto: incorrect nonce length given to CCM")
	}
	if uint64(len(plaintext)) > c.maxLen {
		panic("crypto: message too large for CCM with this nonce size")
	}
	ret, out := sliceForAppend(dst, len(plaintext)+c.tagSize)
	if inexactOverlap(out, plaintext) {
		panic("crypto: invalid buffer overlap")
	}
	var tag [ccmBlockSize]byte
	c.cbcMAC(&tag, nonce, plaintext, ad) // before CTR: out may alias plaintext
	c.ctr(out[:len(plaintext)], plaintext, nonce, &tag)
	copy(out[len(plaintext):], tag[:c.tagSize])
	return ret
}

func (c *ccm) Open(dst, nonce, ciphertext, ad []byte) ([]byte, error) {
	if len(nonce) != c.nonceSize || len(ciphertext) < c.tagSize ||
		uint64(len(ciphertext)-c.tagSize) > c.maxLen {
		return nil, errOpen
	}
	n := len(ciphertext) - c.tagSize
	var want [ccmBlockSize]byte
	copy(want[:], ciphertext[n:])
	ret, out := sliceForAppend(dst, n)
	if inexactOverlap(out, ciphertext) {
		panic("crypto: invalid buffer overlap")
	}
	// Decrypt first (the MAC is over the plaintext); the keystream block S0
	// that masks the tag is XORed into want, giving the raw CBC-MAC value T.
	c.ctr(out, ciphertext[:n], nonce, &want)
	var got [ccmBlockSize]byte
	c.cbcMAC(&got, nonce, out, ad)
	if subtle.ConstantTimeCompare(got[:c.tagSize], want[:c.tagSize]) != 1 {
		clear(out)
		return nil, errOpen
	}
	return ret, nil
}

// cbcMAC computes T = CBC-MAC(B0 || encoded AD || payload) into t.
func (c *ccm) cbcMAC(t *[ccmBlockSize]byte, nonce, payload, ad []byte) {
	var b0 [ccmBlockSize]byte
	l := 15 - len(nonce)
	b0[0] = byte((c.tagSize-2)/2<<3 | (l - 1))
	if len(ad) > 0 {
		b0[0] |= 0x40
	}
	copy(b0[1:], nonce)
	q := uint64(len(payload))
	for i := ccmBlockSize - 1; i > len(nonce); i-- {
		b0[i] = byte(q)
		q >>= 8
	}
	s := c.scratch.Get().(*ccmScratch)
	defer c.scratch.Put(s)
	s.m = macState{b: c.b, s: s}
	m := &s.m
	m.write(b0[:])
	if len(ad) > 0 {
		var hdr [10]byte
		var h []byte
		switch la := uint64(len(ad)); {
		case la < 0xff00:
			h = binary.BigEndian.AppendUint16(hdr[:0], uint16(la))
		case la <= 0xffffffff:
			h = binary.BigEndian.AppendUint32(append(hdr[:0], 0xff, 0xfe), uint32(la))
		default:
			h = binary.BigEndian.AppendUint64(append(hdr[:0], 0xff, 0xff), la)
		}
		m.write(h)
		m.write(ad)
		m.pad()
	}
	m.write(payload)
	m.pad()
	*t = m.x
	clear(s.buf[:])
}

// ctr XORs src with the CCM keystream S1, S2, ... into dst, and XORs S0 into
// mask (which turns T into the transmitted tag U and back).
func (c *ccm) ctr(dst, src, nonce []byte, mask *[ccmBlockSize]byte) {
	var a [ccmBlockSize]byte
	a[0] = byte(14 - len(nonce)) // L-1
	copy(a[1:], nonce)
	var s0 [ccmBlockSize]byte
	c.b.Encrypt(s0[:], a[:])
	subtle.XORBytes(mask[:], mask[:], s0[:])
	if len(src) == 0 {
		return
	}
	// The counter occupies the last L bytes and never exceeds the block
	// count (< 2^(8L)), so crypto/cipher's big-endian 128-bit increment never
	// carries into the nonce.
	a[ccmBlockSize-1] = 1
	cipher.NewCTR(c.b, a[:]).XORKeyStream(dst, src)
}

// macState is a running CBC-MAC with a zero IV.
type macState struct {
	b cipher.Block
	x [ccmBlockSize]byte
	n int         // bytes XORed into x since the last encryption
	s *ccmScratch // for the CBC fast path
}

func (m *macState) write(p []byte) {
	if m.n > 0 {
		k := min(ccmBlockSize-m.n, len(p))
		subtle.XORBytes(m.x[m.n:m.n+k], m.x[m.n:m.n+k], p[:k])
		m.n += k
		p = p[k:]
		if m.n < ccmBlockSize {
			return
		}
		m.b.Encrypt(m.x[:], m.x[:])
		m.n = 0
	}
	if m.s != nil && m.s.cbc != nil {
		// Fast path: CBC-encrypt whole blocks through the scratch buffer,
		// chaining from x; the last ciphertext block is the new x.
		buf := m.s.buf[:]
		for len(p) >= ccmBlockSize {
			n := min(len(p)&^(ccmBlockSize-1), len(buf))
			copy(buf[:n], p[:n])
			m.s.cbc.(ivSetter).SetIV(m.x[:])
			m.s.cbc.CryptBlocks(buf[:n], buf[:n])
			copy(m.x[:], buf[n-ccmBlockSize:n])
			p = p[n:]
		}
	}
	x0 := binary.LittleEndian.Uint64(m.x[0:8])
	x1 := binary.LittleEndian.Uint64(m.x[8:16])
	for len(p) >= ccmBlockSize {
		binary.LittleEndian.PutUint64(m.x[0:8], x0^binary.LittleEndian.Uint64(p[0:8]))
		binary.LittleEndian.PutUint64(m.x[8:16], x1^binary.LittleEndian.Uint64(p[8:16]))
		m.b.Encrypt(m.x[:], m.x[:])
		x0 = binary.LittleEndian.Uint64(m.x[0:8])
		x1 = binary.LittleEndian.Uint64(m.x[8:16])
		p = p[ccmBlockSize:]
	}
	if len(p) > 0 {
		subtle.XORBytes(m.x[:len(p)], m.x[:len(p)], p)
		m.n = len(p)
	}
}

// pad completes a partial block with zeros (XOR with zero is a no-op).
func (m *macState) pad() {
	if m.n > 0 {
		m.b.Encrypt(m.x[:], m.x[:])
		m.n = 0
	}
}

// sliceForAppend extends in by n bytes, reusing its capacity when possible;
// tail is the extension (as in crypto/cipher).
func sliceForAppend(in []byte, n int) (head, tail []byte) {
	if total := len(in) + n; cap(in) >= total {
		head = in[:total]
	} else {
		head = make([]byte, total)
		copy(head, in)
	}
	tail = head[len(in):]
	return
}

// anyOverlap and inexactOverlap mirror crypto/internal/alias.
func anyOverlap(x, y []byte) bool {
	return len(x) > 0 && len(y) > 0 &&
		uintptr(unsafe.Pointer(&x[0])) <= uintptr(unsafe.Pointer(&y[len(y)-1])) &&
		uintptr(unsafe.Pointer(&y[0])) <= uintptr(unsafe.Pointer(&x[len(x)-1]))
}

func inexactOverlap(x, y []byte) bool {
	if len(x) == 0 || len(y) == 0 || &x[0] == &y[0] {
		return false
	}
	return anyOverlap(x, y)
}

func constantTimeEqual(a, b []byte) bool {
	return subtle.ConstantTimeCompare(a, b) == 1
}
