package pkcs11

import (
	"context"
	"errors"
	"fmt"
	"sync"

	p11 "github.com/miekg/pkcs11"
)

// Errors, matched with errors.Is. Every error this package returns is one
// line that names the token and the object; none carries a PIN or a secret.
var (
	// ErrWrongKey: the blob was wrapped under another key (another token,
	// another object, or a key re-created under the same label).
	ErrWrongKey = errors.New("secret was wrapped under a different key")
	// ErrDamaged: the blob is truncated, corrupted or tampered with.
	ErrDamaged = errors.New("wrapped secret is damaged")
	// ErrWrongPIN: the token refused the user PIN.
	ErrWrongPIN = errors.New("wrong PIN")
	// ErrPINLocked: the token locked the user PIN after too many failures.
	ErrPINLocked = errors.New("PIN is locked")
	// ErrNoPIN: the token requires a login and the URI carries no PIN.
	ErrNoPIN = errors.New("token needs a PIN: add pin-source= or pin-value=")
	// ErrNoToken: no token with the URI's label is present.
	ErrNoToken = errors.New("token not found")
	// ErrNoKey: the token holds no secret key matching the URI.
	ErrNoKey = errors.New("key not found")
	// ErrKeyExists: GenerateKEK found an object with that label or id.
	ErrKeyExists = errors.New("an object with that label or id already exists")
	// ErrMechanism: the token lacks the mechanism needed.
	ErrMechanism = errors.New("mechanism not supported by the token")
)

// module is one loaded PKCS#11 library. Calls are serialized per module:
// PKCS#11 login state belongs to the application, not the session, so one
// call's C_Logout would log out a concurrent call's session.
type module struct {
	path  string
	ctx   *p11.Ctx
	users int        // guarded by modules.mu
	mu    sync.Mutex // serializes calls into the library
}

// modules holds the libraries in use. A library is loaded and initialized
// by the first call that needs it and finalized and unloaded when the last
// such call returns, so nothing stays open between calls.
var modules = struct {
	sync.Mutex
	m map[string]*module
}{m: map[string]*module{}}

func acquire(path string) (*module, error) {
	modules.Lock()
	defer modules.Unlock()
	if m := modules.m[path]; m != nil {
		m.users++
		return m, nil
	}
	c := p11.New(path)
	if c == nil {
		return nil, fmt.Errorf("cannot load module %s", path)
	}
	if err := c.Initialize(); err != nil && !errors.Is(err, p11.Error(p11.CKR_CRYPTOKI_ALREADY_INITIALIZED)) {
		c.Destroy()
		return nil, fmt.Errorf("initialize module %s: %w", path, err)
	}
	m := &module{path: path, ctx: c, users: 1}
	modules.m[path] = m
	return m, nil
}

func (m *module) release() {
	modules.Lock()
	defer modules.Unlock()
	m.users--
	if m.users > 0 {
		return
	}
	delete(modules.m, m.path)
	_ = m.ctx.Finalize()
	m.ctx.Destroy()
}

// session is one open, logged-in session on the URI's token.
type session struct {
	c    *p11.Ctx
	h    p11.SessionHandle
	slot uint
	u    URI
}

// errorf formats a one-line error naming the token and object.
func (u URI) errorf(format string, args ...any) error {
	return fmt.Errorf("pkcs11 token %q %s: %w", u.Token, u.keyName(), fmt.Errorf(format, args...))
}

func (u URI) keyName() string {
	switch {
	case u.Object != "" && len(u.ID) > 0:
		return fmt.Sprintf("object %q id %x", u.Object, u.ID)
	case u.Object != "":
		return fmt.Sprintf("object %q", u.Object)
	}
	return fmt.Sprintf("id %x", u.ID)
}

