package crypto

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
)

const redacted = "[redacted]"

// Secret holds key material (master keys, wrapping keys, raw user keys).
//
// It is a plain []byte so it can be passed to cipher constructors, but every
// path that turns a value into text is redacted: fmt (all verbs, %v %s %q %x
// %#v ...), encoding/json, encoding.TextMarshaler users (log/slog, XML), and
// gob refuses it. Call Wipe when done with it.
type Secret []byte

// Wipe overwrites the secret with zeros in place.
func (s Secret) Wipe() {
	clear(s)
}

// String implements fmt.Stringer.
func (s Secret) String() string { return redacted }

// GoString implements fmt.GoStringer.
func (s Secret) GoString() string { return redacted }

// Format implements fmt.Formatter so that no verb (%x included) reveals bytes.
func (s Secret) Format(f fmt.State, _ rune) { io.WriteString(f, redacted) }

// MarshalJSON implements json.Marshaler.
func (s Secret) MarshalJSON() ([]byte, error) { return []byte(`"` + redacted + `"`), nil }

// MarshalText implements encoding.TextMarshaler (used by log/slog's text
// handler, which would otherwise print a byte slice as a string).
func (s Secret) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// GobEncode refuses to serialise a secret.
func (s Secret) GobEncode() ([]byte, error) {
	return nil, errors.New("crypto: refusing to encode a Secret")
}

// Equal reports whether s and t hold the same bytes, in constant time for
// equal lengths.
func (s Secret) Equal(t Secret) bool { return constantTimeEqual(s, t) }

// RandomBytes returns n bytes from crypto/rand.
func RandomBytes(n int) ([]byte, error) {
	if n < 0 {
		return nil, fmt.Errorf("crypto: negative length %d", n)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(rand.Reader, b); err != nil {
		return nil, fmt.Errorf("crypto: read random bytes: %w", err)
	}
	return b, nil
}

// readRandom fills b from r, or from crypto/rand when r is nil. Only tests set
// r (through unexported constructors) to make outputs deterministic.
func readRandom(r io.Reader, b []byte) error {
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, b); err != nil {
		return fmt.Errorf("crypto: read random bytes: %w", err)
	}
	return nil
}

func allZero(b []byte) bool {
	var acc byte
	for _, c := range b {
		acc |= c
	}
	return acc == 0
}
