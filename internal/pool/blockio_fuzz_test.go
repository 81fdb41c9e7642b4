package pool_test

import (
	"testing"

	"coffer/internal/compress"
	"coffer/internal/format"
	"coffer/internal/pool"
)

// FuzzDecodeBlock feeds pool.Decode (and the keyless checksum check) random
// stored bytes under a random (well-formed) block pointer, with and without
// a key. It must never panic,
// and whatever it accepts has exactly the pointer's logical size.
func FuzzDecodeBlock(f *testing.F) {
	k := katKey(f)
	add := func(bp format.BlockPointer, stored []byte, ad []byte) {
		for _, withKey := range []bool{false, true} {
			f.Add(encBP(bp), stored, ad, withKey)
		}
	}
	for _, spec := range []pool.BlockSpec{
		{Type: format.TypeData, Compress: compress.LZ4, Fill: 1},
		{Type: format.TypeData, Compress: compress.ZSTD, Fill: 1},
		{Type: format.TypeData, Fill: 1},
		{Type: format.TypeData, Compress: compress.LZ4, Fill: 1, Key: k, AD: katAD()},
		{Type: format.TypeIndirect, Level: 1, Compress: compress.LZ4, Fill: 32, Key: k, AD: katAD()},
		{Type: format.TypeDnode, Compress: compress.LZ4, Fill: 1, Key: k, AD: katAD()},
		{Type: format.TypeObjset, Compress: compress.LZ4, Key: k, AD: katAD()},
		{Type: format.TypeMOS, Compress: compress.ZSTD},
		{Type: format.TypeData, Compress: compress.LZ4, Fill: 1, Cksum: format.ChecksumXXH3},
		{Type: format.TypeData, Compress: compress.LZ4, Fill: 1, Key: k, AD: katAD(), Cksum: format.ChecksumXXH3},
		{Type: format.TypeIndirect, Level: 1, Compress: compress.LZ4, Fill: 32, Key: k, AD: katAD(), Cksum: format.ChecksumXXH3},
	} {
		data := katData()
		if spec.Type == format.TypeIndirect {
			data = katIndirect()
		}
		stored, bp, err := pool.Encode(katTxg, spec, data)
		if err != nil {
			f.Fatal(err)
		}
		add(bp, stored, spec.AD)
	}
	f.Add(make([]byte, format.BPSize), []byte{}, []byte{}, true)
	f.Fuzz(func(t *testing.T, bpb, stored, ad []byte, withKey bool) {
		var bp format.BlockPointer
		if bp.Decode(bpb) != nil || bp.IsHole() {
			return
		}
		if bp.LSize > 4<<20 {
			return // keep each run cheap; sizes up to format.MaxBlockSize are valid
		}
		key := k
		if !withKey {
			key = nil
		}
		pool.ChecksumOK(&bp, stored) // by the pointer's algorithm; must not panic
		out, err := pool.Decode(&bp, stored, key, ad)
		if err != nil {
			if out != nil {
				t.Fatal("output returned with an error")
			}
			return
		}
		if len(out) != int(bp.LSize) {
			t.Fatalf("decoded %d bytes, pointer says %d", len(out), bp.LSize)
		}
		if bp.Flags&pool.FlagEncrypted != 0 && key == nil {
			t.Fatal("encrypted block decoded without a key")
		}
	})
}
