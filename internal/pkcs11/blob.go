package pkcs11

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// Wrapped-blob format, version 1 (all integers big-endian):
//
//	"CPKW"  magic                                   4
//	0x01    format version                          1
//	mech    1 = CKM_AES_GCM, 2 = CKM_AES_KEY_WRAP_PAD 1
//	vLen    u16                                     2
//	ver     verifier                                vLen
//	cLen    u32                                     4
//	ct      wrapped secret                          cLen
//	sum     SHA-256(all above)[:16]                 16
//
// With mechGCM (K is the KEK, GCM with a 128-bit tag, 12-byte IVs drawn
// from crypto/rand and read back from the token after C_Encrypt):
//
//	ver = vIV || AES-GCM_K(vIV, verifierPlain, aad = verifierAAD)      12+16+16
//	ct  = IV  || AES-GCM_K(IV, secret, aad = secretAAD || header)       12+n+16
//
// where header is the blob from magic through ver, so the verifier and the
// mechanism byte cannot be swapped between blobs.
//
// With mechKWP (RFC 5649, no IV, no associated data; done with
// C_WrapKey/C_UnwrapKey on a generic-secret session object):
//
//	ver = KWP_K(frame(verifierPlain))                                    32
//	ct  = KWP_K(frame(secret))                                           8*ceil((2+n)/8)+8
//
// frame(x) = u16 len(x) || x || zero bytes up to a multiple of 8, so the
// token never pads: SoftHSM2 2.6 does not strip RFC 5649 padding on
// C_UnwrapKey into a generic secret, and other tokens may differ too.
//
// sum tells accidental damage (truncation, bit rot) before the token is
// asked anything; the verifier tells "this blob was wrapped under another
// key" (wrong token, wrong object, re-created key) from a damaged secret:
// only when the verifier opens and the secret does not is the blob
// "damaged" despite a good sum (deliberate tampering).
const (
	blobMagic   = "CPKW"
	blobVersion = 1
	sumLen      = 16
	gcmIVLen    = 12
	gcmTagLen   = 16

	// MaxSecret bounds what WrapSecret accepts: it is for keys, not data.
	MaxSecret = 4096

	maxVerifier = 256
	maxWrapped  = MaxSecret + 64
)

// Mechanisms a blob can carry.
const (
	mechGCM byte = 1 // CKM_AES_GCM
	mechKWP byte = 2 // CKM_AES_KEY_WRAP_PAD
)

// Fixed inputs; changing any of them breaks every stored blob.
var (
	verifierPlain = []byte("coffer pkcs11 v1") // one AES block
	verifierAAD   = []byte("coffer pkcs11 verifier v1")
	secretAAD     = []byte("coffer pkcs11 secret v1")
)

func mechName(m byte) string {
	switch m {
	case mechGCM:
		return "CKM_AES_GCM"
	case mechKWP:
		return "CKM_AES_KEY_WRAP_PAD"
	}
	return fmt.Sprintf("mechanism %d", m)
}

// blob is a parsed wrapped secret.
type blob struct {
	mech     byte
	verifier []byte
	wrapped  []byte
}

// header returns the bytes from magic through the verifier: the part of
// the blob the GCM ciphertext binds as associated data.
func (b blob) header() []byte {
	h := make([]byte, 0, 4+1+1+2+len(b.verifier))
	h = append(h, blobMagic...)
	h = append(h, blobVersion, b.mech)
	h = binary.BigEndian.AppendUint16(h, uint16(len(b.verifier)))
	return append(h, b.verifier...)
}

func (b blob) marshal() []byte {
	out := b.header()
	out = binary.BigEndian.AppendUint32(out, uint32(len(b.wrapped)))
	out = append(out, b.wrapped...)
	sum := sha256.Sum256(out)
	return append(out, sum[:sumLen]...)
}

// parseBlob checks the framing and the checksum of a blob; every failure
// is ErrDamaged. It never panics and copies what it returns.
func parseBlob(p []byte) (blob, error) {
	damaged := func(why string) (blob, error) {
		return blob{}, fmt.Errorf("%w: %s", ErrDamaged, why)
	}
	const fixed = 4 + 1 + 1 + 2 + 4 + sumLen
	if len(p) < fixed {
		return damaged("too short")
	}
	if string(p[:4]) != blobMagic {
		return damaged("bad magic")
	}
	body, sum := p[:len(p)-sumLen], p[len(p)-sumLen:]
	want := sha256.Sum256(body)
	if !bytes.Equal(sum, want[:sumLen]) {
		return damaged("checksum mismatch")
	}
	if p[4] != blobVersion {
		return damaged(fmt.Sprintf("unknown format version %d", p[4]))
	}
	b := blob{mech: p[5]}
	if b.mech != mechGCM && b.mech != mechKWP {
		return damaged(fmt.Sprintf("unknown mechanism %d", b.mech))
	}
	rest := body[6:]
	vLen := int(binary.BigEndian.Uint16(rest))
	rest = rest[2:]
	if vLen > maxVerifier || vLen > len(rest) {
		return damaged("bad verifier length")
	}
	b.verifier = bytes.Clone(rest[:vLen])
	rest = rest[vLen:]
	if len(rest) < 4 {
		return damaged("too short")
	}
	cLen := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if cLen > maxWrapped || int(cLen) != len(rest) {
		return damaged("bad secret length")
	}
	b.wrapped = bytes.Clone(rest)
	if err := b.checkShape(); err != nil {
		return damaged(err.Error())
	}
	return b, nil
}

// checkShape checks the lengths a mechanism implies.
func (b blob) checkShape() error {
	switch b.mech {
	case mechGCM:
		if len(b.verifier) != gcmIVLen+len(verifierPlain)+gcmTagLen {
			return fmt.Errorf("bad verifier length")
		}
		if len(b.wrapped) < gcmIVLen+1+gcmTagLen {
			return fmt.Errorf("bad secret length")
		}
	case mechKWP:
		if len(b.verifier) != len(frame(verifierPlain))+8 {
			return fmt.Errorf("bad verifier length")
		}
		if len(b.wrapped) < 16 || len(b.wrapped)%8 != 0 {
			return fmt.Errorf("bad secret length")
		}
	}
	return nil
}

// frame length-prefixes x and pads it with zeros to a multiple of 8.
func frame(x []byte) []byte {
	n := (2 + len(x) + 7) &^ 7
	f := make([]byte, n)
	binary.BigEndian.PutUint16(f, uint16(len(x)))
	copy(f[2:], x)
	return f
}

// unframe undoes frame; it reports false for anything frame cannot make.
func unframe(f []byte) ([]byte, bool) {
	if len(f) < 8 || len(f)%8 != 0 {
		return nil, false
	}
	n := int(binary.BigEndian.Uint16(f))
	if 2+n > len(f) || len(f)-(2+n) >= 8 {
		return nil, false
	}
	for _, c := range f[2+n:] {
		if c != 0 {
			return nil, false
		}
	}
	return f[2 : 2+n], true
}
