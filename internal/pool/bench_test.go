package pool

import (
	"crypto/rand"
	"path/filepath"
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

// BenchmarkReleaseFile frees a 256 MiB file written in order (2,048 blocks
// of 128 KiB that lie back to back) and commits until its space is back:
// what an overwrite or a delete of a large file costs the commit.
func BenchmarkReleaseFile(b *testing.B) {
	p, err := Create("tank", []VdevSpec{{Paths: []string{filepath.Join(b.TempDir(), "v0")}}}, false, []byte("{}"))
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	data := make([]byte, 128<<10)
	rand.Read(data)
	spec := BlockSpec{Type: format.TypeData, Compress: compress.Off, Fill: 1}
	bps := make([]format.BlockPointer, 2048)
	b.SetBytes(int64(len(bps) * len(data)))
	for b.Loop() {
		b.StopTimer()
		txg := p.Txg() + 1
		for i := range bps {
			if bps[i], err = p.WriteBlock(txg, spec, data); err != nil {
				b.Fatal(err)
			}
		}
		if err := p.Commit(txg, []byte("{}")); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for i := range bps {
			p.Free(&bps[i])
		}
		for k := uint64(1); k <= DeferTxgs+1; k++ {
			if err := p.Commit(txg+k, []byte("{}")); err != nil {
				b.Fatal(err)
			}
		}
	}
}
