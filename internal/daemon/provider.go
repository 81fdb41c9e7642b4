package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"coffer/internal/dsl"
	"coffer/internal/keystore"
	"coffer/internal/kmip"
	"coffer/internal/pkcs11"
	"coffer/internal/props"
)

// keyProvider makes and opens the wrapping keys of encryption roots whose
// keylocation is a key provider (docs/design/key-providers.md), with the
// same TPM, KMIP and PKCS#11 code that protects the system secret.
type keyProvider struct{ d *Daemon }

var _ dsl.KeyProvider = keyProvider{}

func (p keyProvider) NewKey(ctx context.Context, loc string) (key, sealed []byte, err error) {
	key = make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, nil, err
	}
	switch props.KeyProvider(loc) {
	case "tpm2":
		var pcrs []int
		if pcrs, err = parsePCRs(tpmLocationPCRs(loc)); err == nil {
			sealed, err = tpmProtector{device: p.d.tpmDevice(), pcrs: pcrs}.Seal(ctx, key)
		}
	case "kmip":
		sealed, err = kmipNewKey(ctx, loc, key, p.d.keys.store)
	case "pkcs11":
		if _, err = checkPKCS11Location(loc); err == nil {
			sealed, err = pkcs11Protector{uri: loc}.Seal(ctx, key)
		}
	default:
		err = fmt.Errorf("not a key provider location")
	}
	if err != nil {
		clear(key)
		return nil, nil, err
	}
	return key, sealed, nil
}

func (p keyProvider) OpenKey(ctx context.Context, loc string, sealed []byte) ([]byte, error) {
	switch props.KeyProvider(loc) {
	case "tpm2":
		return tpmProtector{device: p.d.tpmDevice()}.Unseal(ctx, sealed)
	case "kmip":
		return (&kmipProtector{uri: loc, store: p.d.keys.store}).Unseal(ctx, sealed)
	case "pkcs11":
		if _, err := checkPKCS11Location(loc); err != nil {
			return nil, err
		}
		return pkcs11Protector{uri: loc}.Unseal(ctx, sealed)
	}
	return nil, fmt.Errorf("not a key provider location")
}

// tpmLocationPCRs is the pcrs= of tpm2:?pcrs=N,…; "" means PCR 7.
func tpmLocationPCRs(loc string) string {
	_, q, _ := strings.Cut(loc, "?")
	v, _ := url.ParseQuery(q)
	return v.Get("pcrs")
}

func checkPKCS11Location(loc string) (pkcs11.URI, error) {
	u, err := pkcs11.ParseURI(loc)
	if err != nil {
		return u, err
	}
	if len(u.PIN) > 0 && u.PINSource == "" {
		return u, errors.New("use pin-source=file:///PATH, not pin-value: the keylocation is stored in the pool")
	}
	return u, nil
}

// kmipNewKey wraps key under a key in the KMIP server: the key named by
// name= (found, or created on first use), else a new key of its own.
// A cred=NAME location authenticates with the identity kept in st.
func kmipNewKey(ctx context.Context, loc string, key []byte, st *keystore.Store) ([]byte, error) {
	kp := &kmipProtector{uri: loc, store: st}
	cfg, _, err := kp.config()
	if err != nil {
		return nil, err
	}
	defer clear(cfg.Key)
	u, _ := url.Parse(loc)
	name := u.Query().Get("name")
	c, err := kmip.Dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	var id string
	if name != "" {
		ids, err := c.Locate(ctx, name)
		if err != nil && !errors.Is(err, kmip.ErrNotFound) {
			return nil, err
		}
		if len(ids) > 0 {
			id = ids[0]
		}
	} else {
		var r [8]byte
		rand.Read(r[:])
		name = "coffer-dataset-" + hex.EncodeToString(r[:])
	}
	if id == "" {
		if id, err = c.CreateAES256(ctx, name); err != nil {
			return nil, err
		}
	}
	return c.WrapSecret(ctx, id, key)
}
