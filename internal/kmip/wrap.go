package kmip

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
)

// Errors of UnwrapSecret, matched with errors.Is.
var (
	// ErrWrongKey: the blob was wrapped under another key (another id, or
	// the same id naming a different key, e.g. on a rebuilt server).
	ErrWrongKey = errors.New("secret was wrapped under a different key")
	// ErrDamaged: the blob is truncated, corrupted or tampered with.
	ErrDamaged = errors.New("wrapped secret is damaged")
)

// MaxSecret bounds what WrapSecret accepts: it is for keys, not data.
const MaxSecret = 4096

// Wrapped-blob format, version 1 (all integers big-endian):
//
//	"CKMW"  magic                              4
//	0x01    format version                     1
//	idLen   u16                                2
//	id      key Unique Identifier              idLen
//	kcv     AES-ECB_K(0^128)[:8]               8
//	iv      AES-CBC IV                         16
//	ctLen   u32                                4
//	ct      AES-256-CBC_K(secret), PKCS#5      ctLen
//	mac     HMAC-SHA256(macKey, all above)     32
//	sum     SHA-256(all above)[:16]            16
//
// macKey = AES-ECB_K("coffer kmip mac1") || AES-ECB_K("coffer kmip mac2").
// kcv and macKey come from one server-side Encrypt of three fixed blocks,
// so the KEK never leaves the server. sum tells accidental damage from a
// wrong key; kcv tells a wrong key before anything is decrypted; mac
// authenticates the rest (CBC alone would not).
const (
	blobMagic   = "CKMW"
	blobVersion = 1
	kcvLen      = 8
	ivLen       = 16
	macLen      = 32
	sumLen      = 16
)

var deriveBlocks = []byte("\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00" +
	"coffer kmip mac1" + "coffer kmip mac2")

// keyOps is the AES the blob format needs, done either in the server
// (KMIP Encrypt/Decrypt) or locally with key material from Get.
type keyOps interface {
	ecb(ctx context.Context, blocks []byte) ([]byte, error)
	cbcEncrypt(ctx context.Context, pt, iv []byte) ([]byte, error)
	cbcDecrypt(ctx context.Context, ct, iv []byte) ([]byte, error)
}

type serverOps struct {
	c  *Client
	id string
}

func (s serverOps) ecb(ctx context.Context, b []byte) ([]byte, error) {
	return s.c.encryptECB(ctx, s.id, b)
}

func (s serverOps) cbcEncrypt(ctx context.Context, pt, iv []byte) ([]byte, error) {
	ct, _, err := s.c.Encrypt(ctx, s.id, pt, iv)
	return ct, err
}

func (s serverOps) cbcDecrypt(ctx context.Context, ct, iv []byte) ([]byte, error) {
	return s.c.Decrypt(ctx, s.id, ct, iv)
}

// localOps does the same AES locally. It is used when the server predates
// KMIP 1.2 (no Encrypt/Decrypt): the key then leaves the server.
type localOps struct{ block cipher.Block }

func newLocalOps(key []byte) (localOps, error) {
	if len(key) != 32 {
		return localOps{}, fmt.Errorf("key is %d bytes, want 32", len(key))
	}
	b, err := aes.NewCipher(key)
	return localOps{b}, err
}

func (l localOps) ecb(_ context.Context, b []byte) ([]byte, error) {
	out := make([]byte, len(b))
	for i := 0; i+16 <= len(b); i += 16 {
		l.block.Encrypt(out[i:i+16], b[i:i+16])
	}
	return out, nil
}

func (l localOps) cbcEncrypt(_ context.Context, pt, iv []byte) ([]byte, error) {
	n := 16 - len(pt)%16
	buf := append(append([]byte(nil), pt...), bytes.Repeat([]byte{byte(n)}, n)...)
	cipher.NewCBCEncrypter(l.block, iv).CryptBlocks(buf, buf)
	return buf, nil
}

