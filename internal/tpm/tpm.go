package tpm

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
)

// DefaultDevice is the kernel's TPM resource manager.
const DefaultDevice = "/dev/tpmrm0"

// MaxSecret is the most a TPM seals in one object (MAX_SYM_DATA).
const MaxSecret = 128

// Options says which TPM to use and what to bind the secret to.
type Options struct {
	// Device is DefaultDevice when empty, a device path, or
	// "tcp://HOST:PORT": swtpm's command port (its platform port, PORT+1,
	// is not used).
	Device string
	// PCRs are the SHA-256 bank PCRs (0..23) the secret is bound to;
	// default {7}, the Secure Boot policy.
	PCRs []int
	// PIN, when set, is needed to unseal too (TPM2_PolicyAuthValue; the
	// object's auth value is SHA-256(PIN)). A sealed object with a PIN is
	// protected by the TPM's dictionary-attack lockout.
	PIN []byte
}

// Errors. Returned errors wrap these; their messages hold neither the
// secret nor the PIN.
var (
	ErrNoTPM       = errors.New("no TPM")
	ErrPCRMismatch = errors.New("TPM refused: PCR values differ from when the secret was sealed")
	ErrBadPIN      = errors.New("TPM refused: wrong PIN")
	ErrPINRequired = errors.New("the secret was sealed with a PIN and none was given")
	ErrNoPIN       = errors.New("the secret was sealed without a PIN, but a PIN was given")
	ErrLockout     = errors.New("TPM is in dictionary-attack lockout after too many wrong PINs: wait, or reset it with tpm2_dictionarylockout -c")
	ErrWrongTPM    = errors.New("the sealed secret does not belong to this TPM (sealed by another TPM, this TPM was cleared since, or the blob is damaged)")
	ErrOwnerAuth   = errors.New("the TPM's owner hierarchy has a password; coffer needs it empty to create its storage key")
)

func (o Options) device() string {
	if o.Device == "" {
		return DefaultDevice
	}
	return o.Device
}

// pcrs returns the validated, sorted PCR selection.
func (o Options) pcrs() ([]int, error) {
	if len(o.PCRs) == 0 {
		return []int{7}, nil
	}
	p := slices.Clone(o.PCRs)
	slices.Sort(p)
	for i, n := range p {
		if n < 0 || n >= numPCRs {
			return nil, fmt.Errorf("tpm: PCR %d out of range 0..23", n)
		}
		if i > 0 && n == p[i-1] {
			return nil, fmt.Errorf("tpm: PCR %d given twice", n)
		}
	}
	return p, nil
}

// conn is an open TPM with its context watcher.
type conn struct {
	tpm   transport.TPM
	ctx   context.Context
	close func() error
	stop  func() bool
}

// Warnings after which a TPM expects the same command again (TPM 2.0
// Part 2, 6.6.3): the TPM did not start it, so sessions are unchanged and
// the same bytes are valid. tpm2-tss resubmits these too; go-tpm does not.
const (
	rcRetry   = 0x922
	rcYielded = 0x908
	rcTesting = 0x90A
)

// Send implements transport.TPM, resubmitting on RETRY, YIELDED and
// TESTING.
func (c *conn) Send(cmd []byte) ([]byte, error) {
	for attempt := 1; ; attempt++ {
		rsp, err := c.tpm.Send(cmd)
		if err != nil || len(rsp) < 10 || attempt == 20 {
			return rsp, err
		}
		switch binary.BigEndian.Uint32(rsp[6:10]) {
		case rcRetry, rcYielded, rcTesting:
		default:
			return rsp, nil
		}
		select {
		case <-c.ctx.Done():
			return nil, c.ctx.Err()
		case <-time.After(time.Duration(attempt) * 10 * time.Millisecond):
		}
	}
}

func (c *conn) Close() error {
	c.stop()
	return c.close()
}

