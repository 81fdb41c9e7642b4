package daemon

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"coffer/internal/keystore"
	"coffer/internal/kmip"
	"coffer/internal/pkcs11"
	"coffer/internal/tpm"
)

// tpmProtector seals the system secret to the TPM with a PCR policy
// (default PCR 7) and an optional PIN.
type tpmProtector struct {
	device string
	pcrs   []int
	pin    []byte
}

var _ keystore.Protector = tpmProtector{}

func (p tpmProtector) Kind() string { return "tpm2" }

func (p tpmProtector) Params() map[string]string {
	var s []string
	for _, n := range p.pcrs {
		s = append(s, strconv.Itoa(n))
	}
	m := map[string]string{"pcrs": strings.Join(s, ",")}
	if len(p.pin) > 0 {
		m["pin"] = "yes"
	}
	return m
}

func (p tpmProtector) opts() tpm.Options {
	return tpm.Options{Device: p.device, PCRs: p.pcrs, PIN: p.pin}
}

func (p tpmProtector) Seal(ctx context.Context, secret []byte) ([]byte, error) {
	s, err := tpm.Seal(ctx, p.opts(), secret)
	if err != nil {
		return nil, err
	}
	return s.MarshalBinary()
}

func (p tpmProtector) Unseal(ctx context.Context, blob []byte) ([]byte, error) {
	var s tpm.Sealed
	if err := s.UnmarshalBinary(blob); err != nil {
		return nil, err
	}
	p.pcrs = s.PCRs()
	return tpm.Unseal(ctx, p.opts(), s)
}

func parsePCRs(s string) ([]int, error) {
	if s == "" {
		return []int{7}, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 || n > 23 {
			return nil, fmt.Errorf("bad PCR '%s' (0 to 23)", f)
		}
		out = append(out, n)
	}
	return out, nil
}

// tpmDevice is the TPM the daemon uses: --tpm, else /dev/tpmrm0.
func (d *Daemon) tpmDevice() string {
	if d.opts.TPM != "" {
		return d.opts.TPM
	}
	return "/dev/tpmrm0"
}

// tpmPresent reports whether a TPM answers, quickly.
func (d *Daemon) tpmPresent() bool {
	dev := d.tpmDevice()
	if !strings.HasPrefix(dev, "tcp://") {
		if _, err := os.Stat(dev); err != nil {
			return false
		}
	}
	done := make(chan error, 1)
	go func() { done <- tpm.Available(tpm.Options{Device: dev}) }()
	select {
	case err := <-done:
		return err == nil
	case <-time.After(5 * time.Second):
		return false
	}
}

// unsealTPM unseals at start; a PIN-protected seal waits for keystore unlock.
func (d *Daemon) unsealTPM(ctx context.Context, st *keystore.Store, pin []byte) error {
	err := st.Unlock(ctx, tpmProtector{device: d.tpmDevice(), pin: pin})
	if errors.Is(err, tpm.ErrPINRequired) {
		return fmt.Errorf("waiting for the TPM PIN: run 'coffer keystore unlock'")
	}
	return err
}

// kmipProtector wraps the system secret under a key-encryption key that
// lives in a KMIP server; the host keeps only the key's ID and the wrapped
// secret (as vSAN does), plus the client certificate it authenticates with.
type kmipProtector struct {
	uri string // kmip://HOST:PORT?ca=PATH&cert=PATH&key=PATH&name=LABEL, or ?cred=NAME&name=LABEL
	id  string
	// store keeps the client identities that cred=NAME names (key
	// provider locations); nil for the system secret's own KEK, which
	// cannot depend on the keystore it opens.
	store *keystore.Store
}

var _ keystore.Protector = (*kmipProtector)(nil)

func (p *kmipProtector) Kind() string { return "kmip" }

func (p *kmipProtector) Params() map[string]string {
	return map[string]string{"uri": p.uri, "key_id": p.id}
}

