package format

// Frozen known-answer tests of the on-disk encodings.
//
// CHANGING THESE BREAKS THE ON-DISK FORMAT. The golden encodings in
// testdata/kat/*.hex are what format version 1 pools hold on disk; a test
// that fails here means the code no longer reads or writes existing pools.
// Fix the code, never the vectors. A deliberate format change needs a new
// version number and new vectors beside these ones.
//
// Regenerate the files only when adding a new vector:
//
//	COFFER_REGEN_KAT=1 go test ./internal/format -run KAT

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// katBP is a block pointer with every field set to a distinct value.
func katBP() BlockPointer {
	bp := BlockPointer{
		Vdev:      0x0a0b0c0d,
		PSize:     0x3000,
		Offset:    0x1122334455667788,
		LSize:     0x20000,
		Type:      TypeIndirect,
		Level:     2,
		Compress:  1,
		Crypt:     6,
		CksumAlg:  ChecksumXXH64,
		Flags:     2,
		PhysBirth: 0x0102030405060708,
		Birth:     0x1112131415161718,
		Fill:      0x2122232425262728,
	}
	for i := range bp.Checksum {
		bp.Checksum[i] = 0x30 + byte(i)
	}
	for i := range bp.MAC {
		bp.MAC[i] = 0x40 + byte(i)
	}
	for i := range bp.IV {
		bp.IV[i] = 0x50 + byte(i)
	}
	for i := range bp.Salt {
		bp.Salt[i] = 0x60 + byte(i)
	}
	return bp
}

// katDnode is a dnode with an encrypted bonus and a three-level tree.
func katDnode() Dnode {
	d := Dnode{
		Type:      ObjectPlain,
		NLevels:   3,
		Flags:     DnodeFlagCrypt,
		DataBlkSz: 128 << 10,
		MaxBlkID:  0xabcde,
		Gen:       0x0102030405060708,
		BonusLen:  200,
		Root:      katBP(),
	}
	for i := range d.Bonus {
		d.Bonus[i] = byte(i*7 + 3)
	}
	return d
}

func katObjset() Objset {
	root := katBP()
	root.Type, root.Level, root.Fill = TypeIndirect, 1, 40*DnodesPerBlock
	return Objset{
		Kind:    ObjsetFilesystem,
		Crypt:   6,
		KeyGUID: 0xfedcba9876543210,
		Meta: Dnode{
			Type:      ObjectPlain,
			NLevels:   2,
			DataBlkSz: DnodeBlockSize,
			MaxBlkID:  40,
			Root:      root,
		},
	}
}

func katUberblock() Uberblock {
	mos := katBP()
	mos.Type, mos.Level, mos.Compress, mos.Crypt, mos.Flags, mos.Fill = TypeMOS, 0, 2, 0, 0, 0
	mos.MAC, mos.IV, mos.Salt = [16]byte{}, [12]byte{}, [8]byte{}
	return Uberblock{Txg: 0x1234, Time: 1700000000123456789, PoolGUID: 0x0123456789abcdef, MOS: mos}
}

// readHex reads a golden file: hex digits, whitespace ignored.
func readHex(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "kat", name))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(string(raw)), ""))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

