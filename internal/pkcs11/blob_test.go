package pkcs11

import (
	"bytes"
	"errors"
	"testing"
)

func sampleBlobs() [][]byte {
	gcm := blob{mech: mechGCM,
		verifier: bytes.Repeat([]byte{1}, gcmIVLen+len(verifierPlain)+gcmTagLen),
		wrapped:  bytes.Repeat([]byte{2}, gcmIVLen+32+gcmTagLen)}
	kwp := blob{mech: mechKWP,
		verifier: bytes.Repeat([]byte{3}, len(frame(verifierPlain))+8),
		wrapped:  bytes.Repeat([]byte{4}, 48)}
	return [][]byte{gcm.marshal(), kwp.marshal()}
}

func TestParseBlob(t *testing.T) {
	t.Parallel()
	for _, p := range sampleBlobs() {
		b, err := parseBlob(p)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.marshal(), p) {
			t.Fatal("marshal(parse(p)) != p")
		}
		for i := range p {
			q := bytes.Clone(p)
			q[i] ^= 0x80
			if _, err := parseBlob(q); !errors.Is(err, ErrDamaged) {
				t.Fatalf("flip byte %d: %v", i, err)
			}
		}
	}
	// Well-checksummed but malformed bodies are damaged too.
	for _, b := range []blob{
		{mech: 9, verifier: make([]byte, 44), wrapped: make([]byte, 40)},
		{mech: mechGCM, verifier: make([]byte, 43), wrapped: make([]byte, 40)},
		{mech: mechGCM, verifier: make([]byte, 44), wrapped: make([]byte, 28)},
		{mech: mechKWP, verifier: make([]byte, 32), wrapped: make([]byte, 20)},
	} {
		if _, err := parseBlob(b.marshal()); !errors.Is(err, ErrDamaged) {
			t.Errorf("mech %d verifier %d wrapped %d: %v", b.mech, len(b.verifier), len(b.wrapped), err)
		}
	}
}

func TestFrame(t *testing.T) {
	t.Parallel()
	for n := range 40 {
		x := bytes.Repeat([]byte{0xff}, n)
		f := frame(x)
		if len(f)%8 != 0 || len(f) < 8 {
			t.Fatalf("frame(%d) is %d bytes", n, len(f))
		}
		got, ok := unframe(f)
		if !ok || !bytes.Equal(got, x) {
			t.Fatalf("unframe(frame(%d)) = %x, %v", n, got, ok)
		}
		f[len(f)-1] ^= 1
		if got, ok := unframe(f); ok && bytes.Equal(got, x) {
			t.Fatalf("unframe accepts a changed frame of %d", n)
		}
	}
	for _, f := range [][]byte{nil, make([]byte, 7), {0, 9, 0, 0, 0, 0, 0, 0}, {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}} {
		if _, ok := unframe(f); ok {
			t.Errorf("unframe(%x) accepted", f)
		}
	}
}

// FuzzParseBlob: the decoder never panics, fails only with ErrDamaged, and
// what it accepts it writes back byte for byte.
func FuzzParseBlob(f *testing.F) {
	for _, p := range sampleBlobs() {
		f.Add(p)
		f.Add(p[:len(p)/2])
	}
	f.Add([]byte("CPKW"))
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := parseBlob(p)
		if err != nil {
			if !errors.Is(err, ErrDamaged) {
				t.Fatalf("error not ErrDamaged: %v", err)
			}
			return
		}
		if !bytes.Equal(b.marshal(), p) {
			t.Fatalf("marshal(parse(p)) != p")
		}
		if b.checkShape() != nil {
			t.Fatal("accepted a blob of the wrong shape")
		}
	})
}

func FuzzUnframe(f *testing.F) {
	f.Add(frame([]byte("secret")))
	f.Fuzz(func(t *testing.T, p []byte) {
		x, ok := unframe(p)
		if ok && !bytes.Equal(frame(x), p) {
			t.Fatalf("unframe accepted a non-canonical frame")
		}
	})
}
