package kmip

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"testing"
)

func resum(b []byte) []byte {
	sum := sha256.Sum256(b[:len(b)-sumLen])
	copy(b[len(b)-sumLen:], sum[:sumLen])
	return b
}

func TestWrapLocal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	k1, _ := newLocalOps(bytes.Repeat([]byte{1}, 32))
	k2, _ := newLocalOps(bytes.Repeat([]byte{2}, 32))
	secret := []byte("system secret 0123456789abcdef")
	blob, err := wrapWith(ctx, k1, "kek-1", secret)
	if err != nil {
		t.Fatal(err)
	}
	got, err := unwrapWith(ctx, k1, "kek-1", blob)
	if err != nil || !bytes.Equal(got, secret) {
		t.Fatalf("unwrap = %q, %v", got, err)
	}
	if _, err := unwrapWith(ctx, k2, "kek-1", blob); !errors.Is(err, ErrWrongKey) {
		t.Errorf("other key material: %v", err)
	}
	if _, err := unwrapWith(ctx, k1, "kek-2", blob); !errors.Is(err, ErrWrongKey) {
		t.Errorf("other id: %v", err)
	}
	for i := range blob {
		bad := bytes.Clone(blob)
		bad[i] ^= 0x80
		if _, err := unwrapWith(ctx, k1, "kek-1", bad); !errors.Is(err, ErrDamaged) {
			t.Fatalf("flip byte %d: %v", i, err)
		}
		// With the checksum fixed up, only the id and kcv fields may be
		// reported as a wrong key; everything else is damage.
		if i >= len(blob)-sumLen {
			continue // resum restores the original blob
		}
		if _, err := unwrapWith(ctx, k1, "kek-1", resum(bad)); err == nil {
			t.Fatalf("flip byte %d with fixed checksum accepted", i)
		}
	}
	for n := 0; n < len(blob); n++ {
		if _, err := unwrapWith(ctx, k1, "kek-1", blob[:n]); !errors.Is(err, ErrDamaged) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	if _, err := wrapWith(ctx, k1, "kek-1", nil); err == nil {
		t.Error("empty secret wrapped")
	}
	if _, err := wrapWith(ctx, k1, "kek-1", make([]byte, MaxSecret+1)); err == nil {
		t.Error("oversized secret wrapped")
	}
}

// The key check value is the standard AES KCV input, AES_K(0^128).
func TestKCVKnownAnswer(t *testing.T) {
	t.Parallel()
	// FIPS-197 C.3 style check: AES-256 with the all-zero key encrypts the
	// zero block to dc95c078a2408989ad48a21492842087.
	l, _ := newLocalOps(make([]byte, 32))
	kcv, _, err := derive(context.Background(), l)
	if err != nil {
		t.Fatal(err)
	}
	if want := []byte{0xdc, 0x95, 0xc0, 0x78, 0xa2, 0x40, 0x89, 0x89}; !bytes.Equal(kcv, want) {
		t.Fatalf("kcv = %x, want %x", kcv, want)
	}
}

func FuzzParseBlob(f *testing.F) {
	l, _ := newLocalOps(bytes.Repeat([]byte{7}, 32))
	b, _ := wrapWith(context.Background(), l, "1", []byte("k"))
	f.Add(b)
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := parseBlob(b)
		if err == nil && (len(p.mac) != macLen || len(p.ct)%16 != 0) {
			t.Fatal("accepted a malformed blob")
		}
	})
}