func (p *kmipProtector) config() (kmip.Config, string, error) {
	u, err := url.Parse(p.uri)
	if err != nil || u.Scheme != "kmip" || u.Host == "" {
		return kmip.Config{}, "", fmt.Errorf("bad KMIP URI (want kmip://HOST:PORT?ca=PATH&cert=PATH&key=PATH[&name=LABEL])")
	}
	q := u.Query()
	read := func(k string) ([]byte, error) {
		f := q.Get(k)
		if !filepath.IsAbs(f) {
			return nil, fmt.Errorf("KMIP URI needs an absolute %s= path", k)
		}
		return os.ReadFile(f)
	}
	var c kmip.Config
	c.Addr, c.Timeout = u.Host, 20*time.Second
	if q.Has("cred") {
		if p.store == nil {
			return kmip.Config{}, "", errKMIPCredForKeystore
		}
		ident, err := kmipIdentity(p.store, q.Get("cred"))
		if err != nil {
			return kmip.Config{}, "", err
		}
		c.CA, c.Cert, c.Key = ident.CA, ident.Cert, ident.Key
	} else if c.CA, err = read("ca"); err == nil {
		if c.Cert, err = read("cert"); err == nil {
			c.Key, err = read("key")
		}
	}
	name := q.Get("name")
	if name == "" {
		name = "coffer-system-kek"
	}
	return c, name, err
}

// errKMIPCredForKeystore: the system secret's KEK cannot authenticate with
// an identity kept in the keystore that the KEK opens.
var errKMIPCredForKeystore = errors.New("cred= names a credential kept in the keystore, which is locked until this protection opens it: give ca=, cert= and key= files")

func (p *kmipProtector) Seal(ctx context.Context, secret []byte) ([]byte, error) {
	cfg, name, err := p.config()
	if err != nil {
		return nil, err
	}
	defer clear(cfg.Key)
	c, err := kmip.Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	ids, err := c.Locate(ctx, name)
	if err != nil && !errors.Is(err, kmip.ErrNotFound) {
		return nil, err
	}
	if len(ids) > 0 {
		p.id = ids[0]
	} else if p.id, err = c.CreateAES256(ctx, name); err != nil {
		return nil, err
	}
	return c.WrapSecret(ctx, p.id, secret)
}

func (p *kmipProtector) Unseal(ctx context.Context, blob []byte) ([]byte, error) {
	cfg, _, err := p.config()
	if err != nil {
		return nil, err
	}
	defer clear(cfg.Key)
	if p.id, err = kmip.BlobKeyID(blob); err != nil {
		return nil, err
	}
	c, err := kmip.Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.UnwrapSecret(ctx, p.id, blob)
}

// pkcs11Protector wraps the system secret under an AES key that lives in a
// PKCS#11 token (an HSM) and never leaves it. The host keeps the token URI
// (with a pin-source, never a pin-value) and the wrapped secret.
type pkcs11Protector struct {
	uri string
}

var _ keystore.Protector = pkcs11Protector{}

func (p pkcs11Protector) Kind() string { return "pkcs11" }

func (p pkcs11Protector) Params() map[string]string {
	u, err := pkcs11.ParseURI(p.uri)
	if err != nil {
		return nil
	}
	return map[string]string{"uri": u.String()} // never the pin-value
}

func (p pkcs11Protector) Seal(ctx context.Context, secret []byte) ([]byte, error) {
	u, err := pkcs11.ParseURI(p.uri)
	if err != nil {
		return nil, err
	}
	if err := pkcs11.GenerateKEK(ctx, u); err != nil && !errors.Is(err, pkcs11.ErrKeyExists) {
		return nil, err
	}
	return pkcs11.WrapSecret(ctx, u, secret)
}

func (p pkcs11Protector) Unseal(ctx context.Context, blob []byte) ([]byte, error) {
	u, err := pkcs11.ParseURI(p.uri)
	if err != nil {
		return nil, err
	}
	return pkcs11.UnwrapSecret(ctx, u, blob)
}
