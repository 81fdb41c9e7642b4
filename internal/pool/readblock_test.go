package pool_test

import (
	"bytes"
	"crypto/rand"
	"errors"
	"path/filepath"
	"testing"

	"coffer/internal/compress"
	"coffer/internal/format"
	"coffer/internal/pool"
)

// ReadBlock decodes in place into pooled buffers: every encoding reads
// back exactly, a refused read (wrong associated data) gives its buffer
// back without spoiling the next reads, and results handed back to the
// pool and reused for other blocks never show up as another block's bytes.
func TestReadBlockEveryEncoding(t *testing.T) {
	p, err := pool.Create("rb", []pool.VdevSpec{{Paths: []string{filepath.Join(t.TempDir(), "d0")}}}, false, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	k := katKey(t)
	random := make([]byte, 128<<10)
	rand.Read(random)
	text := bytes.Repeat([]byte("coffer reads in place "), 6000)[:128<<10]
	type blk struct {
		name string
		bp   format.BlockPointer
		data []byte
		enc  bool
	}
	var blks []blk
	for _, enc := range []bool{false, true} {
		for _, c := range []compress.Alg{compress.Off, compress.LZ4, compress.ZSTD} {
			for _, d := range [][]byte{random, text, katData()} {
				spec := pool.BlockSpec{Type: format.TypeData, Compress: c, Fill: 1}
				if enc {
					spec.Key, spec.AD = k, katAD()
				}
				bp, err := p.WriteBlock(2, spec, d)
				if err != nil {
					t.Fatal(err)
				}
				blks = append(blks, blk{name: c.String(), bp: bp, data: d, enc: enc})
			}
		}
	}
	if err := p.Commit(2, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	for round := 0; round < 3; round++ {
		// All results are held until all are read: a buffer given back to
		// the pool while also returned would be reused by a later read.
		outs := make([][]byte, len(blks))
		for i, b := range blks {
			key, ad := k, katAD()
			if !b.enc {
				key, ad = nil, nil
			}
			if b.enc {
				if _, err := p.ReadBlock(&b.bp, key, []byte("other identity")); !errors.Is(err, pool.ErrDamaged) {
					t.Fatalf("%s: read with the wrong identity: %v", b.name, err)
				}
			}
			if outs[i], err = p.ReadBlock(&b.bp, key, ad); err != nil {
				t.Fatalf("%s encrypted=%v: %v", b.name, b.enc, err)
			}
		}
		for i, b := range blks {
			if !bytes.Equal(outs[i], b.data) {
				t.Fatalf("%s encrypted=%v, round %d: read back other bytes", b.name, b.enc, round)
			}
			pool.PutBuf(outs[i]) // reused by the next round
		}
	}
}
