package pkcs11

import (
	"context"
	"encoding/binary"

	p11 "github.com/miekg/pkcs11"
)

// GenerateKEK creates the key encryption key in the token: an AES-256
// secret key that is a token object (it persists), private, sensitive and
// not extractable, usable for encrypt/decrypt and wrap/unwrap, labelled
// u.Object (and with CKA_ID u.ID when given). It refuses when any object
// with that label or id exists.
func GenerateKEK(ctx context.Context, u URI) error {
	if u.Object == "" {
		return u.errorf("generate key: the URI needs object= to label the key")
	}
	return withSession(ctx, u, true, func(s *session) error {
		if !s.hasMechanism(p11.CKM_AES_KEY_GEN, p11.CKF_GENERATE) {
			return u.errorf("generate key: CKM_AES_KEY_GEN: %w", ErrMechanism)
		}
		for _, t := range [][]*p11.Attribute{
			{p11.NewAttribute(p11.CKA_LABEL, u.Object)},
			{p11.NewAttribute(p11.CKA_ID, u.ID)},
		} {
			if t[0].Type == p11.CKA_ID && len(u.ID) == 0 {
				continue
			}
			objs, err := s.find(t)
			if err != nil {
				return err
			}
			if len(objs) > 0 {
				return u.errorf("generate key: %w", ErrKeyExists)
			}
		}
		tmpl := []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
			p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
			p11.NewAttribute(p11.CKA_VALUE_LEN, 32),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_PRIVATE, true),
			p11.NewAttribute(p11.CKA_SENSITIVE, true),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
			p11.NewAttribute(p11.CKA_ENCRYPT, true),
			p11.NewAttribute(p11.CKA_DECRYPT, true),
			p11.NewAttribute(p11.CKA_WRAP, true),
			p11.NewAttribute(p11.CKA_UNWRAP, true),
			p11.NewAttribute(p11.CKA_SIGN, false),
			p11.NewAttribute(p11.CKA_VERIFY, false),
			p11.NewAttribute(p11.CKA_DERIVE, false),
			p11.NewAttribute(p11.CKA_LABEL, u.Object),
		}
		if len(u.ID) > 0 {
			tmpl = append(tmpl, p11.NewAttribute(p11.CKA_ID, u.ID))
		}
		if _, err := s.c.GenerateKey(s.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, tmpl); err != nil {
			return u.errorf("generate key: %w", err)
		}
		return nil
	})
}

// Available checks that the URI's key can be used now: the module loads,
// the token is present, the PIN is accepted, exactly one matching key
// exists, it is an AES key that cannot leave the token, and the token
// offers a mechanism WrapSecret can use with it. It changes nothing.
func Available(u URI) error {
	return withSession(context.Background(), u, false, func(s *session) error {
		k, err := s.key()
		if err != nil {
			return err
		}
		if _, err := s.pickMechanism(k); err != nil {
			return err
		}
		return nil
	})
}

// keyAttrs are the attributes of a KEK that decide how it may be used.
type keyAttrs struct {
	aes, sensitive, extractable, encrypt, decrypt, wrap, unwrap bool
}

func (s *session) keyAttrs(k p11.ObjectHandle) (keyAttrs, error) {
	got, err := s.c.GetAttributeValue(s.h, k, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_KEY_TYPE, nil),
		p11.NewAttribute(p11.CKA_SENSITIVE, nil),
		p11.NewAttribute(p11.CKA_EXTRACTABLE, nil),
		p11.NewAttribute(p11.CKA_ENCRYPT, nil),
		p11.NewAttribute(p11.CKA_DECRYPT, nil),
		p11.NewAttribute(p11.CKA_WRAP, nil),
		p11.NewAttribute(p11.CKA_UNWRAP, nil),
	})
	if err != nil {
		return keyAttrs{}, s.u.errorf("read key attributes: %w", err)
	}
	var a keyAttrs
	for _, at := range got {
		b := len(at.Value) == 1 && at.Value[0] != 0
		switch at.Type {
		case p11.CKA_KEY_TYPE:
			a.aes = ulong(at.Value) == p11.CKK_AES
		case p11.CKA_SENSITIVE:
			a.sensitive = b
		case p11.CKA_EXTRACTABLE:
			a.extractable = b
		case p11.CKA_ENCRYPT:
			a.encrypt = b
		case p11.CKA_DECRYPT:
			a.decrypt = b
		case p11.CKA_WRAP:
			a.wrap = b
		case p11.CKA_UNWRAP:
			a.unwrap = b
		}
	}
	return a, nil
}

// ulong decodes a CK_ULONG attribute value (native byte order).
func ulong(v []byte) uint {
	switch len(v) {
	case 8:
		return uint(binary.NativeEndian.Uint64(v))
	case 4:
		return uint(binary.NativeEndian.Uint32(v))
	}
	return ^uint(0)
}

// pickMechanism checks the key and chooses how to wrap with it:
// CKM_AES_GCM when the token and the key allow encrypt/decrypt with it,
// else CKM_AES_KEY_WRAP_PAD when they allow wrap/unwrap.
func (s *session) pickMechanism(k p11.ObjectHandle) (byte, error) {
	a, err := s.keyAttrs(k)
	if err != nil {
		return 0, err
	}
	switch {
	case !a.aes:
		return 0, s.u.errorf("key is not an AES key")
	case !a.sensitive || a.extractable:
		return 0, s.u.errorf("key could leave the token (CKA_SENSITIVE false or CKA_EXTRACTABLE true): refusing it as a KEK")
	}
	if a.encrypt && a.decrypt && s.hasMechanism(p11.CKM_AES_GCM, p11.CKF_ENCRYPT|p11.CKF_DECRYPT) {
		return mechGCM, nil
	}
	if a.wrap && a.unwrap && s.hasMechanism(p11.CKM_AES_KEY_WRAP_PAD, p11.CKF_WRAP|p11.CKF_UNWRAP) {
		return mechKWP, nil
	}
	return 0, s.u.errorf("neither CKM_AES_GCM (encrypt/decrypt) nor CKM_AES_KEY_WRAP_PAD (wrap/unwrap) usable with this key: %w", ErrMechanism)
}

// checkMechanism checks that the key can be used with the mechanism a blob
// names.
func (s *session) checkMechanism(k p11.ObjectHandle, mech byte) error {
	a, err := s.keyAttrs(k)
	if err != nil {
		return err
	}
	ok := false
	switch mech {
	case mechGCM:
		ok = a.aes && a.decrypt && s.hasMechanism(p11.CKM_AES_GCM, p11.CKF_DECRYPT)
	case mechKWP:
		ok = a.aes && a.unwrap && s.hasMechanism(p11.CKM_AES_KEY_WRAP_PAD, p11.CKF_UNWRAP)
	}
	if !ok {
		return s.u.errorf("%s with this key: %w", mechName(mech), ErrMechanism)
	}
	return nil
}