// checkGolden compares enc with the golden file, or writes it with
// COFFER_REGEN_KAT=1.
func checkGolden(t *testing.T, name string, enc []byte) []byte {
	t.Helper()
	if os.Getenv("COFFER_REGEN_KAT") == "1" {
		var sb strings.Builder
		for off := 0; off < len(enc); off += 32 {
			sb.WriteString(hex.EncodeToString(enc[off:min(off+32, len(enc))]))
			sb.WriteByte('\n')
		}
		if err := os.WriteFile(filepath.Join("testdata", "kat", name), []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	golden := readHex(t, name)
	if !bytes.Equal(enc, golden) {
		t.Errorf("%s: encoding changed (this breaks the on-disk format)\n got %x\nwant %x", name, enc, golden)
	}
	return golden
}

func TestBlockPointerKAT(t *testing.T) {
	bp := katBP()
	enc := make([]byte, BPSize)
	for i := range enc {
		enc[i] = 0xee // Encode must clear the reserved bytes
	}
	bp.Encode(enc)
	golden := checkGolden(t, "blockpointer.hex", enc)
	var got BlockPointer
	if err := got.Decode(golden); err != nil {
		t.Fatal(err)
	}
	if got != bp {
		t.Errorf("decode(golden) = %+v, want %+v", got, bp)
	}
	// Byte 24 is the checksum algorithm: 1 (xxhash64) and 2 (XXH3-64) read,
	// anything else is a damaged pointer.
	for alg, ok := range map[byte]bool{0: false, 1: true, 2: true, 3: false, 0xff: false} {
		b := append([]byte(nil), golden...)
		b[24] = alg
		var p BlockPointer
		err := p.Decode(b)
		if (err == nil) != ok || (err == nil && p.CksumAlg != alg) {
			t.Errorf("checksum algorithm %d: decode error %v, want ok=%v", alg, err, ok)
		}
		if err != nil && !errors.Is(err, ErrCorrupt) {
			t.Errorf("checksum algorithm %d: %v, want ErrCorrupt", alg, err)
		}
	}
}

func TestBlockPointerPortableKAT(t *testing.T) {
	// katBP is an indirect (structural) pointer: its portable form also
	// drops the stored size and the checksum, which depend on where its
	// children live. A data pointer keeps them.
	bp := katBP()
	enc := make([]byte, BPSize)
	bp.Encode(enc)
	port := make([]byte, BPSize)
	bp.Portable(port)
	checkGolden(t, "blockpointer-portable.hex", port)
	physical := func(i int) bool {
		return i < 8 || (i >= 8 && i < 16) || (i >= 32 && i < 40) || (i >= 56 && i < 72)
	}
	for i := range enc {
		switch {
		case physical(i) && port[i] != 0:
			t.Errorf("portable byte %d = %#x, want 0 (physical field)", i, port[i])
		case !physical(i) && port[i] != enc[i]:
			t.Errorf("portable byte %d = %#x, want %#x (portable field)", i, port[i], enc[i])
		}
	}
	moved := bp
	moved.Vdev, moved.Offset, moved.PhysBirth, moved.PSize, moved.Checksum = 7, 0x9000, 99, 512, [16]byte{1}
	p2 := make([]byte, BPSize)
	moved.Portable(p2)
	if !bytes.Equal(port, p2) {
		t.Error("portable form of a structural pointer depends on a physical field")
	}
	data := bp
	data.Type, data.Level = TypeData, 0
	dp1, dp2 := make([]byte, BPSize), make([]byte, BPSize)
	data.Portable(dp1)
	data.PSize++
	data.Portable(dp2)
	if bytes.Equal(dp1, dp2) {
		t.Error("portable form of a data pointer ignores its stored size")
	}
	data.PSize--
	data.Checksum[0] ^= 1
	data.Portable(dp2)
	if bytes.Equal(dp1, dp2) {
		t.Error("portable form of a data pointer ignores its checksum")
	}
	bp.PSize, bp.Checksum = 0, [16]byte{}
	var dec BlockPointer
	if err := dec.Decode(port); err != nil {
		t.Fatal(err)
	}
	want := bp
	want.Vdev, want.Offset, want.PhysBirth = 0, 0, 0
	if dec != want {
		t.Errorf("decode(portable) = %+v, want %+v", dec, want)
	}
	// MakeIndirectPortable / MakeDnodeBlockPortable / MakeObjsetPortable
	// agree with Portable at every position.
	ind := make([]byte, 3*BPSize)
	for i := 0; i < 3; i++ {
		bp.Encode(ind[i*BPSize:])
	}
	MakeIndirectPortable(ind)
	for i := 0; i < 3; i++ {
		if !bytes.Equal(ind[i*BPSize:(i+1)*BPSize], port) {
			t.Errorf("MakeIndirectPortable: pointer %d differs from Portable", i)
		}
	}
}

func TestDnodeKAT(t *testing.T) {
	d := katDnode()
	enc := make([]byte, DnodeSize)
	for i := range enc {
		enc[i] = 0xee
	}
	d.Encode(enc)
	golden := checkGolden(t, "dnode.hex", enc)
	var got Dnode
	if err := got.Decode(golden); err != nil {
		t.Fatal(err)
	}
	if got != d {
		t.Errorf("decode(golden) = %+v, want %+v", got, d)
	}
	if got.Flags&DnodeFlagCrypt == 0 {
		t.Error("encrypted-bonus flag lost")
	}
	// The dnode block portable form zeroes only the root pointer's physical fields.
	blk := make([]byte, 2*DnodeSize)
	copy(blk, golden)
	copy(blk[DnodeSize:], golden)
	MakeDnodeBlockPortable(blk)
	port := make([]byte, BPSize)
	d.Root.Portable(port)
	for i := 0; i < 2; i++ {
		dn := blk[i*DnodeSize : (i+1)*DnodeSize]
		if !bytes.Equal(dn[:32], golden[:32]) || !bytes.Equal(dn[160:], golden[160:]) {
			t.Errorf("MakeDnodeBlockPortable changed dnode %d outside its root pointer", i)
		}
		if !bytes.Equal(dn[32:160], port) {
			t.Errorf("MakeDnodeBlockPortable: root pointer of dnode %d differs from Portable", i)
		}
	}
}

func TestObjsetKAT(t *testing.T) {
	o := katObjset()
	golden := checkGolden(t, "objset.hex", o.Encode())
	var got Objset
	if err := got.Decode(golden); err != nil {
		t.Fatal(err)
	}
	if got != o {
		t.Errorf("decode(golden) = %+v, want %+v", got, o)
	}
	port := append([]byte(nil), golden...)
	MakeObjsetPortable(port)
	want := append([]byte(nil), golden...)
	o.Meta.Root.Portable(want[64:192])
	if !bytes.Equal(port, want) {
		t.Error("MakeObjsetPortable does not zero exactly the meta-dnode root's physical fields")
	}
}

func TestUberblockKAT(t *testing.T) {
	u := katUberblock()
	golden := checkGolden(t, "uberblock.hex", u.Encode())
	var got Uberblock
	if err := got.Decode(golden); err != nil {
		t.Fatal(err)
	}
	if got != u {
		t.Errorf("decode(golden) = %+v, want %+v", got, u)
	}
	// Any flipped bit is caught by the trailing SHA-256.
	for _, i := range []int{0, 16, 40, 100, 167, 168, 199} {
		bad := append([]byte(nil), golden...)
		bad[i] ^= 1
		if err := got.Decode(bad); err == nil {
			t.Errorf("uberblock with byte %d flipped decodes", i)
		}
	}
}

// TestFrozenConstants pins the numeric values that are stored on disk.
func TestFrozenConstants(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"TypeNone", uint64(TypeNone), 0},
		{"TypeData", uint64(TypeData), 1},
		{"TypeIndirect", uint64(TypeIndirect), 2},
		{"TypeDnode", uint64(TypeDnode), 3},
		{"TypeObjset", uint64(TypeObjset), 4},
		{"TypeMOS", uint64(TypeMOS), 5},
		{"ChecksumXXH64", uint64(ChecksumXXH64), 1},
		{"ChecksumXXH3", uint64(ChecksumXXH3), 2},
		{"ObjectNone", uint64(ObjectNone), 0},
		{"ObjectPlain", uint64(ObjectPlain), 1},
		{"ObjectDir", uint64(ObjectDir), 2},
		{"ObjectSymlink", uint64(ObjectSymlink), 3},
		{"ObjectMaster", uint64(ObjectMaster), 4},
		{"ObjectXattr", uint64(ObjectXattr), 5},
		{"ObjectVolume", uint64(ObjectVolume), 6},
		{"ObjsetFilesystem", uint64(ObjsetFilesystem), 1},
		{"ObjsetVolume", uint64(ObjsetVolume), 2},
		{"DnodeFlagCrypt", DnodeFlagCrypt, 1},
		{"BPSize", BPSize, 128},
		{"DnodeSize", DnodeSize, 512},
		{"DnodeBlockSize", DnodeBlockSize, 16384},
		{"IndirectSize", IndirectSize, 131072},
		{"BPsPerIndirect", BPsPerIndirect, 1024},
		{"BonusArea", BonusArea, 352},
		{"BonusMax", BonusMax, 316},
		{"MaxLevels", MaxLevels, 7},
		{"ObjsetSize", ObjsetSize, 1024},
		{"ObjsetVersion", ObjsetVersion, 1},
		{"UberblockSize", UberblockSize, 200},
		{"UberblockVersion", UberblockVersion, 1},
		{"UberSlots", UberSlots, 128},
		{"objsetMagic", objsetMagic, 0x534f524546464f43},
		{"uberMagic", uberMagic, 0x4255524546464f43},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d (on-disk value)", c.name, c.got, c.want)
		}
	}
}
