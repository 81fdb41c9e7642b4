package pkcs11

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"
)

// WrapSecret encrypts secret (a key, at most MaxSecret bytes) under the
// URI's KEK inside the token and returns a self-describing blob (format in
// blob.go). It uses CKM_AES_GCM with random IVs when the token offers it,
// else CKM_AES_KEY_WRAP_PAD. Before returning, it opens the blob again in
// the token, so a blob handed out is known to unwrap.
func WrapSecret(ctx context.Context, u URI, secret []byte) ([]byte, error) {
	return wrapSecret(ctx, u, secret, 0)
}

// wrapSecret is WrapSecret with the mechanism forced when mech is not 0
// (tests use it to cover both mechanisms on one token).
func wrapSecret(ctx context.Context, u URI, secret []byte, mech byte) ([]byte, error) {
	if len(secret) == 0 || len(secret) > MaxSecret {
		return nil, u.errorf("wrap: secret must be 1 to %d bytes, not %d", MaxSecret, len(secret))
	}
	var out []byte
	err := withSession(ctx, u, false, func(s *session) error {
		k, err := s.key()
		if err != nil {
			return err
		}
		picked, err := s.pickMechanism(k)
		if err != nil {
			return err
		}
		if mech == 0 {
			mech = picked
		}
		if err := s.checkMechanism(k, mech); err != nil {
			return err
		}
		b := blob{mech: mech}
		switch mech {
		case mechGCM:
			if b.verifier, err = s.gcmSeal(k, verifierPlain, verifierAAD); err != nil {
				return err
			}
			if b.wrapped, err = s.gcmSeal(k, secret, b.secretAAD()); err != nil {
				return err
			}
		case mechKWP:
			if b.verifier, err = s.kwpWrap(k, frame(verifierPlain)); err != nil {
				return err
			}
			f := frame(secret)
			b.wrapped, err = s.kwpWrap(k, f)
			wipe(f)
			if err != nil {
				return err
			}
		}
		if err := b.checkShape(); err != nil {
			return u.errorf("wrap: token returned an unexpected %s output: %v", mechName(mech), err)
		}
		got, err := s.open(k, b)
		if err != nil {
			return u.errorf("wrap: the new blob does not open again: %w", err)
		}
		same := bytes.Equal(got, secret)
		wipe(got)
		if !same {
			return u.errorf("wrap: the new blob opens to something else")
		}
		out = b.marshal()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// UnwrapSecret opens a blob made by WrapSecret with the URI's KEK. It
// returns an error matching ErrDamaged when the blob is corrupt, and
// ErrWrongKey when it is intact but was wrapped under another key.
func UnwrapSecret(ctx context.Context, u URI, blobBytes []byte) ([]byte, error) {
	b, err := parseBlob(blobBytes)
	if err != nil {
		return nil, u.errorf("unwrap: %w", err)
	}
	var secret []byte
	err = withSession(ctx, u, false, func(s *session) error {
		k, err := s.key()
		if err != nil {
			return err
		}
		if err := s.checkMechanism(k, b.mech); err != nil {
			return err
		}
		secret, err = s.open(k, b)
		return err
	})
	if err != nil {
		return nil, err
	}
	return secret, nil
}

// secretAAD is the associated data of the GCM-wrapped secret.
func (b blob) secretAAD() []byte {
	return append(bytes.Clone(secretAAD), b.header()...)
}

// open checks the verifier, then unwraps the secret.
func (s *session) open(k p11.ObjectHandle, b blob) ([]byte, error) {
	var (
		v, secret []byte
		err       error
	)
	switch b.mech {
	case mechGCM:
		v, err = s.gcmOpen(k, b.verifier, verifierAAD)
	case mechKWP:
		v, err = s.kwpUnwrap(k, b.verifier)
	default:
		return nil, s.u.errorf("unwrap: %w: unknown mechanism", ErrDamaged)
	}
	if err == nil && b.mech == mechKWP {
		v, _ = unframe(v)
	}
	if s.integrityFailed(k, b.mech, err) || (err == nil && !bytes.Equal(v, verifierPlain)) {
		return nil, s.u.errorf("unwrap: %w", ErrWrongKey)
	}
	if err != nil {
		return nil, s.u.errorf("unwrap: check verifier with %s: %w", mechName(b.mech), err)
	}
	switch b.mech {
	case mechGCM:
		secret, err = s.gcmOpen(k, b.wrapped, b.secretAAD())
	case mechKWP:
		var f []byte
		if f, err = s.kwpUnwrap(k, b.wrapped); err == nil {
			var ok bool
			if secret, ok = unframe(f); !ok {
				wipe(f)
				return nil, s.u.errorf("unwrap: %w: bad framing inside the wrapped secret", ErrDamaged)
			}
		}
	}
	if s.integrityFailed(k, b.mech, err) {
		return nil, s.u.errorf("unwrap: %w: the key matches but the secret does not open", ErrDamaged)
	}
	if err != nil {
		return nil, s.u.errorf("unwrap: %s: %w", mechName(b.mech), err)
	}
	return secret, nil
}

// integrityFailed tells a failed integrity check (wrong key or changed
// bytes) from a token that could not do the operation at all. The codes
// for the first are clear, but tokens also use generic ones: SoftHSM2
// answers a bad GCM tag or a bad RFC 5649 integrity check with
// CKR_GENERAL_ERROR. For those, a probe settles it: if the token wraps and
// unwraps a fresh value with the same key and mechanism, it works, and the
// failure was the blob's.
func (s *session) integrityFailed(k p11.ObjectHandle, mech byte, err error) bool {
	var e p11.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e {
	case p11.CKR_ENCRYPTED_DATA_INVALID, p11.CKR_ENCRYPTED_DATA_LEN_RANGE,
		p11.CKR_WRAPPED_KEY_INVALID, p11.CKR_WRAPPED_KEY_LEN_RANGE,
		ckrAEADDecryptFailed:
		return true
	case p11.CKR_GENERAL_ERROR, p11.CKR_FUNCTION_FAILED:
		return s.probe(k, mech) == nil
	}
	return false
}

// probe wraps and unwraps a random value with k and mech.
func (s *session) probe(k p11.ObjectHandle, mech byte) error {
	v := make([]byte, 32)
	rand.Read(v)
	var (
		w, got []byte
		err    error
	)
	switch mech {
	case mechGCM:
		if w, err = s.gcmSeal(k, v, verifierAAD); err == nil {
			got, err = s.gcmOpen(k, w, verifierAAD)
		}
	case mechKWP:
		if w, err = s.kwpWrap(k, frame(v)); err == nil {
			if got, err = s.kwpUnwrap(k, w); err == nil {
				got, _ = unframe(got)
			}
		}
	default:
		return ErrMechanism
	}
	if err == nil && !bytes.Equal(got, v) {
		err = errors.New("probe value changed")
	}
	return err
}

// ckrAEADDecryptFailed is CKR_AEAD_DECRYPT_FAILED (PKCS#11 3.0), which the
// v2.40 constants lack.
const ckrAEADDecryptFailed = 0x00000035

// newIV draws a GCM IV from crypto/rand, never all zero.
func newIV() []byte {
	iv := make([]byte, gcmIVLen)
	for {
		rand.Read(iv)
		if !bytes.Equal(iv, make([]byte, gcmIVLen)) {
			return iv
		}
	}
}

// gcmSeal returns IV || ciphertext || tag, with the IV the token used.
func (s *session) gcmSeal(k p11.ObjectHandle, pt, aad []byte) ([]byte, error) {
	params := p11.NewGCMParams(newIV(), aad, gcmTagLen*8)
	defer params.Free()
	if err := s.c.EncryptInit(s.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}, k); err != nil {
		return nil, s.u.errorf("wrap: CKM_AES_GCM: %w", err)
	}
	ct, err := s.c.Encrypt(s.h, pt)
	if err != nil {
		return nil, s.u.errorf("wrap: CKM_AES_GCM: %w", err)
	}
	iv := params.IV()
	if len(iv) != gcmIVLen || bytes.Equal(iv, make([]byte, gcmIVLen)) {
		return nil, s.u.errorf("wrap: token used a bad GCM IV")
	}
	if len(ct) != len(pt)+gcmTagLen {
		return nil, s.u.errorf("wrap: CKM_AES_GCM returned %d bytes for %d", len(ct), len(pt))
	}
	return append(iv, ct...), nil
}

// gcmOpen opens IV || ciphertext || tag. Errors are the token's, bare, so
// the caller can classify them.
func (s *session) gcmOpen(k p11.ObjectHandle, in, aad []byte) ([]byte, error) {
	if len(in) < gcmIVLen+gcmTagLen {
		return nil, p11.Error(p11.CKR_ENCRYPTED_DATA_LEN_RANGE)
	}
	params := p11.NewGCMParams(bytes.Clone(in[:gcmIVLen]), aad, gcmTagLen*8)
	defer params.Free()
	if err := s.c.DecryptInit(s.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}, k); err != nil {
		return nil, err
	}
	return s.c.Decrypt(s.h, in[gcmIVLen:])
}

// kwpWrap wraps data with CKM_AES_KEY_WRAP_PAD: data becomes a temporary
// generic-secret session object, which C_WrapKey wraps and which is then
// destroyed.
func (s *session) kwpWrap(k p11.ObjectHandle, data []byte) ([]byte, error) {
	obj, err := s.c.CreateObject(s.h, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_GENERIC_SECRET),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_SENSITIVE, false),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
		p11.NewAttribute(p11.CKA_VALUE, data),
	})
	if err != nil {
		return nil, s.u.errorf("wrap: create temporary object: %w", err)
	}
	defer s.c.DestroyObject(s.h, obj)
	out, err := s.c.WrapKey(s.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_WRAP_PAD, nil)}, k, obj)
	if err != nil {
		return nil, s.u.errorf("wrap: CKM_AES_KEY_WRAP_PAD: %w", err)
	}
	return out, nil
}

// kwpUnwrap unwraps into a temporary generic-secret session object, reads
// its value and destroys it. Errors are the token's, bare.
func (s *session) kwpUnwrap(k p11.ObjectHandle, in []byte) ([]byte, error) {
	obj, err := s.c.UnwrapKey(s.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_WRAP_PAD, nil)}, k, in, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_GENERIC_SECRET),
		p11.NewAttribute(p11.CKA_TOKEN, false),
		p11.NewAttribute(p11.CKA_SENSITIVE, false),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, true),
	})
	if err != nil {
		return nil, err
	}
	defer s.c.DestroyObject(s.h, obj)
	got, err := s.c.GetAttributeValue(s.h, obj, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
	if err != nil {
		return nil, fmt.Errorf("read unwrapped value: %w", err)
	}
	return got[0].Value, nil
}
