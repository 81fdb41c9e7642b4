package dsl

import (
	"context"
	"strings"
	"time"

	"coffer/internal/crypto"
	"coffer/internal/keysrc"
	"coffer/internal/props"
)

// KeyProvider makes and opens the wrapping keys of encryption roots whose
// keylocation names a key provider (tpm2:, kmip://, pkcs11:). The daemon
// implements it on top of the TPM, KMIP and PKCS#11 code it uses for the
// system secret; dsl only stores what NewKey returns as sealed.
type KeyProvider interface {
	// NewKey generates a random 32-byte wrapping key and returns it with
	// the blob that only the provider named by loc can open again.
	NewKey(ctx context.Context, loc string) (key, sealed []byte, err error)
	// OpenKey returns the wrapping key sealed by NewKey.
	OpenKey(ctx context.Context, loc string, sealed []byte) (key []byte, err error)
}

// providerTimeout bounds one call to a key provider.
const providerTimeout = 45 * time.Second

func (dp *Pool) newProviderKey(loc string) (crypto.Secret, []byte, error) {
	if dp.opts.KeyProvider == nil {
		return nil, nil, errf(CodeInvalid, "key providers are not available here (keylocation '%s')", loc)
	}
	ctx, cancel := context.WithTimeout(context.Background(), providerTimeout)
	defer cancel()
	key, sealed, err := dp.opts.KeyProvider.NewKey(ctx, loc)
	if err != nil {
		return nil, nil, errf(CodeKey, "%s", providerErr(props.KeyProvider(loc), err))
	}
	if len(key) != keysrc.WrappingKeyLen || len(sealed) == 0 {
		clear(key)
		return nil, nil, errf(CodeIO, "%s: provider returned a key of %d bytes", props.KeyProvider(loc), len(key))
	}
	return crypto.Secret(key), sealed, nil
}

func (dp *Pool) openProviderKey(loc string, sealed []byte) ([]byte, error) {
	prov := props.KeyProvider(loc)
	if dp.opts.KeyProvider == nil {
		return nil, errf(CodeInvalid, "key providers are not available here (keylocation '%s')", loc)
	}
	if len(sealed) == 0 {
		return nil, errf(CodeKey, "%s: no sealed key is stored for this encryption root", prov)
	}
	ctx, cancel := context.WithTimeout(context.Background(), providerTimeout)
	defer cancel()
	key, err := dp.opts.KeyProvider.OpenKey(ctx, loc, sealed)
	if err != nil {
		return nil, errf(CodeKey, "%s", providerErr(prov, err))
	}
	return key, nil
}

// firstLine keeps an error to one line.
func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// providerErr is a provider's error on one line, naming the provider once.
func providerErr(prov string, err error) string {
	s := firstLine(err)
	if strings.HasPrefix(s, prov+" ") || strings.HasPrefix(s, prov+":") {
		return s
	}
	return prov + ": " + s
}
