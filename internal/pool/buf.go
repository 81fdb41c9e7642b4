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

var bufPools [maxBufShift + 1]sync.Pool

func class(n int) int {
	if n <= 1<<minBufShift {
		return minBufShift
	}
	return bits.Len(uint(n - 1))
}

// GetBuf returns a buffer of length n (contents undefined).
func GetBuf(n int) []byte {
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
	if c < 1<<minBufShift || c&(c-1) != 0 || c > 1<<maxBufShift {
		return
	}
	b = b[:c]
	bufPools[bits.Len(uint(c))-1].Put(&b)
}
