package format

import (
	"bytes"
	"testing"
)

// Fuzz targets for every decoder: they must never panic, and whatever
// decodes must re-encode to a form that decodes to the same value.
// Seeds: the frozen KAT encodings, truncations of them and all-zero input;
// the corpus found by fuzzing goes to testdata/fuzz/<FuzzName>/.

func addSeeds(f *testing.F, golden []byte, size int) {
	f.Add(golden)
	f.Add(golden[:size-1])
	f.Add(make([]byte, size))
	f.Add([]byte{})
	long := append(append([]byte(nil), golden...), 0xff, 0xff)
	f.Add(long)
}

func FuzzBlockPointerDecode(f *testing.F) {
	bp := katBP()
	enc := make([]byte, BPSize)
	bp.Encode(enc)
	addSeeds(f, enc, BPSize)
	hole := BlockPointer{Type: TypeData, Birth: 9, PhysBirth: 9}
	hole.Encode(enc)
	f.Add(append([]byte(nil), enc...))
	f.Fuzz(func(t *testing.T, b []byte) {
		var bp BlockPointer
		if bp.Decode(b) != nil {
			return
		}
		_ = bp.String()
		re := make([]byte, BPSize)
		bp.Encode(re)
		var again BlockPointer
		if err := again.Decode(re); err != nil {
			t.Fatalf("re-encoded pointer does not decode: %v", err)
		}
		if again != bp {
			t.Fatalf("round trip: %+v != %+v", again, bp)
		}
		port := make([]byte, BPSize)
		bp.Portable(port)
		if err := again.Decode(port); err != nil {
			t.Fatalf("portable form does not decode: %v", err)
		}
		// Only the reserved bytes may differ between input and encoding.
		if !bytes.Equal(re[:26], b[:26]) || !bytes.Equal(re[32:108], b[32:108]) {
			t.Fatal("encoding differs from the decoded input outside reserved bytes")
		}
	})
}

func FuzzDnodeDecode(f *testing.F) {
	d := katDnode()
	enc := make([]byte, DnodeSize)
	d.Encode(enc)
	addSeeds(f, enc, DnodeSize)
	free := make([]byte, DnodeSize)
	free[32+20] = 0xff // a free slot with a bad root pointer
	f.Add(free)
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Dnode
		if d.Decode(b) != nil {
			return
		}
		re := make([]byte, DnodeSize)
		d.Encode(re)
		var again Dnode
		if err := again.Decode(re); err != nil {
			t.Fatalf("re-encoded dnode does not decode: %v", err)
		}
		if again != d {
			t.Fatal("round trip changed the dnode")
		}
		if !d.IsFree() && int(d.BonusLen) > BonusMax {
			t.Fatalf("bonus length %d accepted", d.BonusLen)
		}
		blk := append([]byte(nil), re...)
		MakeDnodeBlockPortable(blk)
	})
}

func FuzzObjsetDecode(f *testing.F) {
	o := katObjset()
	enc := o.Encode()
	addSeeds(f, enc, ObjsetSize)
	vol := katObjset()
	vol.Kind, vol.Crypt, vol.KeyGUID = ObjsetVolume, 0, 0
	f.Add(vol.Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		var o Objset
		if o.Decode(b) != nil {
			return
		}
		var again Objset
		if err := again.Decode(o.Encode()); err != nil {
			t.Fatalf("re-encoded objset does not decode: %v", err)
		}
		if again != o {
			t.Fatal("round trip changed the objset")
		}
		if len(b) >= ObjsetSize {
			MakeObjsetPortable(append([]byte(nil), b...))
		}
	})
}

func FuzzUberblockDecode(f *testing.F) {
	u := katUberblock()
	enc := u.Encode()
	addSeeds(f, enc, UberblockSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		var u Uberblock
		if u.Decode(b) != nil {
			return
		}
		if u.MOS.Type != TypeMOS || u.MOS.IsHole() {
			t.Fatalf("uberblock accepted with MOS pointer %v", u.MOS)
		}
		var again Uberblock
		if err := again.Decode(u.Encode()); err != nil {
			t.Fatalf("re-encoded uberblock does not decode: %v", err)
		}
		if again != u {
			t.Fatal("round trip changed the uberblock")
		}
	})
}
