package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"strings"
)

// Suite is the value of the `encryption` property: the block cipher and AEAD
// mode used for a dataset's blocks. The numeric values are stored on disk and
// are frozen; never renumber them.
type Suite uint8

// Encryption suites. The numbering follows OpenZFS's zio_encrypt order for the
// AES suites and is part of the on-disk format.
const (
	Off       Suite = 0
	AES128CCM Suite = 1
	AES192CCM Suite = 2
	AES256CCM Suite = 3
	AES128GCM Suite = 4
	AES192GCM Suite = 5
	AES256GCM Suite = 6
)

// DefaultSuite is what `encryption=on` selects.
const DefaultSuite = AES256GCM

// mode is the AEAD construction of a suite.
type mode uint8

const (
	modeNone mode = iota
	modeCCM
	modeGCM
)

// suiteInfo is one row of the algorithm registry.
type suiteInfo struct {
	suite  Suite
	name   string // property value, also bound into HKDF info
	keyLen int    // AES key length in bytes
	mode   mode
}

// registry is the single list of algorithms coffer knows. Order is the order
// used in user-facing messages. Adding a suite means adding a row here (and
// frozen KAT vectors for it); nothing else switches on Suite values.
var registry = [...]suiteInfo{
	{Off, "off", 0, modeNone},
	{AES128CCM, "aes-128-ccm", 16, modeCCM},
	{AES192CCM, "aes-192-ccm", 24, modeCCM},
	{AES256CCM, "aes-256-ccm", 32, modeCCM},
	{AES128GCM, "aes-128-gcm", 16, modeGCM},
	{AES192GCM, "aes-192-gcm", 24, modeGCM},
	{AES256GCM, "aes-256-gcm", 32, modeGCM},
}

func (s Suite) info() (suiteInfo, bool) {
	for _, r := range registry {
		if r.suite == s {
			return r, true
		}
	}
	return suiteInfo{}, false
}

// Supported returns every encrypting suite (all but Off), in registry order.
func Supported() []Suite {
	out := make([]Suite, 0, len(registry)-1)
	for _, r := range registry {
		if r.suite != Off {
			out = append(out, r.suite)
		}
	}
	return out
}

// Valid reports whether s is a known suite (Off included).
func (s Suite) Valid() bool {
	_, ok := s.info()
	return ok
}

// String returns the property value of s ("off", "aes-256-gcm", ...), or
// "suite(N)" for an unknown value.
func (s Suite) String() string {
	if r, ok := s.info(); ok {
		return r.name
	}
	return fmt.Sprintf("suite(%d)", uint8(s))
}

// KeyLen returns the cipher key length in bytes: 16, 24 or 32, and 0 for Off
// or an unknown suite.
func (s Suite) KeyLen() int {
	r, _ := s.info()
	return r.keyLen
}

// ParseSuite parses an `encryption` property value. "on" means DefaultSuite.
// Matching is exact (lower case), as in zfs.
func ParseSuite(v string) (Suite, error) {
	if v == "on" {
		return DefaultSuite, nil
	}
	for _, r := range registry {
		if r.name == v {
			return r.suite, nil
		}
	}
	names := []string{"off", "on"}
	for _, s := range Supported() {
		names = append(names, s.String())
	}
	return Off, fmt.Errorf("invalid encryption %q: must be one of %s", v, strings.Join(names, ", "))
}

// newAEAD returns the block AEAD of suite s keyed with key (len KeyLen()).
// Nonce size is IVLen and tag size MACLen for every suite.
func newAEAD(s Suite, key []byte) (cipher.AEAD, error) {
	r, ok := s.info()
	if !ok || r.mode == modeNone {
		return nil, fmt.Errorf("crypto: suite %v does not encrypt", s)
	}
	if len(key) != r.keyLen {
		return nil, fmt.Errorf("crypto: %v needs a %d-byte key, got %d", s, r.keyLen, len(key))
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	switch r.mode {
	case modeGCM:
		return cipher.NewGCM(b) // 12-byte nonce, 16-byte tag
	case modeCCM:
		return NewCCM(b, IVLen, MACLen)
	}
	panic("crypto: registry row without mode")
}