// withSession loads the module, finds the token, opens a session, logs in
// with the URI's PIN, runs fn, and undoes all of it.
func withSession(ctx context.Context, u URI, rw bool, fn func(*session) error) error {
	if err := ctx.Err(); err != nil {
		return u.errorf("%w", err)
	}
	if u.ModulePath == "" || u.Token == "" {
		return u.errorf("incomplete URI: module-path and token are required")
	}
	m, err := acquire(u.ModulePath)
	if err != nil {
		return u.errorf("%w", err)
	}
	defer m.release()
	m.mu.Lock()
	defer m.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return u.errorf("%w", err)
	}
	slot, info, err := findToken(m.ctx, u.Token)
	if err != nil {
		return u.errorf("%w", err)
	}
	flags := uint(p11.CKF_SERIAL_SESSION)
	if rw {
		flags |= p11.CKF_RW_SESSION
	}
	h, err := m.ctx.OpenSession(slot, flags)
	if err != nil {
		return u.errorf("open session: %w", err)
	}
	defer m.ctx.CloseSession(h)
	if info.Flags&p11.CKF_LOGIN_REQUIRED != 0 || len(u.PIN) > 0 {
		if len(u.PIN) == 0 {
			return u.errorf("%w", ErrNoPIN)
		}
		err := m.ctx.Login(h, p11.CKU_USER, string(u.PIN))
		switch {
		case err == nil:
			defer m.ctx.Logout(h)
		case errors.Is(err, p11.Error(p11.CKR_USER_ALREADY_LOGGED_IN)):
			// Someone else in this process logged in; leave it to them.
		case errors.Is(err, p11.Error(p11.CKR_PIN_INCORRECT)):
			return u.errorf("login: %w", ErrWrongPIN)
		case errors.Is(err, p11.Error(p11.CKR_PIN_LOCKED)):
			return u.errorf("login: %w", ErrPINLocked)
		default:
			return u.errorf("login: %w", err)
		}
	}
	return fn(&session{c: m.ctx, h: h, slot: slot, u: u})
}

// findToken returns the slot holding the one token labelled label.
func findToken(c *p11.Ctx, label string) (uint, p11.TokenInfo, error) {
	slots, err := c.GetSlotList(true)
	if err != nil {
		return 0, p11.TokenInfo{}, fmt.Errorf("list slots: %w", err)
	}
	var (
		found []uint
		info  p11.TokenInfo
	)
	for _, s := range slots {
		ti, err := c.GetTokenInfo(s)
		if err != nil {
			continue
		}
		if ti.Label == label {
			found = append(found, s)
			info = ti
		}
	}
	switch len(found) {
	case 0:
		return 0, info, ErrNoToken
	case 1:
		return found[0], info, nil
	}
	return 0, info, fmt.Errorf("%d tokens carry this label", len(found))
}

// match is the search template for the URI's object: by class, and by
// label and id where given.
func (s *session) match(class uint) []*p11.Attribute {
	t := []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, class)}
	if s.u.Object != "" {
		t = append(t, p11.NewAttribute(p11.CKA_LABEL, s.u.Object))
	}
	if len(s.u.ID) > 0 {
		t = append(t, p11.NewAttribute(p11.CKA_ID, s.u.ID))
	}
	return t
}

// find returns up to two objects matching the template.
func (s *session) find(t []*p11.Attribute) ([]p11.ObjectHandle, error) {
	if err := s.c.FindObjectsInit(s.h, t); err != nil {
		return nil, s.u.errorf("find objects: %w", err)
	}
	objs, _, err := s.c.FindObjects(s.h, 2)
	if ferr := s.c.FindObjectsFinal(s.h); err == nil {
		err = ferr
	}
	if err != nil {
		return nil, s.u.errorf("find objects: %w", err)
	}
	return objs, nil
}

// key returns the one secret key the URI names.
func (s *session) key() (p11.ObjectHandle, error) {
	objs, err := s.find(s.match(p11.CKO_SECRET_KEY))
	if err != nil {
		return 0, err
	}
	switch len(objs) {
	case 0:
		return 0, s.u.errorf("%w", ErrNoKey)
	case 1:
		return objs[0], nil
	}
	return 0, s.u.errorf("more than one secret key matches: add id= to the URI")
}

// hasMechanism reports whether the token can do mech with all of flags.
func (s *session) hasMechanism(mech, flags uint) bool {
	info, err := s.c.GetMechanismInfo(s.slot, []*p11.Mechanism{p11.NewMechanism(mech, nil)})
	return err == nil && info.Flags&flags == flags
}
