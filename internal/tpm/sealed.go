package tpm

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/go-tpm/tpm2"
)

// FormatVersion is the version of Sealed's binary encoding.
const FormatVersion = 1

// Sealed is a secret sealed by Seal: what the host stores. It is useless
// without the TPM that made it, in the PCR state it was made in (and the
// PIN, when PINRequired). It holds no secret in the clear; the PCR values
// recorded beside the blobs are public measurements, kept only to say which
// PCR changed when the TPM refuses.
//
// Binary encoding (all integers big-endian), version 1:
//
//	off  size  field
//	0    4     magic "CTPM"
//	4    1     version (1)
//	5    1     flags: bit 0 = a PIN is needed; other bits 0
//	6    2     PCR bank hash algorithm (0x000B, SHA-256)
//	8    4     PCR bitmap: bit i = PCR i (PCRs 0..23; at least one)
//	12   32*n  the selected PCRs' values at seal time, ascending PCR order
//	     2+m   TPM2B_NAME of the storage root key it was sealed under
//	     2+m   TPM2B_PUBLIC of the sealed object (a tpm2-tools .pub file)
//	     2+m   TPM2B_PRIVATE of the sealed object (a tpm2-tools .priv file)
//
// Nothing may follow.
type Sealed struct {
	pin     bool
	pcrs    []int    // ascending
	values  [][]byte // SHA-256 values of pcrs at seal time
	srkName []byte   // TPM2B_NAME contents
	public  []byte   // TPMT_PUBLIC (TPM2B_PUBLIC contents)
	private []byte   // TPM2B_PRIVATE contents
}

var sealedMagic = [4]byte{'C', 'T', 'P', 'M'}

// Limits on the variable parts; real values are far smaller (a name is 34
// bytes, a keyed-hash public area about 80, a private area about 150).
const (
	maxName    = 2 + 64
	maxBlob    = 1024
	numPCRs    = 24
	digestSize = 32
)

// ErrBadSealed is returned for a Sealed encoding that cannot be decoded.
var ErrBadSealed = errors.New("not a valid TPM-sealed secret")

// PCRs returns the PCRs (SHA-256 bank) the secret is bound to.
func (s Sealed) PCRs() []int { return append([]int(nil), s.pcrs...) }

// PINRequired reports whether unsealing needs a PIN.
func (s Sealed) PINRequired() bool { return s.pin }

// TPM2BPublic returns the sealed object's TPM2B_PUBLIC, the format
// tpm2-tools reads with `tpm2_load -u`.
func (s Sealed) TPM2BPublic() []byte { return tpm2b(s.public) }

// TPM2BPrivate returns the sealed object's TPM2B_PRIVATE, the format
// tpm2-tools reads with `tpm2_load -r`.
func (s Sealed) TPM2BPrivate() []byte { return tpm2b(s.private) }

func tpm2b(b []byte) []byte {
	out := binary.BigEndian.AppendUint16(nil, uint16(len(b)))
	return append(out, b...)
}

// MarshalBinary encodes s (format above).
func (s Sealed) MarshalBinary() ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	b := make([]byte, 0, 12+digestSize*len(s.pcrs)+6+len(s.srkName)+len(s.public)+len(s.private))
	b = append(b, sealedMagic[:]...)
	b = append(b, FormatVersion)
	var flags byte
	if s.pin {
		flags |= 1
	}
	b = append(b, flags)
	b = binary.BigEndian.AppendUint16(b, uint16(tpm2.TPMAlgSHA256))
	var mask uint32
	for _, p := range s.pcrs {
		mask |= 1 << p
	}
	b = binary.BigEndian.AppendUint32(b, mask)
	for _, v := range s.values {
		b = append(b, v...)
	}
	b = append(b, tpm2b(s.srkName)...)
	b = append(b, tpm2b(s.public)...)
	b = append(b, tpm2b(s.private)...)
	return b, nil
}

// UnmarshalBinary decodes what MarshalBinary wrote. It checks every length
// and field, and that the public area is a keyed-hash (sealed data) object
// whose name algorithm is SHA-256.
func (s *Sealed) UnmarshalBinary(b []byte) error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrBadSealed, why) }
	if len(b) < 12 {
		return bad("too short")
	}
	if [4]byte(b[:4]) != sealedMagic {
		return bad("wrong magic")
	}
	if b[4] != FormatVersion {
		return bad(fmt.Sprintf("format version %d, this build reads %d", b[4], FormatVersion))
	}
	if b[5]&^1 != 0 {
		return bad("unknown flags")
	}
	if alg := binary.BigEndian.Uint16(b[6:]); alg != uint16(tpm2.TPMAlgSHA256) {
		return bad(fmt.Sprintf("PCR bank algorithm 0x%04x, want SHA-256", alg))
	}
	mask := binary.BigEndian.Uint32(b[8:])
	if mask == 0 || mask>>numPCRs != 0 {
		return bad("bad PCR selection")
	}
	var out Sealed
	out.pin = b[5]&1 != 0
	rest := b[12:]
	for p := range numPCRs {
		if mask&(1<<p) == 0 {
			continue
		}
		if len(rest) < digestSize {
			return bad("truncated PCR values")
		}
		out.pcrs = append(out.pcrs, p)
		out.values = append(out.values, append([]byte(nil), rest[:digestSize]...))
		rest = rest[digestSize:]
	}
	var err error
	field := func(max int, what string) []byte {
		if err != nil {
			return nil
		}
		if len(rest) < 2 {
			err = bad("truncated " + what)
			return nil
		}
		n := int(binary.BigEndian.Uint16(rest))
		if n == 0 || n > max || len(rest)-2 < n {
			err = bad("bad length of " + what)
			return nil
		}
		v := append([]byte(nil), rest[2:2+n]...)
		rest = rest[2+n:]
		return v
	}
	out.srkName = field(maxName, "parent name")
	out.public = field(maxBlob, "public area")
	out.private = field(maxBlob, "private area")
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return bad("trailing bytes")
	}
	if err := out.check(); err != nil {
		return err
	}
	*s = out
	return nil
}

// check validates the invariants shared by both directions.
func (s *Sealed) check() error {
	bad := func(why string) error { return fmt.Errorf("%w: %s", ErrBadSealed, why) }
	if len(s.pcrs) == 0 || len(s.pcrs) != len(s.values) {
		return bad("no PCR selection")
	}
	for i, p := range s.pcrs {
		if p < 0 || p >= numPCRs || (i > 0 && p <= s.pcrs[i-1]) {
			return bad("bad PCR selection")
		}
		if len(s.values[i]) != digestSize {
			return bad("bad PCR value")
		}
	}
	if len(s.srkName) == 0 || len(s.srkName) > maxName ||
		len(s.public) == 0 || len(s.public) > maxBlob ||
		len(s.private) == 0 || len(s.private) > maxBlob {
		return bad("bad blob length")
	}
	pub, err := tpm2.Unmarshal[tpm2.TPMTPublic](s.public)
	if err != nil {
		return bad("public area does not parse")
	}
	if pub.Type != tpm2.TPMAlgKeyedHash || pub.NameAlg != tpm2.TPMAlgSHA256 {
		return bad("public area is not a SHA-256 sealed data object")
	}
	if pub.ObjectAttributes.UserWithAuth || len(pub.AuthPolicy.Buffer) != digestSize {
		return bad("public area has no policy")
	}
	// Unmarshal ignores trailing bytes; a public area must be exactly one
	// TPMT_PUBLIC, or its name (and so the TPM's integrity check) differs.
	if len(tpm2.Marshal(pub)) != len(s.public) {
		return bad("public area has trailing bytes")
	}
	return nil
}
