package vdev

import (
	"testing"
)

// Span buffers are 2 MiB-aligned windows of SpanBytes (so that one huge
// page can back each), bounded in number, and reused once given back.
func TestSpanBuffers(t *testing.T) {
	if GetSpan(SpanBytes+1) != nil || GetSpan(0) != nil {
		t.Fatal("a span buffer for a length it cannot hold")
	}
	var held [][]byte
	for {
		b := GetSpan(SpanBytes - 4096)
		if b == nil {
			break
		}
		if len(b) != SpanBytes-4096 || cap(b) != SpanBytes || uintptrOf(b)%SpanBytes != 0 {
			t.Fatalf("span buffer of len %d cap %d at %#x", len(b), cap(b), uintptrOf(b))
		}
		b[0], b[len(b)-1] = 1, 2 // writable
		held = append(held, b)
		if len(held) > maxSpans {
			t.Fatalf("more than %d span buffers handed out", maxSpans)
		}
	}
	if len(held) == 0 {
		t.Fatal("no span buffer")
	}
	PutSpan(held[0])
	again := GetSpan(4096)
	if again == nil || uintptrOf(again) != uintptrOf(held[0]) {
		t.Fatal("a span buffer given back was not reused")
	}
	PutSpan(again)
	for _, b := range held[1:] {
		PutSpan(b)
	}
	PutSpan(make([]byte, 100)) // not a span buffer: ignored
	if b := GetSpan(100); b == nil || cap(b) != SpanBytes {
		t.Fatal("a foreign buffer entered the span buffers")
	} else {
		PutSpan(b)
	}
}
