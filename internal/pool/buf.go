package pool

import (
	"math/bits"
	"sync"
)

// Block buffers are reused: allocating a fresh 128 KiB buffer per block
// makes the runtime return and re-fault pages at a rate that costs more than
// the encryption itself (see bench/pipeline).
const (
	minBufShift = 9  // 512 B
	maxBufShift = 24 // 16 MiB
)

// TagRoom is the room a buffer needs after a block's ciphertext to decrypt
// it in place (the GCM tag goes there). Buffers of 2^k+TagRoom bytes have
// pools of their own, so that a 128 KiB block does not take 256 KiB.
const TagRoom = 16

var bufPools, tagPools [maxBufShift + 1]sync.Pool

// tagClass returns k when n is 2^k+TagRoom for a pooled k, else -1.
func tagClass(n int) int {
	m := n - TagRoom
	if m < 1<<minBufShift || m > 1<<maxBufShift || m&(m-1) != 0 {
		return -1
	}
	return bits.Len(uint(m)) - 1
}

func class(n int) int {
	if n <= 1<<minBufShift {
		return minBufShift
	}
	return bits.Len(uint(n - 1))
}

// GetBuf returns a buffer of length n (contents undefined).
func GetBuf(n int) []byte {
	if k := tagClass(n); k >= 0 {
		if p, ok := tagPools[k].Get().(*[]byte); ok {
			return (*p)[:n]
		}
		return make([]byte, n)
	}
	c := class(n)
	if c > maxBufShift {
		return make([]byte, n)
	}
	if p, ok := bufPools[c].Get().(*[]byte); ok {
		return (*p)[:n]
	}
	return make([]byte, n, 1<<c)
}

// PutBuf gives a buffer obtained from GetBuf back. The caller must not use
// it afterwards.
func PutBuf(b []byte) {
	c := cap(b)
	if k := tagClass(c); k >= 0 {
		b = b[:c]
		tagPools[k].Put(&b)
		return
	}
	if c < 1<<minBufShift || c&(c-1) != 0 || c > 1<<maxBufShift {
		return
	}
	b = b[:c]
	bufPools[bits.Len(uint(c))-1].Put(&b)
}
