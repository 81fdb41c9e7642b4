package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
)

// WrappedKey is a dataset master key encrypted under a wrapping key (the
// user's raw/hex key or a passphrase-derived key). It is what is stored on
// disk and sent in raw streams; it contains no secret in clear.
//
// Sealed = AES-256-GCM(wrapping key, IV, master key) including the 16-byte
// tag, with AD = "coffer v1 wrap" || suite (1 byte) || GUID (8 bytes, big
// endian) || caller AD. Suite and GUID are therefore authenticated.
type WrappedKey struct {
	Suite  Suite
	GUID   uint64
	IV     [IVLen]byte
	Sealed []byte
}

// wrappedSealedLen is len(Sealed) in format version 1.
const wrappedSealedLen = MasterKeyLen + 16

// Binary format of WrappedKey, version 1 (all integers big endian):
//
//	off len field
//	  0   4 magic "CFWK"
//	  4   1 version = 1
//	  5   1 suite
//	  6   8 guid
//	 14  12 iv
//	 26   2 len(sealed) = 48
//	 28  48 sealed (32-byte encrypted master key || 16-byte GCM tag)
//	 76     end
const (
	wrapMagic      = "CFWK"
	wrapVersion    = 1
	wrapHeaderLen  = 28
	wrapEncodedLen = wrapHeaderLen + wrappedSealedLen
)

// ErrMalformedKey means a WrappedKey is structurally invalid (bad encoding,
// unknown version or suite).
var ErrMalformedKey = errors.New("malformed wrapped key")

func wrapAD(s Suite, guid uint64, ad []byte) []byte {
	b := make([]byte, 0, len(labelWrap)+1+8+len(ad))
	b = append(b, labelWrap...)
	b = append(b, byte(s))
	b = binary.BigEndian.AppendUint64(b, guid)
	return append(b, ad...)
}

func wrapAEAD(wk Secret) (cipher.AEAD, error) {
	if len(wk) != WrappingKeyLen {
		return nil, fmt.Errorf("crypto: wrapping key must be %d bytes, got %d", WrappingKeyLen, len(wk))
	}
	b, err := aes.NewCipher(wk)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

func (w WrappedKey) check() error {
	if !w.Suite.Valid() || w.Suite == Off {
		return fmt.Errorf("%w: unknown encryption suite %d", ErrMalformedKey, uint8(w.Suite))
	}
	if w.GUID == 0 {
		return fmt.Errorf("%w: zero guid", ErrMalformedKey)
	}
	if len(w.Sealed) != wrappedSealedLen {
		return fmt.Errorf("%w: sealed key is %d bytes, want %d", ErrMalformedKey, len(w.Sealed), wrappedSealedLen)
	}
	return nil
}

// Wrap encrypts k's master key under the wrapping key wk (WrappingKeyLen
// bytes) with a fresh random IV. ad is bound into the wrap (the caller may
// pass e.g. the pool GUID, or nil); Unwrap needs the same ad.
func Wrap(wk Secret, k *DatasetKey, ad []byte) (WrappedKey, error) {
	a, err := wrapAEAD(wk)
	if err != nil {
		return WrappedKey{}, err
	}
	w := WrappedKey{Suite: k.suite, GUID: k.guid}
	if err := readRandom(k.rand, w.IV[:]); err != nil {
		return WrappedKey{}, err
	}
	if allZero(w.IV[:]) {
		return WrappedKey{}, errors.New("crypto: random source returned an all-zero IV")
	}
	k.mu.RLock()
	defer k.mu.RUnlock()
	if k.master == nil {
		return WrappedKey{}, ErrKeyWiped
	}
	w.Sealed = a.Seal(nil, w.IV[:], k.master, wrapAD(w.Suite, w.GUID, ad))
	return w, nil
}

// Unwrap decrypts w with the wrapping key wk and returns the dataset key,
// with a fresh random salt. A wrong wrapping key (or damaged w, or different
// ad) gives ErrWrongKey; a structurally invalid w gives ErrMalformedKey.
func Unwrap(wk Secret, w WrappedKey, ad []byte) (*DatasetKey, error) {
	return unwrap(wk, w, ad, keyOptions{})
}

func unwrap(wk Secret, w WrappedKey, ad []byte, o keyOptions) (*DatasetKey, error) {
	if err := w.check(); err != nil {
		return nil, err
	}
	a, err := wrapAEAD(wk)
	if err != nil {
		return nil, err
	}
	master, err := a.Open(nil, w.IV[:], w.Sealed, wrapAD(w.Suite, w.GUID, ad))
	if err != nil {
		return nil, ErrWrongKey
	}
	defer Secret(master).Wipe()
	o.master, o.guid = master, w.GUID
	return newDatasetKey(w.Suite, o)
}

// MarshalBinary encodes w in the versioned format above.
func (w WrappedKey) MarshalBinary() ([]byte, error) {
	if err := w.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, wrapEncodedLen)
	b = append(b, wrapMagic...)
	b = append(b, wrapVersion, byte(w.Suite))
	b = binary.BigEndian.AppendUint64(b, w.GUID)
	b = append(b, w.IV[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(w.Sealed)))
	return append(b, w.Sealed...), nil
}

// UnmarshalBinary decodes the versioned format, checking every length and
// field. It does not retain b.
func (w *WrappedKey) UnmarshalBinary(b []byte) error {
	if len(b) < wrapHeaderLen {
		return fmt.Errorf("%w: %d bytes is too short", ErrMalformedKey, len(b))
	}
	if string(b[0:4]) != wrapMagic {
		return fmt.Errorf("%w: bad magic", ErrMalformedKey)
	}
	if b[4] != wrapVersion {
		return fmt.Errorf("%w: unsupported version %d", ErrMalformedKey, b[4])
	}
	n := int(binary.BigEndian.Uint16(b[26:28]))
	if len(b) != wrapHeaderLen+n {
		return fmt.Errorf("%w: length %d does not match sealed length %d", ErrMalformedKey, len(b), n)
	}
	v := WrappedKey{
		Suite:  Suite(b[5]),
		GUID:   binary.BigEndian.Uint64(b[6:14]),
		Sealed: append([]byte(nil), b[wrapHeaderLen:]...),
	}
	copy(v.IV[:], b[14:26])
	if err := v.check(); err != nil {
		return err
	}
	*w = v
	return nil
}