func (l localOps) cbcDecrypt(_ context.Context, ct, iv []byte) ([]byte, error) {
	if len(ct) == 0 || len(ct)%16 != 0 {
		return nil, errors.New("ciphertext is not whole blocks")
	}
	buf := append([]byte(nil), ct...)
	cipher.NewCBCDecrypter(l.block, iv).CryptBlocks(buf, buf)
	n := int(buf[len(buf)-1])
	if n == 0 || n > 16 || subtle.ConstantTimeCompare(buf[len(buf)-n:], bytes.Repeat([]byte{byte(n)}, n)) != 1 {
		return nil, errors.New("bad padding")
	}
	return buf[:len(buf)-n], nil
}

// ops picks server-side crypto when the negotiated version has Encrypt.
func (c *Client) ops(ctx context.Context, id string) (keyOps, error) {
	if !c.Version().less(Version{1, 2}) {
		return serverOps{c, id}, nil
	}
	key, err := c.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	l, err := newLocalOps(key)
	wipe(key)
	if err != nil {
		return nil, fmt.Errorf("kmip %s: key %q: %w", c.cfg.Addr, id, err)
	}
	return l, nil
}

func derive(ctx context.Context, o keyOps) (kcv, macKey []byte, err error) {
	out, err := o.ecb(ctx, deriveBlocks)
	if err != nil {
		return nil, nil, err
	}
	return out[:kcvLen], out[16:48], nil
}

func wipe(b []byte) {
	for i := range b {
		b[i] = 0
	}
}

// WrapSecret encrypts a small secret (a system secret, a dataset key) under
// the server-held key id and returns a self-describing blob that the host
// may store: it carries the key id, never the key.
func (c *Client) WrapSecret(ctx context.Context, id string, secret []byte) ([]byte, error) {
	o, err := c.ops(ctx, id)
	if err != nil {
		return nil, err
	}
	b, err := wrapWith(ctx, o, id, secret)
	if err != nil {
		return nil, c.wrapErr("wrap", id, err)
	}
	return b, nil
}

// UnwrapSecret recovers a secret wrapped by WrapSecret under the key id.
// It fails with ErrWrongKey when the blob names another key or the key id
// now names a different key, and with ErrDamaged when the blob is corrupt.
func (c *Client) UnwrapSecret(ctx context.Context, id string, b []byte) ([]byte, error) {
	if _, err := parseBlob(b); err != nil { // no round trip for junk
		return nil, c.wrapErr("unwrap", id, err)
	}
	o, err := c.ops(ctx, id)
	if err != nil {
		return nil, err
	}
	secret, err := unwrapWith(ctx, o, id, b)
	if err != nil {
		return nil, c.wrapErr("unwrap", id, err)
	}
	return secret, nil
}

// wrapErr prefixes local errors with the server; server errors already
// carry it.
func (c *Client) wrapErr(op, id string, err error) error {
	var kerr *Error
	if errors.As(err, &kerr) || errors.Is(err, ErrUnreachable) || errors.Is(err, ErrProtocol) {
		return err
	}
	return fmt.Errorf("kmip %s: %s with key %q: %w", c.cfg.Addr, op, id, err)
}

func wrapWith(ctx context.Context, o keyOps, id string, secret []byte) ([]byte, error) {
	if len(secret) == 0 || len(secret) > MaxSecret {
		return nil, fmt.Errorf("secret of %d bytes (want 1..%d)", len(secret), MaxSecret)
	}
	if len(id) == 0 || len(id) > 0xFFFF {
		return nil, fmt.Errorf("bad key id length %d", len(id))
	}
	kcv, macKey, err := derive(ctx, o)
	if err != nil {
		return nil, err
	}
	defer wipe(macKey)
	iv := make([]byte, ivLen)
	for allZero(iv) {
		if _, err := rand.Read(iv); err != nil {
			return nil, err
		}
	}
	ct, err := o.cbcEncrypt(ctx, secret, iv)
	if err != nil {
		return nil, err
	}
	b := []byte(blobMagic)
	b = append(b, blobVersion)
	b = binary.BigEndian.AppendUint16(b, uint16(len(id)))
	b = append(b, id...)
	b = append(b, kcv...)
	b = append(b, iv...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ct)))
	b = append(b, ct...)
	m := hmac.New(sha256.New, macKey)
	m.Write(b)
	b = m.Sum(b)
	sum := sha256.Sum256(b)
	return append(b, sum[:sumLen]...), nil
}

