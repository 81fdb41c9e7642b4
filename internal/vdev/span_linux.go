package vdev

import (
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Span buffers for reads of runs of blocks (Top.ReadRunCold).
//
// A direct read goes to the disk as one request only when its buffer's
// pages are physically contiguous: the virtual disk of the project's
// machine takes at most 254 segments per request, so a 2 MiB read into
// 4 KiB pages that the heap scattered left as requests of 600 KiB–1 MiB
// on average. A span buffer is one transparent huge page (2 MiB, aligned,
// madvise(MADV_HUGEPAGE)), so the kernel can send a whole run as one
// request. When the kernel gives no huge page the buffer still works, as
// small pages.

// SpanBytes is the size of a span buffer: the largest run read at once.
const SpanBytes = 2 << 20

// maxSpans bounds the span buffers, at most 32 MiB: enough for every
// read-ahead slot and every reader of a send.
const maxSpans = 16

var spans struct {
	sync.Mutex
	free [][]byte
	made int
}

// GetSpan returns a span buffer of length n, or nil when n is larger than
// SpanBytes or every span buffer is in use (the caller then uses its own).
func GetSpan(n int) []byte {
	if n > SpanBytes || n <= 0 {
		return nil
	}
	spans.Lock()
	defer spans.Unlock()
	if k := len(spans.free); k > 0 {
		b := spans.free[k-1]
		spans.free = spans.free[:k-1]
		return b[:n]
	}
	if spans.made >= maxSpans {
		return nil
	}
	// Map twice the size to find a 2 MiB-aligned window in it; the rest is
	// never touched and costs no memory.
	m, err := unix.Mmap(-1, 0, 2*SpanBytes, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil
	}
	skip := 0
	if r := int(uintptrOf(m) % SpanBytes); r != 0 {
		skip = SpanBytes - r
	}
	b := m[skip : skip+SpanBytes : skip+SpanBytes]
	_ = unix.Madvise(b, unix.MADV_HUGEPAGE)
	spans.made++
	return b[:n]
}

// PutSpan gives back a buffer from GetSpan.
func PutSpan(b []byte) {
	if cap(b) != SpanBytes {
		return
	}
	spans.Lock()
	spans.free = append(spans.free, b[:SpanBytes])
	spans.Unlock()
}

func uintptrOf(b []byte) uintptr { return uintptr(unsafe.Pointer(&b[0])) }
