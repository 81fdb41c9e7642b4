package crypto

import (
	"bytes"
	"crypto/aes"
	"testing"
)

func FuzzWrappedKeyUnmarshal(f *testing.F) {
	for _, h := range katWrapped {
		f.Add(unhex(f, h))
	}
	f.Add([]byte{})
	f.Add([]byte("CFWK\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		var w WrappedKey
		if err := w.UnmarshalBinary(b); err != nil {
			return
		}
		// Anything accepted re-encodes to the same bytes and is safe to
		// unwrap (it fails, but does not panic).
		out, err := w.MarshalBinary()
		if err != nil || !bytes.Equal(out, b) {
			t.Fatalf("accepted %x but re-encodes to %x, %v", b, out, err)
		}
		if _, err := Unwrap(katWrapKey, w, katWrapAD); err == nil && !bytes.Equal(b, unhex(t, katWrapped[w.Suite.String()])) {
			t.Fatalf("forged wrapped key unwrapped: %x", b)
		}
	})
}

// FuzzCCMOpen feeds arbitrary nonces, tags, ciphertexts and AD to CCM Open
// (which must never panic and never accept a forgery), and checks that
// whatever it seals opens again.
func FuzzCCMOpen(f *testing.F) {
	for _, v := range rfc3610Vectors[:3] {
		f.Add(unhex(f, v.key), unhex(f, v.nonce), unhex(f, v.ct), unhex(f, v.ad), uint8(v.tagSize))
	}
	f.Add(make([]byte, 32), make([]byte, 12), make([]byte, 40), []byte{}, uint8(16))
	f.Fuzz(func(t *testing.T, key, nonce, ct, ad []byte, tagSize uint8) {
		switch len(key) {
		case 16, 24, 32:
		default:
			key = append(key, make([]byte, 32)...)[:16]
		}
		b, err := aes.NewCipher(key)
		if err != nil {
			t.Fatal(err)
		}
		ns := 7 + len(nonce)%7
		ts := 4 + 2*(int(tagSize)%7)
		a, err := NewCCM(b, ns, ts)
		if err != nil {
			t.Fatal(err)
		}
		// Open with the nonce as given (possibly the wrong length).
		pt, err := a.Open(nil, nonce, ct, ad)
		if err == nil {
			if len(nonce) != ns {
				t.Fatal("wrong nonce length accepted")
			}
			// A successful open must be a genuine seal of pt.
			if again := a.Seal(nil, nonce, pt, ad); !bytes.Equal(again, ct) {
				t.Fatal("Open accepted a ciphertext Seal would not produce")
			}
		}
		// Round trip with a well-formed nonce.
		n := append(bytes.Clone(nonce), make([]byte, 13)...)[:ns]
		sealed := a.Seal(nil, n, ct, ad)
		back, err := a.Open(nil, n, sealed, ad)
		if err != nil || !bytes.Equal(back, ct) {
			t.Fatalf("round trip failed: %v", err)
		}
		if len(sealed) > 0 {
			sealed[len(sealed)/2] ^= 1
			if _, err := a.Open(nil, n, sealed, ad); err == nil {
				t.Fatal("tampered ciphertext accepted")
			}
		}
	})
}
