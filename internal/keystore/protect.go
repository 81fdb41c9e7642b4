package keystore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"

	"coffer/internal/crypto"
)

// FileProtector keeps the system secret in a plain file beside the store.
// Allowed, and loudly warned in status: whoever reads the disk reads it.
type FileProtector struct{}

func (FileProtector) Kind() string              { return "file" }
func (FileProtector) Params() map[string]string { return nil }
func (FileProtector) Seal(_ context.Context, secret []byte) ([]byte, error) {
	return append([]byte(nil), secret...), nil
}
func (FileProtector) Unseal(_ context.Context, blob []byte) ([]byte, error) {
	if len(blob) != 32 {
		return nil, errors.New("stored system secret is damaged")
	}
	return append([]byte(nil), blob...), nil
}

// PassphraseProtector wraps the system secret with a key derived from an
// admin passphrase (PBKDF2-HMAC-SHA512, or Argon2id), typed at start.
type PassphraseProtector struct {
	Passphrase []byte
	Iters      uint32 // 0: default
}

func (PassphraseProtector) Kind() string              { return "passphrase" }
func (PassphraseProtector) Params() map[string]string { return nil }

type passBlob struct {
	KDF   uint8  `json:"kdf"`
	Salt  []byte `json:"salt"`
	Iters uint32 `json:"iters"`
	Nonce []byte `json:"nonce"`
	CT    []byte `json:"ct"`
}

func (p PassphraseProtector) Seal(_ context.Context, secret []byte) ([]byte, error) {
	params, err := crypto.NewKDFParams(crypto.KDFPBKDF2, p.Iters)
	if err != nil {
		return nil, err
	}
	k, err := crypto.DeriveWrappingKey(p.Passphrase, params)
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	blk, _ := aes.NewCipher(k)
	g, _ := cipher.NewGCM(blk)
	nonce := make([]byte, g.NonceSize())
	rand.Read(nonce)
	return json.Marshal(passBlob{KDF: uint8(params.KDF), Salt: params.Salt, Iters: params.Iters, Nonce: nonce,
		CT: g.Seal(nil, nonce, secret, []byte("coffer system secret"))})
}

func (p PassphraseProtector) Unseal(_ context.Context, blob []byte) ([]byte, error) {
	var b passBlob
	if err := json.Unmarshal(blob, &b); err != nil {
		return nil, errors.New("stored system secret is damaged")
	}
	if len(p.Passphrase) == 0 {
		return nil, errors.New("the admin passphrase is needed (coffer keystore unlock)")
	}
	k, err := crypto.DeriveWrappingKey(p.Passphrase, crypto.KDFParams{KDF: crypto.KDF(b.KDF), Salt: b.Salt, Iters: b.Iters})
	if err != nil {
		return nil, err
	}
	defer k.Wipe()
	blk, _ := aes.NewCipher(k)
	g, _ := cipher.NewGCM(blk)
	if len(b.Nonce) != g.NonceSize() {
		return nil, errors.New("stored system secret is damaged")
	}
	pt, err := g.Open(nil, b.Nonce, b.CT, []byte("coffer system secret"))
	if err != nil {
		return nil, fmt.Errorf("incorrect admin passphrase")
	}
	return pt, nil
}