// open connects to the TPM named by o.
func open(ctx context.Context, o Options) (*conn, error) {
	dev := o.device()
	if addr, ok := strings.CutPrefix(dev, "tcp://"); ok {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("tpm: bad address %q: want tcp://HOST:PORT", dev)
		}
		sc, err := dialSim(ctx, addr)
		if err != nil {
			if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
				return nil, err
			}
			return nil, fmt.Errorf("%w at %s (%v)", ErrNoTPM, dev, causeOf(err))
		}
		stop := context.AfterFunc(ctx, func() { sc.c.Close() })
		return &conn{tpm: sc, ctx: ctx, close: sc.Close, stop: stop}, nil
	}
	t, err := linuxtpm.Open(dev)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) || errors.Is(err, linuxtpm.ErrFileIsNotDevice) {
			return nil, fmt.Errorf("%w at %s", ErrNoTPM, dev)
		}
		return nil, fmt.Errorf("tpm: open %s: %v", dev, causeOf(err))
	}
	stop := context.AfterFunc(ctx, func() { t.Close() })
	return &conn{tpm: t, ctx: ctx, close: t.Close, stop: stop}, nil
}

// causeOf shortens an OS error to its last part ("connection refused").
func causeOf(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		err = op.Err
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	var se *os.SyscallError
	if errors.As(err, &se) {
		err = se.Err
	}
	return err.Error()
}

// Available reports whether the TPM named by o answers and has a SHA-256
// bank for the selected PCRs. It gives up after 10 seconds.
func Available(o Options) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	pcrs, err := o.pcrs()
	if err != nil {
		return err
	}
	t, err := open(ctx, o)
	if err != nil {
		return err
	}
	defer t.Close()
	_, err = readPCRs(t, pcrs)
	return wrapCtx(ctx, err)
}

// srk creates the storage root key: the TCG reference ECC P-256 SRK
// template under the owner hierarchy. The same TPM (same owner seed)
// always gives the same key and name. The caller flushes it.
func srk(t transport.TPM) (*tpm2.CreatePrimaryResponse, error) {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.TPMRHOwner,
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(t)
	if err != nil {
		if errors.Is(err, tpm2.TPMRCBadAuth) || errors.Is(err, tpm2.TPMRCAuthFail) {
			return nil, ErrOwnerAuth
		}
		return nil, fmt.Errorf("tpm: create storage key: %w", err)
	}
	return rsp, nil
}

func flush(t transport.TPM, h tpm2.TPMHandle) {
	_, _ = tpm2.FlushContext{FlushHandle: h}.Execute(t)
}

func selection(pcrs []int) tpm2.TPMLPCRSelection {
	u := make([]uint, len(pcrs))
	for i, p := range pcrs {
		u[i] = uint(p)
	}
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash:      tpm2.TPMAlgSHA256,
		PCRSelect: tpm2.PCClientCompatible.PCRs(u...),
	}}}
}

// readPCRs reads the SHA-256 values of pcrs, one at a time (a TPM returns
// at most eight per call).
func readPCRs(t transport.TPM, pcrs []int) ([][]byte, error) {
	vals := make([][]byte, len(pcrs))
	for i, p := range pcrs {
		rsp, err := tpm2.PCRRead{PCRSelectionIn: selection([]int{p})}.Execute(t)
		if err != nil {
			return nil, fmt.Errorf("tpm: read PCR %d: %w", p, err)
		}
		if len(rsp.PCRValues.Digests) != 1 || len(rsp.PCRValues.Digests[0].Buffer) != digestSize {
			return nil, fmt.Errorf("tpm: PCR %d has no SHA-256 bank on this TPM", p)
		}
		vals[i] = rsp.PCRValues.Digests[0].Buffer
	}
	return vals, nil
}

// policy computes the sealed object's authPolicy: PolicyPCR over the
// values, then PolicyAuthValue when a PIN is set.
func policy(pcrs []int, values [][]byte, pin bool) ([]byte, error) {
	calc, err := tpm2.NewPolicyCalculator(tpm2.TPMAlgSHA256)
	if err != nil {
		return nil, err
	}
	h := sha256.New()
	for _, v := range values {
		h.Write(v)
	}
	pp := tpm2.PolicyPCR{
		PcrDigest: tpm2.TPM2BDigest{Buffer: h.Sum(nil)},
		Pcrs:      selection(pcrs),
	}
	if err := pp.Update(calc); err != nil {
		return nil, err
	}
	if pin {
		if err := (tpm2.PolicyAuthValue{}).Update(calc); err != nil {
			return nil, err
		}
	}
	return calc.Hash().Digest, nil
}

