package dmu

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"testing"

	"coffer/internal/compress"
	"coffer/internal/crypto"
	"coffer/internal/format"
	"coffer/internal/pool"
)

type rootDoc struct {
	Root format.BlockPointer
}

func mustDoc(t *testing.T, bp format.BlockPointer) []byte {
	b, err := json.Marshal(rootDoc{bp})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// encryptedObjset creates a pool on a vdev under dir and an encrypted
// (AES-256-GCM, lz4) file system object set in it; the pool is closed
// when the test ends.
func encryptedObjset(t *testing.T, dir string) (*pool.Pool, *Objset) {
	t.Helper()
	p, err := pool.Create("tank", []pool.VdevSpec{{Paths: []string{dir + "/v0"}}}, false, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	key, err := crypto.NewDatasetKey(crypto.AES256GCM)
	if err != nil {
		t.Fatal(err)
	}
	return p, Create(p, Options{Kind: format.ObjsetFilesystem, Compress: compress.LZ4, Key: key})
}

func reopen(t *testing.T, p *pool.Pool, dir string) (*pool.Pool, format.BlockPointer) {
	t.Helper()
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	found, err := pool.Scan([]string{dir})
	if err != nil || len(found) != 1 {
		t.Fatalf("scan: %v %v", found, err)
	}
	p, doc, err := pool.Open(found[0])
	if err != nil {
		t.Fatal(err)
	}
	var d rootDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	if err := Walk(p, d.Root, func(bp *format.BlockPointer) (bool, error) { p.MarkLive(bp); return true, nil }); err != nil {
		t.Fatal(err)
	}
	if err := p.FinishImport(); err != nil {
		t.Fatal(err)
	}
	return p, d.Root
}

func TestObjsetRoundTrip(t *testing.T) {
	for _, enc := range []bool{false, true} {
		t.Run(map[bool]string{false: "plain", true: "encrypted"}[enc], func(t *testing.T) {
			dir := t.TempDir()
			p, err := pool.Create("tank", []pool.VdevSpec{{Paths: []string{dir + "/v0"}}}, false, []byte("{}"))
			if err != nil {
				t.Fatal(err)
			}
			opts := Options{Kind: format.ObjsetFilesystem, Compress: compress.LZ4}
			var key *crypto.DatasetKey
			if enc {
				key, err = crypto.NewDatasetKey(crypto.AES256GCM)
				if err != nil {
					t.Fatal(err)
				}
				opts.Key = key
			}
			os := Create(p, opts)
			rnd := rand.New(rand.NewPCG(1, 2))
			want := map[uint64][]byte{}
			txg := uint64(2)
			for i := 0; i < 50; i++ {
				o, err := os.NewObject(format.ObjectPlain, 128<<10, txg)
				if err != nil {
					t.Fatal(err)
				}
				n := rnd.IntN(600 << 10)
				b := make([]byte, n)
				for j := range b {
					b[j] = byte(rnd.IntN(7))
				}
				if err := o.Write(b, 0); err != nil {
					t.Fatal(err)
				}
				if err := o.SetBonus([]byte("bonus-secret")); err != nil {
					t.Fatal(err)
				}
				want[o.ID()] = b
			}
			root, err := os.Sync(txg)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Commit(txg, mustDoc(t, root)); err != nil {
				t.Fatal(err)
			}
			// Overwrite part of one object and truncate another in txg 3.
			o, _ := os.Object(3)
			patch := bytes.Repeat([]byte{9}, 1000)
			if err := o.Write(patch, 200<<10); err != nil {
				t.Fatal(err)
			}
			w := want[3]
			if len(w) < 200<<10+1000 {
				w = append(w, make([]byte, 200<<10+1000-len(w))...)
			}
			copy(w[200<<10:], patch)
			want[3] = w
			// An in-place overwrite changes no size: only the root moves.
			o7, _ := os.Object(7)
			inPlace := bytes.Repeat([]byte{7}, 512)
			if len(want[7]) >= 512 {
				if err := o7.Write(inPlace, 0); err != nil {
					t.Fatal(err)
				}
				copy(want[7], inPlace)
			}
			o5, _ := os.Object(5)
			if err := o5.Truncate(1000); err != nil {
				t.Fatal(err)
			}
			if len(want[5]) > 1000 {
				want[5] = want[5][:1000]
			}
			txg = 3
			root, err = os.Sync(txg)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Commit(txg, mustDoc(t, root)); err != nil {
				t.Fatal(err)
			}
			p, root = reopen(t, p, dir)
			defer p.Close()
			os2, err := Open(p, root, Options{Key: key, Compress: compress.LZ4, KeyGUID: 0})
			if err != nil {
				t.Fatal(err)
			}
			for id, b := range want {
				o, err := os2.Object(id)
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(b))
				if err := o.Read(got, 0); err != nil {
					t.Fatalf("object %d: %v", id, err)
				}
				if !bytes.Equal(got, b) {
					t.Fatalf("object %d differs", id)
				}
				bon, err := o.Bonus()
				if err != nil || string(bon) != "bonus-secret" {
					t.Fatalf("bonus %q %v", bon, err)
				}
			}
			if enc {
				locked, err := Open(p, root, Options{})
				if err != nil {
					t.Fatal(err)
				}
				o, err := locked.Object(3)
				if err != nil {
					t.Fatal(err)
				}
				if err := o.Read(make([]byte, 10), 0); !errors.Is(err, pool.ErrKeyNotLoaded) {
					t.Fatalf("read without key: %v", err)
				}
				if _, err := o.Bonus(); !errors.Is(err, pool.ErrKeyNotLoaded) {
					t.Fatalf("bonus without key: %v", err)
				}
			}
		})
	}
}

// A truncate and a write that needs a taller tree in the same txg: the
// truncated blocks must be freed (read as zeros), not kept under the new
// top of the tree.
func TestTruncateThenGrowTreeSameTxg(t *testing.T) {
	cases := []struct {
		name     string
		rec      uint32
		blocks   int    // written in txg 2
		truncate uint64 // bytes kept in txg 3
		writeBlk uint64 // then written at this block in txg 3
	}{
		{"one level to two", 4096, 1, 0, 5},
		{"two levels to three", 512, format.BPsPerIndirect, 512 * 10, format.BPsPerIndirect},
		{"two levels to three, all freed", 512, format.BPsPerIndirect, 0, format.BPsPerIndirect + 3},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			p, err := pool.Create("tank", []pool.VdevSpec{{Paths: []string{dir + "/v0"}}}, false, []byte("{}"))
			if err != nil {
				t.Fatal(err)
			}
			os := Create(p, Options{Kind: format.ObjsetFilesystem, Compress: compress.Off})
			o, err := os.NewObject(format.ObjectPlain, c.rec, 2)
			if err != nil {
				t.Fatal(err)
			}
			size := uint64(c.rec) * uint64(c.blocks)
			if err := o.Write(bytes.Repeat([]byte{0xAA}, int(size)), 0); err != nil {
				t.Fatal(err)
			}
			root, err := os.Sync(2)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Commit(2, mustDoc(t, root)); err != nil {
				t.Fatal(err)
			}
			if err := o.Truncate(c.truncate); err != nil {
				t.Fatal(err)
			}
			tail := []byte("written after the truncate")
			at := c.writeBlk * uint64(c.rec)
			if err := o.Write(tail, at); err != nil {
				t.Fatal(err)
			}
			want := make([]byte, at+uint64(len(tail)))
			copy(want, bytes.Repeat([]byte{0xAA}, int(c.truncate)))
			copy(want[at:], tail)
			check := func(when string, os *Objset) {
				t.Helper()
				o, err := os.Object(o.ID())
				if err != nil {
					t.Fatal(err)
				}
				got := make([]byte, len(want))
				if err := o.Read(got, 0); err != nil {
					t.Fatal(err)
				}
				for i := range got {
					if got[i] != want[i] {
						t.Fatalf("%s: byte %d is %#x, want %#x", when, i, got[i], want[i])
					}
				}
			}
			check("before sync", os)
			root, err = os.Sync(3)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Commit(3, mustDoc(t, root)); err != nil {
				t.Fatal(err)
			}
			check("after sync", os)
			p, root = reopen(t, p, dir)
			defer p.Close()
			os2, err := Open(p, root, Options{})
			if err != nil {
				t.Fatal(err)
			}
			check("after reopen", os2)
		})
	}
}
