package pool_test

// Frozen known answers of the block codec (pool.Encode / pool.Decode).
//
// CHANGING THESE BREAKS THE ON-DISK FORMAT: the decode vectors are blocks as
// format version 1 pools store them (xxhash64 checksums); the -xxh3 vectors
// are the same blocks as version 2 pools write them (XXH3-64). The encode vectors pin the pipeline
// compress → encrypt or MAC → xxhash64; the lz4 bytes also depend on the lz4
// encoder, so if only an lz4 library upgrade changes them (and every decode
// vector still passes) the encoder output may be regenerated with
//
//	COFFER_REGEN_KAT=1 go test ./internal/pool -run KAT
//
// Nothing else may change: not the checksums of the stored bytes, not the
// MACs, not the pointer encodings.

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cespare/xxhash/v2"

	"coffer/internal/compress"
	"coffer/internal/crypto"
	"coffer/internal/format"
	"coffer/internal/pool"
)

// Frozen key material. The wrapping key and master key are patterns; the
// wrapped key is AES-256-GCM(wk, iv, master, "coffer v1 wrap"‖suite‖guid_be),
// recomputed below with the standard library.
const (
	katWrapped = "18d2c5fdbcda036cc84bdcbc08ae2b19661b669d2f3193ac306d16dc51468a89" +
		"800dec2d6878cccbc3b32be73b6fc207"
	katKeyGUID = 0x0123456789abcdef
	katTxg     = 5
)

func katWrappingKey() crypto.Secret {
	wk := make(crypto.Secret, 32)
	for i := range wk {
		wk[i] = 0xa0 + byte(i)
	}
	return wk
}

func katMaster() []byte {
	m := make([]byte, 32)
	for i := range m {
		m[i] = 0x80 + byte(i)
	}
	return m
}

func katWrappedKey(t testing.TB) crypto.WrappedKey {
	sealed, err := hex.DecodeString(katWrapped)
	if err != nil {
		t.Fatal(err)
	}
	w := crypto.WrappedKey{Suite: crypto.AES256GCM, GUID: katKeyGUID, Sealed: sealed}
	copy(w.IV[:], []byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12})
	return w
}

// katKey is the dataset key (aes-256-gcm, master 0x80..0x9f, guid
// 0x0123456789abcdef): deterministic except for its current salt, which only
// Seal uses.
func katKey(t testing.TB) *crypto.DatasetKey {
	t.Helper()
	k, err := crypto.Unwrap(katWrappingKey(), katWrappedKey(t), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Wipe)
	return k
}

// katAD is blockAD(guid 0x0123456789abcdef, object 7, level 0, blkid 0, birth 5).
func katAD() []byte {
	b := []byte{'B'}
	b = binary.LittleEndian.AppendUint64(b, katKeyGUID)
	b = binary.LittleEndian.AppendUint64(b, 7)
	b = append(b, 0)
	b = binary.LittleEndian.AppendUint64(b, 0)
	return binary.LittleEndian.AppendUint64(b, katTxg)
}

// katData is the fixed 4 KiB data block: 128 lines of 32 bytes.
func katData() []byte {
	b := make([]byte, 0, 4096)
	for i := 0; i < 128; i++ {
		b = fmt.Appendf(b, "coffer golden block %06d ....\n", i)
	}
	return b
}

// katIndirect is a fixed 4 KiB structural block: 32 block pointers with
// their physical fields set.
func katIndirect() []byte {
	b := make([]byte, 32*format.BPSize)
	for i := 0; i < 32; i++ {
		bp := format.BlockPointer{
			Vdev: uint32(i % 3), PSize: 4096, Offset: uint64(i) * 0x11000, LSize: 4096,
			Type: format.TypeData, Compress: 1, Crypt: uint8(crypto.AES256GCM), CksumAlg: format.ChecksumXXH64,
			Flags: pool.FlagEncrypted, PhysBirth: 100 + uint64(i), Birth: 50 + uint64(i), Fill: 1,
		}
		for j := range bp.Checksum[:8] {
			bp.Checksum[j] = byte(i*8 + j)
		}
		for j := range bp.MAC {
			bp.MAC[j] = byte(0x80 + i + j)
		}
		for j := range bp.IV {
			bp.IV[j] = byte(0x40 + i + j)
		}
		for j := range bp.Salt {
			bp.Salt[j] = byte(0xc0 + j)
		}
		bp.Encode(b[i*format.BPSize:])
	}
	return b
}