func unwrapWith(ctx context.Context, o keyOps, id string, b []byte) ([]byte, error) {
	p, err := parseBlob(b)
	if err != nil {
		return nil, err
	}
	if p.id != id {
		return nil, fmt.Errorf("%w (the blob names key %q)", ErrWrongKey, p.id)
	}
	kcv, macKey, err := derive(ctx, o)
	if err != nil {
		return nil, err
	}
	defer wipe(macKey)
	if subtle.ConstantTimeCompare(kcv, p.kcv) != 1 {
		return nil, fmt.Errorf("%w (key check value differs)", ErrWrongKey)
	}
	m := hmac.New(sha256.New, macKey)
	m.Write(p.body)
	if !hmac.Equal(m.Sum(nil), p.mac) {
		return nil, fmt.Errorf("%w (authentication failed)", ErrDamaged)
	}
	secret, err := o.cbcDecrypt(ctx, p.ct, p.iv)
	if err != nil {
		var kerr *Error
		if errors.As(err, &kerr) && kerr.Reason != ReasonCryptographicFailure {
			return nil, err
		}
		return nil, fmt.Errorf("%w (decryption failed)", ErrDamaged)
	}
	return secret, nil
}

// blob is a parsed wrapped secret.
type blob struct {
	id      string
	kcv, iv []byte
	ct      []byte
	body    []byte // everything the MAC covers
	mac     []byte
}

// parseBlob checks structure and checksum; it needs no key.
func parseBlob(b []byte) (blob, error) {
	if len(b) < sumLen {
		return blob{}, ErrDamaged
	}
	sum := sha256.Sum256(b[:len(b)-sumLen])
	if subtle.ConstantTimeCompare(sum[:sumLen], b[len(b)-sumLen:]) != 1 {
		return blob{}, fmt.Errorf("%w (checksum mismatch)", ErrDamaged)
	}
	if len(b) < 7 || string(b[:4]) != blobMagic {
		return blob{}, fmt.Errorf("%w (not a coffer KMIP blob)", ErrDamaged)
	}
	if b[4] != blobVersion {
		return blob{}, fmt.Errorf("%w (unknown format version %d)", ErrDamaged, b[4])
	}
	var p blob
	rest := b[5 : len(b)-sumLen]
	take := func(n int) []byte {
		if n < 0 || n > len(rest) {
			return nil
		}
		v := rest[:n]
		rest = rest[n:]
		return v
	}
	l := take(2)
	if l == nil {
		return blob{}, ErrDamaged
	}
	id := take(int(binary.BigEndian.Uint16(l)))
	p.kcv = take(kcvLen)
	p.iv = take(ivLen)
	cl := take(4)
	if id == nil || p.kcv == nil || p.iv == nil || cl == nil || len(rest) < macLen {
		return blob{}, fmt.Errorf("%w (truncated)", ErrDamaged)
	}
	n := binary.BigEndian.Uint32(cl)
	if n == 0 || n%16 != 0 || uint64(n) != uint64(len(rest)-macLen) {
		return blob{}, fmt.Errorf("%w (bad ciphertext length)", ErrDamaged)
	}
	p.id = string(id)
	p.ct = take(int(n))
	p.mac = take(macLen)
	p.body = b[:len(b)-sumLen-macLen]
	return p, nil
}

// BlobKeyID returns the key id recorded in a wrapped blob, so the host
// knows which KEK to ask for.
func BlobKeyID(b []byte) (string, error) {
	p, err := parseBlob(b)
	return p.id, err
}