// pinAuth is the object's auth value for a PIN: SHA-256(PIN), so a PIN of
// any length and trailing zero bytes fit the TPM's rules for auth values.
func pinAuth(pin []byte) []byte {
	sum := sha256.Sum256(pin)
	return sum[:]
}

// Seal seals secret (1..MaxSecret bytes) to the TPM named by o, bound to
// the current values of o's PCRs and, when o.PIN is set, to the PIN. The
// values are read just before the object is created: a PCR extended in
// between makes the result fail Unseal (ErrPCRMismatch), never weaker.
func Seal(ctx context.Context, o Options, secret []byte) (Sealed, error) {
	if len(secret) == 0 || len(secret) > MaxSecret {
		return Sealed{}, fmt.Errorf("tpm: a sealed secret has 1..%d bytes, not %d", MaxSecret, len(secret))
	}
	pcrs, err := o.pcrs()
	if err != nil {
		return Sealed{}, err
	}
	t, err := open(ctx, o)
	if err != nil {
		return Sealed{}, err
	}
	defer t.Close()

	parent, err := srk(t)
	if err != nil {
		return Sealed{}, wrapCtx(ctx, err)
	}
	defer flush(t, parent.ObjectHandle)
	parentPub, err := parent.OutPublic.Contents()
	if err != nil {
		return Sealed{}, fmt.Errorf("tpm: storage key: %w", err)
	}

	values, err := readPCRs(t, pcrs)
	if err != nil {
		return Sealed{}, wrapCtx(ctx, err)
	}
	pin := len(o.PIN) > 0
	authPolicy, err := policy(pcrs, values, pin)
	if err != nil {
		return Sealed{}, fmt.Errorf("tpm: policy: %w", err)
	}
	sens := &tpm2.TPMSSensitiveCreate{
		Data: tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: secret}),
	}
	if pin {
		sens.UserAuth = tpm2.TPM2BAuth{Buffer: pinAuth(o.PIN)}
	}
	rsp, err := tpm2.Create{
		// The secret travels in a session salted to the SRK that
		// encrypts it (parameter encryption), not in the clear.
		ParentHandle: tpm2.AuthHandle{
			Handle: parent.ObjectHandle,
			Name:   parent.Name,
			Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16,
				tpm2.Salted(parent.ObjectHandle, *parentPub),
				tpm2.AESEncryption(128, tpm2.EncryptIn)),
		},
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: sens},
		InPublic: tpm2.New2B(tpm2.TPMTPublic{
			Type:    tpm2.TPMAlgKeyedHash,
			NameAlg: tpm2.TPMAlgSHA256,
			ObjectAttributes: tpm2.TPMAObject{
				FixedTPM:    true,
				FixedParent: true,
				// Only the policy authorizes use: the PIN alone
				// (UserWithAuth) must not bypass the PCRs.
				UserWithAuth:    false,
				AdminWithPolicy: true,
				// Without a PIN there is nothing to guess, so no
				// dictionary-attack accounting; with one, there is.
				NoDA: !pin,
			},
			AuthPolicy: tpm2.TPM2BDigest{Buffer: authPolicy},
			Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash,
				&tpm2.TPMSKeyedHashParms{Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull}}),
		}),
	}.Execute(t)
	if err != nil {
		return Sealed{}, wrapCtx(ctx, fmt.Errorf("tpm: create sealed object: %w", err))
	}
	s := Sealed{
		pin:     pin,
		pcrs:    pcrs,
		values:  values,
		srkName: slices.Clone(parent.Name.Buffer),
		public:  slices.Clone(rsp.OutPublic.Bytes()),
		private: slices.Clone(rsp.OutPrivate.Buffer),
	}
	if err := s.check(); err != nil {
		return Sealed{}, fmt.Errorf("tpm: sealed object: %w", err)
	}
	return s, nil
}