func katPath(name string) string { return filepath.Join("testdata", "kat", name) }

func readHex(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(katPath(name))
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.Join(strings.Fields(string(raw)), ""))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return b
}

func golden(t *testing.T, name string, got []byte) []byte {
	t.Helper()
	if os.Getenv("COFFER_REGEN_KAT") == "1" {
		var sb strings.Builder
		for off := 0; off < len(got); off += 32 {
			sb.WriteString(hex.EncodeToString(got[off:min(off+32, len(got))]))
			sb.WriteByte('\n')
		}
		if err := os.WriteFile(katPath(name), []byte(sb.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want := readHex(t, name)
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed (this breaks the on-disk format)\n got %x\nwant %x", name, got, want)
	}
	return want
}

func encBP(bp format.BlockPointer) []byte {
	b := make([]byte, format.BPSize)
	bp.Encode(b)
	return b
}

func xxh(b []byte) [16]byte {
	var s [16]byte
	binary.LittleEndian.PutUint64(s[:], xxhash.Sum64(b))
	return s
}

func TestWrappedKeyKAT(t *testing.T) {
	// Recompute the wrapped key from its definition (docs/design/crypto.md §6).
	ad := append([]byte("coffer v1 wrap"), byte(crypto.AES256GCM))
	ad = binary.BigEndian.AppendUint64(ad, katKeyGUID)
	blk, _ := aes.NewCipher(katWrappingKey())
	g, _ := cipher.NewGCM(blk)
	w := katWrappedKey(t)
	if got := g.Seal(nil, w.IV[:], katMaster(), ad); !bytes.Equal(got, w.Sealed) {
		t.Fatalf("wrapped key = %x, want %s", got, katWrapped)
	}
	k := katKey(t)
	if k.GUID() != katKeyGUID || k.Suite() != crypto.AES256GCM {
		t.Fatalf("unwrapped key %v", k)
	}
}

func TestEncodePlainLZ4KAT(t *testing.T) {
	data := katData()
	stored, bp, err := pool.Encode(katTxg, pool.BlockSpec{Type: format.TypeData, Compress: compress.LZ4, Fill: 1}, data)
	if err != nil {
		t.Fatal(err)
	}
	want := golden(t, "data-plain-lz4.stored.hex", stored)
	golden(t, "data-plain-lz4.bp.hex", encBP(bp))
	if bp.Compress != uint8(compress.LZ4) || bp.Flags != 0 || bp.Crypt != 0 || bp.MAC != ([16]byte{}) {
		t.Errorf("pointer %+v", bp)
	}
	if bp.Checksum != xxh(stored) || bp.PSize != uint32(len(stored)) || bp.LSize != 4096 {
		t.Errorf("checksum/sizes: %+v", bp)
	}
	if bp.Vdev != 0 || bp.Offset != 0 || bp.PhysBirth != katTxg || bp.Birth != katTxg {
		t.Errorf("address/birth: %+v", bp)
	}
	// Decode direction: the frozen stored bytes and pointer give the block back.
	var gbp format.BlockPointer
	if err := gbp.Decode(readHex(t, "data-plain-lz4.bp.hex")); err != nil {
		t.Fatal(err)
	}
	out, err := pool.Decode(&gbp, want, nil, nil)
	if err != nil || !bytes.Equal(out, data) {
		t.Fatalf("decode of frozen block: %v", err)
	}
}

// TestXXH3Reference pins the checksum of version 2 blocks to XXH3-64 with
// seed 0 as its authors specify it: the reference value for empty input.
func TestXXH3Reference(t *testing.T) {
	bp := format.BlockPointer{CksumAlg: format.ChecksumXXH3}
	binary.LittleEndian.PutUint64(bp.Checksum[:], 0x2d06800538d394c2)
	if !pool.ChecksumOK(&bp, nil) {
		t.Fatal("XXH3-64 of the empty input is not 0x2d06800538d394c2")
	}
	bp.CksumAlg = 3
	if pool.ChecksumOK(&bp, nil) {
		t.Fatal("an unknown checksum algorithm verifies")
	}
}

func TestEncodePlainLZ4XXH3KAT(t *testing.T) {
	data := katData()
	stored, bp, err := pool.Encode(katTxg, pool.BlockSpec{Type: format.TypeData, Compress: compress.LZ4, Fill: 1, Cksum: format.ChecksumXXH3}, data)
	if err != nil {
		t.Fatal(err)
	}
	// The checksum algorithm changes only the pointer: the stored bytes are
	// those of the version 1 vector.
	if !bytes.Equal(stored, readHex(t, "data-plain-lz4.stored.hex")) {
		t.Fatal("stored bytes differ from data-plain-lz4.stored.hex")
	}
	golden(t, "data-plain-lz4-xxh3.bp.hex", encBP(bp))
	if bp.CksumAlg != format.ChecksumXXH3 || hex.EncodeToString(bp.Checksum[:]) != "d13b07787dfe1ade0000000000000000" {
		t.Errorf("checksum %d/%x", bp.CksumAlg, bp.Checksum)
	}
	var gbp format.BlockPointer
	if err := gbp.Decode(readHex(t, "data-plain-lz4-xxh3.bp.hex")); err != nil {
		t.Fatal(err)
	}
	if !pool.ChecksumOK(&gbp, stored) {
		t.Fatal("frozen pointer does not verify the frozen stored bytes")
	}
	if out, err := pool.Decode(&gbp, stored, nil, nil); err != nil || !bytes.Equal(out, data) {
		t.Fatalf("decode of frozen block: %v", err)
	}
	// One flipped bit fails the check; the same bytes under the version 1
	// algorithm do not verify either.
	bad := append([]byte(nil), stored...)
	bad[len(bad)/2] ^= 4
	if pool.ChecksumOK(&gbp, bad) {
		t.Error("damaged stored bytes verify")
	}
	v1 := gbp
	v1.CksumAlg = format.ChecksumXXH64
	if pool.ChecksumOK(&v1, stored) {
		t.Error("an XXH3 checksum verifies as xxhash64")
	}
}

func TestEncodePlainOffKAT(t *testing.T) {
	// Incompressible data (and compression off): stored bytes are the data.
	data := katData()
	stored, bp, err := pool.Encode(katTxg, pool.BlockSpec{Type: format.TypeData, Fill: 1}, data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stored, data) || &stored[0] == &data[0] {
		t.Error("uncompressed stored bytes must be a copy of the data")
	}
	golden(t, "data-plain-off.bp.hex", encBP(bp))
}

func TestEncodeStructuralMACKAT(t *testing.T) {
	k := katKey(t)
	data := katIndirect()
	ad := katAD()
	ad[17] = 1 // level 1
	spec := pool.BlockSpec{Type: format.TypeIndirect, Level: 1, Compress: compress.LZ4, Fill: 32, Key: k, AD: ad}
	stored, bp, err := pool.Encode(katTxg, spec, data)
	if err != nil {
		t.Fatal(err)
	}
	// Structural blocks stay plaintext: the stored bytes do not depend on the key.
	plain, _, err := pool.Encode(katTxg, pool.BlockSpec{Type: format.TypeIndirect, Level: 1, Compress: compress.LZ4, Fill: 32}, data)
	if err != nil || !bytes.Equal(plain, stored) {
		t.Fatalf("MAC'd structural block is not stored as plaintext (%v)", err)
	}
	golden(t, "indirect-mac-lz4.stored.hex", stored)
	golden(t, "indirect-mac-lz4.bp.hex", encBP(bp))
	if bp.Flags != pool.FlagMAC || bp.Crypt != uint8(crypto.AES256GCM) || bp.IV != ([12]byte{}) || bp.Salt != ([8]byte{}) {
		t.Errorf("pointer %+v", bp)
	}
	// The MAC covers the portable form of the logical (uncompressed) block.
	port := append([]byte(nil), data...)
	format.MakeIndirectPortable(port)
	if want := k.MAC(ad, port); bp.MAC != want {
		t.Errorf("MAC %x, want MAC(ad, portable) %x", bp.MAC, want)
	}
	out, err := pool.Decode(&bp, stored, k, ad)
	if err != nil || !bytes.Equal(out, data) {
		t.Fatalf("decode: %v", err)
	}
}

func TestDecodeEncryptedKAT(t *testing.T) {
	k := katKey(t)
	stored := readHex(t, "data-aes256gcm-lz4.stored.hex")
	bp := format.BlockPointer{
		PSize: uint32(len(stored)), LSize: 4096, Type: format.TypeData, Compress: uint8(compress.LZ4),
		Crypt: uint8(crypto.AES256GCM), CksumAlg: format.ChecksumXXH64, Flags: pool.FlagEncrypted,
		PhysBirth: katTxg, Birth: katTxg, Fill: 1,
	}
	mustHex := func(dst []byte, s string) {
		if _, err := hex.Decode(dst, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	mustHex(bp.IV[:], "9023769b24881c18bb712ecb")
	mustHex(bp.Salt[:], "dce287c2c2a01c1d")
	mustHex(bp.MAC[:], "9b27736b116cb72ca730250c7cfb39f5")
	if sum := xxh(stored); hex.EncodeToString(sum[:]) != "813048cac466ad9b0000000000000000" || bp.PSize != 694 {
		t.Fatalf("stored bytes changed: checksum %x, %d bytes", sum, bp.PSize)
	}
	bp.Checksum = xxh(stored)
	out, err := pool.Decode(&bp, stored, k, katAD())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, katData()) {
		t.Fatal("decrypted block differs from the known plaintext")
	}
	// And a fresh Encode of the same block decodes with the same key.
	st2, bp2, err := pool.Encode(katTxg, pool.BlockSpec{Type: format.TypeData, Compress: compress.LZ4, Fill: 1, Key: k, AD: katAD()}, katData())
	if err != nil {
		t.Fatal(err)
	}
	if bp2.IV == bp.IV || bytes.Equal(st2, stored) {
		t.Error("two encryptions of a block share an IV or ciphertext")
	}
	if bp2.Flags != pool.FlagEncrypted || bp2.Checksum != xxh(st2) {
		t.Errorf("pointer %+v", bp2)
	}
}

// encryptedBlock returns a freshly encrypted data block with its pointer.
func encryptedBlock(t *testing.T, k *crypto.DatasetKey, ad []byte) ([]byte, format.BlockPointer) {
	t.Helper()
	stored, bp, err := pool.Encode(katTxg, pool.BlockSpec{Type: format.TypeData, Compress: compress.LZ4, Fill: 1, Key: k, AD: ad}, katData())
	if err != nil {
		t.Fatal(err)
	}
	return stored, bp
}

func TestDecodeTamperedData(t *testing.T) {
	k := katKey(t)
	stored, bp := encryptedBlock(t, k, katAD())
	_, other := encryptedBlock(t, k, katAD())
	other2, _ := crypto.NewDatasetKey(crypto.AES256GCM)
	defer other2.Wipe()
	wrongAD := katAD()
	wrongAD[9] ^= 1 // another object
	laterAD := katAD()
	laterAD[26]++ // another birth (replay of an older block)
	cases := []struct {
		name   string
		mutate func(st []byte, bp *format.BlockPointer, key **crypto.DatasetKey, ad *[]byte)
	}{
		{"flipped ciphertext bit", func(st []byte, _ *format.BlockPointer, _ **crypto.DatasetKey, _ *[]byte) { st[len(st)/2] ^= 0x10 }},
		{"flipped first byte", func(st []byte, _ *format.BlockPointer, _ **crypto.DatasetKey, _ *[]byte) { st[0] ^= 1 }},
		{"wrong AD (object)", func(_ []byte, _ *format.BlockPointer, _ **crypto.DatasetKey, ad *[]byte) { *ad = wrongAD }},
		{"wrong AD (birth)", func(_ []byte, _ *format.BlockPointer, _ **crypto.DatasetKey, ad *[]byte) { *ad = laterAD }},
		{"no AD", func(_ []byte, _ *format.BlockPointer, _ **crypto.DatasetKey, ad *[]byte) { *ad = nil }},
		{"swapped IV", func(_ []byte, bp *format.BlockPointer, _ **crypto.DatasetKey, _ *[]byte) { bp.IV = other.IV }},
		{"zero IV", func(_ []byte, bp *format.BlockPointer, _ **crypto.DatasetKey, _ *[]byte) { bp.IV = [12]byte{} }},
		{"flipped salt", func(_ []byte, bp *format.BlockPointer, _ **crypto.DatasetKey, _ *[]byte) { bp.Salt[0] ^= 1 }},
		{"swapped MAC", func(_ []byte, bp *format.BlockPointer, _ **crypto.DatasetKey, _ *[]byte) { bp.MAC = other.MAC }},
		{"flipped MAC", func(_ []byte, bp *format.BlockPointer, _ **crypto.DatasetKey, _ *[]byte) { bp.MAC[15] ^= 0x80 }},
		{"other key", func(_ []byte, _ *format.BlockPointer, key **crypto.DatasetKey, _ *[]byte) { *key = other2 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := append([]byte(nil), stored...)
			b := bp
			key, ad := k, katAD()
			c.mutate(st, &b, &key, &ad)
			out, err := pool.Decode(&b, st, key, ad)
			if !errors.Is(err, pool.ErrDamaged) {
				t.Fatalf("Decode = %v, want ErrDamaged", err)
			}
			if out != nil {
				t.Fatal("plaintext returned with an error")
			}
		})
	}
	// Truncated ciphertext.
	if _, err := pool.Decode(&bp, stored[:len(stored)-1], k, katAD()); !errors.Is(err, pool.ErrDamaged) {
		t.Errorf("truncated: %v, want ErrDamaged", err)
	}
	// Without the key: ErrKeyNotLoaded, never ciphertext as data.
	if _, err := pool.Decode(&bp, stored, nil, katAD()); !errors.Is(err, pool.ErrKeyNotLoaded) {
		t.Errorf("no key: %v, want ErrKeyNotLoaded", err)
	}
	// The untouched block still decodes.
	if out, err := pool.Decode(&bp, stored, k, katAD()); err != nil || !bytes.Equal(out, katData()) {
		t.Fatalf("untouched block: %v", err)
	}
}

// structural returns an uncompressed MAC'd indirect block, so that tests can
// edit its child pointers in the stored bytes directly.
func structural(t *testing.T, k *crypto.DatasetKey, ad []byte) ([]byte, format.BlockPointer) {
	t.Helper()
	stored, bp, err := pool.Encode(katTxg, pool.BlockSpec{Type: format.TypeIndirect, Level: 1, Fill: 32, Key: k, AD: ad}, katIndirect())
	if err != nil {
		t.Fatal(err)
	}
	return stored, bp
}

func TestDecodeStructuralChildPointers(t *testing.T) {
	k := katKey(t)
	ad := katAD()
	ad[17] = 1
	stored, bp := structural(t, k, ad)
	child := 5 * format.BPSize // the sixth child pointer
	portableEdits := []struct {
		name string
		off  int
	}{
		{"psize", 4}, {"lsize", 16}, {"type", 20}, {"level", 21}, {"compress", 22}, {"crypt", 23},
		{"cksumalg", 24}, {"flags", 25}, {"birth", 40}, {"fill", 48}, {"checksum", 56},
		{"mac", 72}, {"iv", 88}, {"salt", 100}, {"reserved", 26}, {"reserved tail", 120},
	}
	for _, e := range portableEdits {
		t.Run("portable "+e.name, func(t *testing.T) {
			st := append([]byte(nil), stored...)
			st[child+e.off] ^= 0x01
			b := bp
			b.Checksum = xxh(st) // as if rewritten by someone without the key
			if _, err := pool.Decode(&b, st, k, ad); !errors.Is(err, pool.ErrDamaged) {
				t.Fatalf("Decode with key = %v, want ErrDamaged", err)
			}
			// Without the key the MAC cannot be checked (scrub, raw send).
			if _, err := pool.Decode(&b, st, nil, nil); err != nil {
				t.Fatalf("Decode without key = %v", err)
			}
		})
	}
	for _, e := range []struct {
		name string
		off  int
		n    int
	}{{"vdev", 0, 4}, {"offset", 8, 8}, {"physbirth", 32, 8}} {
		t.Run("physical "+e.name, func(t *testing.T) {
			st := append([]byte(nil), stored...)
			for i := 0; i < e.n; i++ {
				st[child+e.off+i] ^= 0x5a // what a raw receive into another pool does
			}
			b := bp
			b.Checksum = xxh(st)
			b.Vdev, b.Offset, b.PhysBirth = 3, 0x7000, 999
			out, err := pool.Decode(&b, st, k, ad)
			if err != nil {
				t.Fatalf("Decode = %v, want success (physical fields are outside the MAC)", err)
			}
			if !bytes.Equal(out, st) {
				t.Fatal("decoded bytes differ from the stored block")
			}
		})
	}
	t.Run("wrong AD", func(t *testing.T) {
		if _, err := pool.Decode(&bp, stored, k, katAD()); !errors.Is(err, pool.ErrDamaged) {
			t.Fatalf("Decode = %v, want ErrDamaged", err)
		}
	})
	t.Run("other key", func(t *testing.T) {
		o, _ := crypto.NewDatasetKey(crypto.AES256GCM)
		defer o.Wipe()
		if _, err := pool.Decode(&bp, stored, o, ad); !errors.Is(err, pool.ErrDamaged) {
			t.Fatalf("Decode = %v, want ErrDamaged", err)
		}
	})
	t.Run("flipped MAC", func(t *testing.T) {
		b := bp
		b.MAC[0] ^= 1
		if _, err := pool.Decode(&b, stored, k, ad); !errors.Is(err, pool.ErrDamaged) {
			t.Fatalf("Decode = %v, want ErrDamaged", err)
		}
	})
}

// TestReadBlockDetectsDamage writes blocks to a real pool, damages the data
// file and checks that every read of them fails (checksum, keyless) and is
// counted.
func TestReadBlockDetectsDamage(t *testing.T) {
	dir := t.TempDir()
	p, err := pool.Create("kat", []pool.VdevSpec{{Paths: []string{filepath.Join(dir, "d0")}}}, false, []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	k := katKey(t)
	bp, err := p.WriteBlock(2, pool.BlockSpec{Type: format.TypeData, Compress: compress.LZ4, Fill: 1, Key: k, AD: katAD()}, katData())
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(2, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if out, err := p.ReadBlock(&bp, k, katAD()); err != nil || !bytes.Equal(out, katData()) {
		t.Fatalf("read back: %v", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, "d0", "data"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	var one [1]byte
	if _, err := f.ReadAt(one[:], int64(bp.Offset)+10); err != nil {
		t.Fatal(err)
	}
	one[0] ^= 0x04
	if _, err := f.WriteAt(one[:], int64(bp.Offset)+10); err != nil {
		t.Fatal(err)
	}
	f.Close()
	before := p.DamagedBlocks()
	if _, err := p.ReadBlock(&bp, k, katAD()); !errors.Is(err, pool.ErrDamaged) {
		t.Fatalf("read of damaged block: %v, want ErrDamaged", err)
	}
	if _, err := p.ReadStored(&bp); !errors.Is(err, pool.ErrDamaged) {
		t.Fatalf("keyless read of damaged block: %v, want ErrDamaged", err)
	}
	if p.DamagedBlocks() <= before {
		t.Error("damage not counted")
	}
}
