package pool

import (
	"crypto/rand"
	"testing"

	"coffer/internal/compress"
	"coffer/internal/crypto"
	"coffer/internal/format"
)

func BenchmarkEncodeParallel(b *testing.B) {
	k, _ := crypto.NewDatasetKey(crypto.AES256GCM)
	data := make([]byte, 128<<10)
	rand.Read(data)
	b.SetBytes(int64(len(data)))
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			out, _, _ := Encode(5, BlockSpec{Type: format.TypeData, Compress: compress.LZ4, Key: k, AD: make([]byte, 34)}, data)
			PutBuf(out)
		}
	})
}
