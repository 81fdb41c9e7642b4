package pool_test

import (
	"testing"

	"coffer/internal/compress"
	"coffer/internal/format"
	"coffer/internal/pool"
)

// TestDecodeWithKeyRefusesUnprotectedBlock: given a key, the caller reads a
// block of an encrypted dataset, which is always stored with FlagEncrypted
// (data) or FlagMAC (structural). A pointer that carries neither flag (or a
// suite other than the key's) cannot be authenticated and must be refused;
// Decode once returned the stored bytes as if they were authentic. Pointers
// to object-set headers live in the unauthenticated MOS, so an attacker with
// write access to the vdevs can plant such a pointer (see
// dmu.TestOpenRefusesUnauthenticatedObjset for the end-to-end effect).
func TestDecodeWithKeyRefusesUnprotectedBlock(t *testing.T) {
	k := katKey(t)
	for _, typ := range []format.BlockType{format.TypeData, format.TypeIndirect, format.TypeDnode, format.TypeObjset} {
		data := katData()
		stored, bp, err := pool.Encode(katTxg, pool.BlockSpec{Type: typ, Compress: compress.LZ4}, data)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pool.Decode(&bp, stored, k, katAD()); err == nil {
			t.Errorf("%s block without FlagEncrypted/FlagMAC accepted under a key", typ)
		}
		// Stripping the flag from a genuine block must not help either.
		stored, bp, err = pool.Encode(katTxg, pool.BlockSpec{Type: typ, Compress: compress.LZ4, Key: k, AD: katAD()}, data)
		if err != nil {
			t.Fatal(err)
		}
		if typ != format.TypeData { // structural: plaintext with a MAC
			bp.Flags &^= pool.FlagMAC
			bp.MAC = [16]byte{}
			if _, err := pool.Decode(&bp, stored, k, katAD()); err == nil {
				t.Errorf("%s block with FlagMAC stripped accepted under a key", typ)
			}
		}
	}
}