// Unseal recovers the secret from s. The TPM refuses (ErrPCRMismatch) when
// a bound PCR has changed since Seal, and (ErrBadPIN) when the PIN is wrong.
func Unseal(ctx context.Context, o Options, s Sealed) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, err
	}
	pin := len(o.PIN) > 0
	switch {
	case s.pin && !pin:
		return nil, ErrPINRequired
	case !s.pin && pin:
		return nil, ErrNoPIN
	}
	t, err := open(ctx, o)
	if err != nil {
		return nil, err
	}
	defer t.Close()

	parent, err := srk(t)
	if err != nil {
		return nil, wrapCtx(ctx, err)
	}
	defer flush(t, parent.ObjectHandle)
	if !bytes.Equal(parent.Name.Buffer, s.srkName) {
		return nil, ErrWrongTPM
	}
	parentPub, err := parent.OutPublic.Contents()
	if err != nil {
		return nil, fmt.Errorf("tpm: storage key: %w", err)
	}
	loaded, err := tpm2.Load{
		ParentHandle: tpm2.AuthHandle{
			Handle: parent.ObjectHandle,
			Name:   parent.Name,
			Auth:   tpm2.PasswordAuth(nil),
		},
		InPrivate: tpm2.TPM2BPrivate{Buffer: s.private},
		InPublic:  tpm2.BytesAs2B[tpm2.TPMTPublic](s.public),
	}.Execute(t)
	if err != nil {
		if errors.Is(err, tpm2.TPMRCIntegrity) {
			return nil, ErrWrongTPM
		}
		return nil, wrapCtx(ctx, fmt.Errorf("tpm: load sealed object: %w", err))
	}
	defer flush(t, loaded.ObjectHandle)

	sel := selection(s.pcrs)
	opts := []tpm2.AuthOption{
		tpm2.Salted(parent.ObjectHandle, *parentPub),
		tpm2.AESEncryption(128, tpm2.EncryptOut),
	}
	if pin {
		opts = append(opts, tpm2.Auth(pinAuth(o.PIN)))
	}
	sess := tpm2.Policy(tpm2.TPMAlgSHA256, 16, func(t transport.TPM, h tpm2.TPMISHPolicy, _ tpm2.TPM2BNonce) error {
		// An empty digest makes the TPM take the PCRs' current
		// values; a mismatch then fails the Unseal with POLICY_FAIL.
		if _, err := (tpm2.PolicyPCR{PolicySession: h, Pcrs: sel}).Execute(t); err != nil {
			return err
		}
		if pin {
			if _, err := (tpm2.PolicyAuthValue{PolicySession: h}).Execute(t); err != nil {
				return err
			}
		}
		return nil
	}, opts...)
	rsp, err := tpm2.Unseal{
		ItemHandle: tpm2.AuthHandle{Handle: loaded.ObjectHandle, Name: loaded.Name, Auth: sess},
	}.Execute(t)
	switch {
	case err == nil:
		return slices.Clone(rsp.OutData.Buffer), nil
	case errors.Is(err, tpm2.TPMRCPolicyFail):
		return nil, pcrMismatch(t, s)
	case errors.Is(err, tpm2.TPMRCAuthFail), errors.Is(err, tpm2.TPMRCBadAuth):
		return nil, ErrBadPIN
	case errors.Is(err, tpm2.TPMRCLockout):
		return nil, ErrLockout
	}
	return nil, wrapCtx(ctx, fmt.Errorf("tpm: unseal: %w", err))
}

// pcrMismatch names the PCRs whose values differ from those recorded at
// seal time.
func pcrMismatch(t transport.TPM, s Sealed) error {
	names := func(ps []int) string {
		q := make([]string, len(ps))
		for i, p := range ps {
			q[i] = strconv.Itoa(p)
		}
		return strings.Join(q, ", ")
	}
	now, err := readPCRs(t, s.pcrs)
	if err != nil {
		return fmt.Errorf("%w (PCR %s changed?)", ErrPCRMismatch, names(s.pcrs))
	}
	var changed []int
	for i, v := range now {
		if !bytes.Equal(v, s.values[i]) {
			changed = append(changed, s.pcrs[i])
		}
	}
	if len(changed) == 0 { // changed and back, or a race: say what we know
		return fmt.Errorf("%w (PCR %s changed?)", ErrPCRMismatch, names(s.pcrs))
	}
	return fmt.Errorf("%w (PCR %s changed)", ErrPCRMismatch, names(changed))
}

// wrapCtx prefers the context's error when the context ended, since a
// cancelled call surfaces as a closed-connection error.
func wrapCtx(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ce := ctx.Err(); ce != nil {
		return fmt.Errorf("tpm: %w", ce)
	}
	return err
}

var _ transport.TPMCloser = (*conn)(nil)
