package tpm

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

// testSealed builds a Sealed without a TPM: a well-formed sealed-data
// public area and fixed stand-ins for the rest.
func testSealed(pin bool, pcrs ...int) Sealed {
	policy := bytes.Repeat([]byte{0xA5}, 32)
	pub := tpm2.Marshal(tpm2.TPMTPublic{
		Type:    tpm2.TPMAlgKeyedHash,
		NameAlg: tpm2.TPMAlgSHA256,
		ObjectAttributes: tpm2.TPMAObject{
			FixedTPM: true, FixedParent: true, AdminWithPolicy: true, NoDA: !pin,
		},
		AuthPolicy: tpm2.TPM2BDigest{Buffer: policy},
		Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash,
			&tpm2.TPMSKeyedHashParms{Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull}}),
		Unique: tpm2.NewTPMUPublicID(tpm2.TPMAlgKeyedHash, &tpm2.TPM2BDigest{Buffer: bytes.Repeat([]byte{0x11}, 32)}),
	})
	s := Sealed{
		pin:     pin,
		pcrs:    pcrs,
		srkName: append([]byte{0x00, 0x0b}, bytes.Repeat([]byte{0x22}, 32)...),
		public:  pub,
		private: bytes.Repeat([]byte{0x33}, 40),
	}
	for i := range pcrs {
		s.values = append(s.values, bytes.Repeat([]byte{byte(i)}, 32))
	}
	return s
}

// Changing this breaks every sealed system secret on disk: the encoding of
// format version 1 is frozen.
const goldenV1 = "4354504d" + "01" + "01" + "000b" + "00000081" + // magic, v1, PIN, SHA-256, PCRs 0 and 7
	"0000000000000000000000000000000000000000000000000000000000000000" + // PCR 0 at seal time
	"0101010101010101010101010101010101010101010101010101010101010101" + // PCR 7 at seal time
	"0022" + "000b2222222222222222222222222222222222222222222222222222222222222222" + // SRK name
	"004e" + "0008000b000000920020a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5" +
	"001000201111111111111111111111111111111111111111111111111111111111111111" + // TPM2B_PUBLIC
	"0028" + "33333333333333333333333333333333333333333333333333333333333333333333333333333333" // TPM2B_PRIVATE

func TestSealedGolden(t *testing.T) {
	b, err := testSealed(true, 0, 7).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	h := hex.EncodeToString(b)
	if h != goldenV1 {
		t.Fatalf("encoding changed:\n got %s\nwant %s", h, goldenV1)
	}
	var s Sealed
	if err := s.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.TPM2BPublic(), b[12+64+36:12+64+36+80]) {
		t.Fatal("TPM2BPublic is not the encoded public field")
	}
	if !s.PINRequired() || len(s.PCRs()) != 2 {
		t.Fatalf("decoded %+v", s)
	}
	b2, _ := s.MarshalBinary()
	if !bytes.Equal(b, b2) {
		t.Fatal("round trip differs")
	}
}

func TestSealedRejects(t *testing.T) {
	good, err := testSealed(false, 7).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	mod := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	cases := map[string][]byte{
		"empty":       nil,
		"magic":       mod(func(b []byte) []byte { b[0] = 'X'; return b }),
		"version":     mod(func(b []byte) []byte { b[4] = 2; return b }),
		"flags":       mod(func(b []byte) []byte { b[5] = 2; return b }),
		"bank":        mod(func(b []byte) []byte { b[7] = 0x04; return b }), // SHA-1
		"no pcrs":     mod(func(b []byte) []byte { b[8], b[9], b[10], b[11] = 0, 0, 0, 0; return b }),
		"pcr 24":      mod(func(b []byte) []byte { b[8] = 1; return b }),
		"trailing":    append(append([]byte(nil), good...), 0),
		"name length": mod(func(b []byte) []byte { b[12+32] = 0xff; return b }),
	}
	for n := range len(good) {
		cases["truncated "+itoa(n)] = good[:n]
	}
	// A public area that allows the user role without the policy.
	weak := testSealed(false, 7)
	pub, _ := tpm2.Unmarshal[tpm2.TPMTPublic](weak.public)
	pub.ObjectAttributes.UserWithAuth = true
	weak.public = tpm2.Marshal(*pub)
	if _, err := weak.MarshalBinary(); err == nil {
		t.Error("MarshalBinary accepted a public area with UserWithAuth")
	}
	for name, b := range cases {
		var s Sealed
		if err := s.UnmarshalBinary(b); !errors.Is(err, ErrBadSealed) {
			t.Errorf("%s: UnmarshalBinary = %v, want ErrBadSealed", name, err)
		}
	}
}

func FuzzUnmarshalBinary(f *testing.F) {
	for _, s := range []Sealed{testSealed(false, 7), testSealed(true, 0, 7), testSealed(false, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 23)} {
		b, err := s.MarshalBinary()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var s Sealed
		if err := s.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrBadSealed) {
				t.Fatalf("error %v is not ErrBadSealed", err)
			}
			return
		}
		// What decodes re-encodes to the same bytes.
		out, err := s.MarshalBinary()
		if err != nil {
			t.Fatalf("decoded blob does not encode: %v", err)
		}
		if !bytes.Equal(out, b) {
			t.Fatalf("re-encoding differs:\n%x\n%x", b, out)
		}
	})
}
