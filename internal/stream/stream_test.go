package stream

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"
)

func sample(t testing.TB) ([]byte, []Record) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	recs := []Record{
		&Begin{Version: 1, Kind: "full", Raw: true, Type: "filesystem", Name: "tank/a@s", GUID: 7, CreateTxg: 9,
			Crypt: &Crypt{Suite: 6, KeyGUID: 5, Wrapped: []byte{1, 2, 3}, KeyFormat: "passphrase", KDF: 1, Salt: []byte{4}, Iters: 350000}},
		&Block{Pos: Pos{Obj: 3, Level: 1, BlkID: 2}, BP: [128]byte{1, 2, 3}, Data: bytes.Repeat([]byte("x"), 5000)},
		&Block{Pos: Pos{Header: true}, BP: [128]byte{9}, Data: []byte("hdr")},
		&Object{Obj: 4, Type: 1, BlkSz: 131072, MaxBlkID: 3, Bonus: []byte("attrs")},
		&FreeObject{Obj: 8},
		&Write{Obj: 4, BlkID: 2, Data: bytes.Repeat([]byte("y"), 131072)},
		&Free{Obj: 4, First: 3, End: ^uint64(0)},
	}
	for _, r := range recs {
		var err error
		switch r := r.(type) {
		case *Begin:
			err = w.Begin(*r)
		case *Block:
			err = w.Block(*r)
		case *Object:
			err = w.Object(*r)
		case *FreeObject:
			err = w.FreeObject(*r)
		case *Write:
			err = w.Write(*r)
		case *Free:
			err = w.Free(*r)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := w.End(); err != nil {
		t.Fatal(err)
	}
	if w.Written() != int64(buf.Len()) {
		t.Fatalf("Written %d, buffer %d", w.Written(), buf.Len())
	}
	return buf.Bytes(), recs
}

func readAll(b []byte) ([]Record, error) {
	r := NewReader(bytes.NewReader(b))
	var out []Record
	for {
		rec, err := r.Next()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec)
	}
}

func TestRoundTrip(t *testing.T) {
	b, want := sample(t)
	got, err := readAll(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("records differ:\n got %+v\nwant %+v", got, want)
	}
}

func TestDamageRefused(t *testing.T) {
	b, _ := sample(t)
	// Every truncation.
	for n := 0; n < len(b); n += 1 + n/50 {
		if _, err := readAll(b[:n]); !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	// Bit flips anywhere.
	rnd := rand.New(rand.NewPCG(1, 1))
	for i := 0; i < 3000; i++ {
		c := append([]byte(nil), b...)
		pos := rnd.IntN(len(c))
		c[pos] ^= 1 << rnd.IntN(8)
		if _, err := readAll(c); err == nil {
			t.Fatalf("flip at %d accepted", pos)
		}
	}
	// Records reordered, dropped, replayed.
	bounds := recordBounds(b)
	swap := append([]byte(nil), b[:bounds[1]]...)
	swap = append(swap, b[bounds[2]:bounds[3]]...)
	swap = append(swap, b[bounds[1]:bounds[2]]...)
	swap = append(swap, b[bounds[3]:]...)
	drop := append(append([]byte(nil), b[:bounds[2]]...), b[bounds[3]:]...)
	replay := append(append(append([]byte(nil), b[:bounds[3]]...), b[bounds[2]:bounds[3]]...), b[bounds[3]:]...)
	for name, c := range map[string][]byte{"swapped": swap, "dropped": drop, "replayed": replay} {
		if _, err := readAll(c); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s record: %v", name, err)
		}
	}
	// Two streams glued: the first END ends the reader; the rest is not read.
	if _, err := readAll(append(append([]byte(nil), b...), b...)); err != nil {
		t.Fatal(err)
	}
}

// recordBounds returns the offsets where records start.
func recordBounds(b []byte) []int {
	var out []int
	for off := 0; off+headerSize <= len(b); {
		out = append(out, off)
		n := int(uint32(b[off+16]) | uint32(b[off+17])<<8 | uint32(b[off+18])<<16 | uint32(b[off+19])<<24)
		off += headerSize + n
	}
	return out
}

func FuzzReader(f *testing.F) {
	b, _ := sample(f)
	f.Add(b)
	f.Add(b[:100])
	f.Fuzz(func(t *testing.T, data []byte) {
		readAll(data) // must not panic
	})
}

// TestCryptProviderEncoding freezes the BEGIN crypt fields of a key
// provider root (stream-format.md) and that other roots leave them out.
func TestCryptProviderEncoding(t *testing.T) {
	c := Crypt{Suite: 6, KeyGUID: 7, Wrapped: []byte{1}, KeyFormat: "raw", EncRoot: "tank/v",
		Provider: "tpm2:?pcrs=7", Sealed: []byte{2, 3}}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"suite":6,"key_guid":7,"wrapped":"AQ==","keyformat":"raw","encroot":"tank/v","provider":"tpm2:?pcrs=7","sealed":"AgM="}`
	if string(b) != want {
		t.Fatalf("encoding\n got %s\nwant %s", b, want)
	}
	c.Provider, c.Sealed = "", nil
	if b, _ = json.Marshal(c); bytes.Contains(b, []byte("provider")) || bytes.Contains(b, []byte("sealed")) {
		t.Fatalf("a root without a provider: %s", b)
	}
}

// A BLOCK record whose checksum was computed ahead (BlockSum, on another
// goroutine) is the same bytes as one written by Block; a checksum
// computed for another seq is not trusted but computed again.
func TestBlockSummed(t *testing.T) {
	blocks := []Block{
		{Pos: Pos{Obj: 3, Level: 0, BlkID: 2}, BP: [128]byte{1, 2, 3}, Data: bytes.Repeat([]byte("x"), 5000)},
		{Pos: Pos{Obj: 3, Level: 1}, BP: [128]byte{4}, Data: bytes.Repeat([]byte("z"), 700)},
		{Pos: Pos{Header: true}, BP: [128]byte{9}, Data: []byte("hdr")},
	}
	write := func(summed bool) []byte {
		var buf bytes.Buffer
		w := NewWriter(&buf)
		if err := w.Begin(Begin{Kind: "full", Raw: true, Name: "tank/a@s"}); err != nil {
			t.Fatal(err)
		}
		seq := w.Seq()
		for i, b := range blocks {
			var err error
			switch {
			case !summed:
				err = w.Block(b)
			case i == 1: // computed for the wrong record
				err = w.BlockSummed(b, seq+7, BlockSum(seq+7, b))
			default:
				err = w.BlockSummed(b, seq+uint64(i), BlockSum(seq+uint64(i), b))
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if err := w.End(); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	plain, summed := write(false), write(true)
	if !bytes.Equal(plain, summed) {
		t.Fatal("a block written with its checksum computed ahead differs from one written by Block")
	}
	recs, err := readAll(summed)
	if err != nil || len(recs) != len(blocks)+1 {
		t.Fatalf("read back %d records: %v", len(recs), err)
	}
}
