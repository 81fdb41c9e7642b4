package crypto

import (
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha512"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"
	"sync/atomic"
)

// Sizes that are part of the on-disk format.
const (
	MasterKeyLen   = 32 // dataset master key
	IVLen          = 12 // per-block IV (AEAD nonce), random
	MACLen         = 16 // per-block AEAD tag / structural-block MAC
	SaltLen        = 8  // per-block salt selecting the derived data key
	WrappingKeyLen = 32 // user key or passphrase-derived key
)

// SaltRotateAfter is the number of Seal calls after which a DatasetKey picks a
// new random salt (and so a new derived data key). See doc.go.
const SaltRotateAfter = 1 << 20

// maxCachedAEADs bounds the per-key cache of derived AEADs. Reading old data
// touches old salts; when the cache grows past this it is simply emptied.
const maxCachedAEADs = 256

// Errors returned by this package. Test with errors.Is.
var (
	// ErrAuth means a block (or bonus buffer) failed authentication: it was
	// damaged, tampered with, moved, or read with the wrong context.
	ErrAuth = errors.New("authentication failed")
	// ErrWrongKey means a wrapped master key did not unwrap: wrong key or
	// passphrase (or a damaged wrapped key).
	ErrWrongKey = errors.New("incorrect key")
	// ErrKeyWiped means the DatasetKey was used after Wipe.
	ErrKeyWiped = errors.New("crypto: dataset key has been wiped")
)

// Purpose selects which derived key encrypts a unit. The values and their
// HKDF labels are frozen.
type Purpose uint8

const (
	// PurposeData encrypts block contents: file data, volume data, ZAP and
	// directory blocks, the intent log. HKDF info "coffer v1 data <suite>".
	PurposeData Purpose = 1
	// PurposeBonus encrypts the bonus buffers of dnodes (attributes,
	// permissions, xattrs). HKDF info "coffer v1 bonus <suite>".
	PurposeBonus Purpose = 2
)

// HKDF info labels (frozen, on-disk format). The suite name is appended after
// one space, e.g. "coffer v1 data aes-256-gcm", so that a master key reused
// under another suite never yields the same sub-key.
const (
	labelData  = "coffer v1 data"  // PurposeData sub-key, salted
	labelBonus = "coffer v1 bonus" // PurposeBonus sub-key, salted
	labelMAC   = "coffer v1 mac"   // HMAC key for plaintext structural blocks, unsalted
	labelWrap  = "coffer v1 wrap"  // prefix of the wrap AD (not an HKDF label)
)

func (p Purpose) label() (string, bool) {
	switch p {
	case PurposeData:
		return labelData, true
	case PurposeBonus:
		return labelBonus, true
	}
	return "", false
}

// String returns "data", "bonus" or "purpose(N)".
func (p Purpose) String() string {
	switch p {
	case PurposeData:
		return "data"
	case PurposeBonus:
		return "bonus"
	}
	return fmt.Sprintf("purpose(%d)", uint8(p))
}

func hkdfInfo(label string, s Suite) string { return label + " " + s.String() }

// deriveKey is HKDF-SHA512(ikm=master, salt, info=label+" "+suite) of n bytes.
func deriveKey(master []byte, salt []byte, label string, s Suite, n int) (Secret, error) {
	k, err := hkdf.Key(sha512.New, master, salt, hkdfInfo(label, s), n)
	if err != nil {
		return nil, fmt.Errorf("crypto: hkdf: %w", err)
	}
	return k, nil
}

// macKeyLen is the length of the HMAC-SHA512/256 sub-key.
const macKeyLen = 32

// DatasetKey is a dataset's master key with its derived sub-keys. It is safe
// for concurrent use. It never leaves the process in plaintext: it is stored
// only as a WrappedKey.
type DatasetKey struct {
	suite     Suite
	guid      uint64
	rand      io.Reader // nil: crypto/rand; tests inject a deterministic reader
	saltLimit uint64    // Seal calls per salt (SaltRotateAfter)

	mu     sync.RWMutex // guards master, macKey against Wipe; serialises rotation
	master Secret       // nil once wiped
	macKey Secret

	cur     atomic.Pointer[saltEpoch] // nil once wiped
	cacheMu sync.RWMutex
	aeads   map[aeadKey]cipher.AEAD // derived AEADs per (purpose, salt)
	macPool sync.Pool               // *macScratch, keyed HMAC; Reset before use
}

// ivPool holds nonce scratch buffers: a nonce passed to cipher.AEAD escapes
// to the heap, so a pooled buffer keeps Seal and Open allocation-free.
var ivPool = sync.Pool{New: func() any { return new([IVLen]byte) }}

type saltEpoch struct {
	salt [SaltLen]byte
	uses atomic.Uint64
}

type aeadKey struct {
	p    Purpose
	salt [SaltLen]byte
}

// keyOptions are the inputs of newDatasetKey; zero values mean "random" and
// "defaults". Only tests set rand or saltLimit.
type keyOptions struct {
	master    []byte // MasterKeyLen bytes, or nil for random
	guid      uint64 // 0 for random
	rand      io.Reader
	saltLimit uint64
}

// NewDatasetKey creates a fresh random master key for suite s, with a random
// nonzero GUID and a random initial salt.
func NewDatasetKey(s Suite) (*DatasetKey, error) {
	return newDatasetKey(s, keyOptions{})
}

func newDatasetKey(s Suite, o keyOptions) (*DatasetKey, error) {
	if !s.Valid() || s == Off {
		return nil, fmt.Errorf("crypto: cannot create a key for encryption %v", s)
	}
	k := &DatasetKey{suite: s, guid: o.guid, rand: o.rand, saltLimit: o.saltLimit,
		aeads: make(map[aeadKey]cipher.AEAD)}
	if k.saltLimit == 0 {
		k.saltLimit = SaltRotateAfter
	}
	k.master = make(Secret, MasterKeyLen)
	if o.master != nil {
		if len(o.master) != MasterKeyLen {
			return nil, fmt.Errorf("crypto: master key must be %d bytes", MasterKeyLen)
		}
		copy(k.master, o.master)
	} else if err := readRandom(k.rand, k.master); err != nil {
		return nil, err
	}
	for k.guid == 0 {
		var b [8]byte
		if err := readRandom(k.rand, b[:]); err != nil {
			k.master.Wipe()
			return nil, err
		}
		k.guid = binary.BigEndian.Uint64(b[:])
	}
	mk, err := deriveKey(k.master, nil, labelMAC, s, macKeyLen)
	if err != nil {
		k.master.Wipe()
		return nil, err
	}
	k.macKey = mk
	if err := k.rotate(nil); err != nil {
		k.Wipe()
		return nil, err
	}
	return k, nil
}

// Suite returns the key's encryption suite.
func (k *DatasetKey) Suite() Suite { return k.suite }

// GUID returns the random identifier of the master key. It is stored in clear
// beside the wrapped key, survives raw send/receive, and the engine binds it
// into every block's AD.
func (k *DatasetKey) GUID() uint64 { return k.guid }

// String describes the key without revealing key material.
func (k *DatasetKey) String() string {
	return fmt.Sprintf("DatasetKey(%v, guid=%016x)", k.suite, k.guid)
}

// GoString implements fmt.GoStringer.
func (k *DatasetKey) GoString() string { return k.String() }

// Format implements fmt.Formatter: every verb prints String().
func (k *DatasetKey) Format(f fmt.State, _ rune) { io.WriteString(f, k.String()) }

// Wipe zeroes the master and MAC keys and drops the derived keys. Seal, Open
// and Wrap then fail with ErrKeyWiped; MAC panics. (Expanded AES key
// schedules held inside crypto/cipher objects cannot be zeroed from outside;
// they become garbage.)
func (k *DatasetKey) Wipe() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.master.Wipe()
	k.macKey.Wipe()
	k.master, k.macKey = nil, nil
	k.cur.Store(nil)
	k.cacheMu.Lock()
	clear(k.aeads)
	k.cacheMu.Unlock()
}

// rotate installs a new random salt unless another goroutine already replaced
// old.
func (k *DatasetKey) rotate(old *saltEpoch) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.master == nil {
		return ErrKeyWiped
	}
	if k.cur.Load() != old {
		return nil
	}
	e := new(saltEpoch)
	if err := readRandom(k.rand, e.salt[:]); err != nil {
		return err
	}
	k.cur.Store(e)
	return nil
}

// aead returns the cached AEAD for (p, salt), deriving it on first use.
func (k *DatasetKey) aead(p Purpose, salt [SaltLen]byte) (cipher.AEAD, error) {
	ck := aeadKey{p, salt}
	k.cacheMu.RLock()
	a, ok := k.aeads[ck]
	k.cacheMu.RUnlock()
	if ok {
		return a, nil
	}
	return k.deriveAEAD(ck)
}

// deriveAEAD is the cache-miss path of aead (a separate function so that the
// fast path does not move its arguments to the heap).
func (k *DatasetKey) deriveAEAD(ck aeadKey) (cipher.AEAD, error) {
	label, ok := ck.p.label()
	if !ok {
		return nil, fmt.Errorf("crypto: invalid purpose %v", ck.p)
	}
	salt := ck.salt
	k.mu.RLock()
	if k.master == nil {
		k.mu.RUnlock()
		return nil, ErrKeyWiped
	}
	key, err := deriveKey(k.master, salt[:], label, k.suite, k.suite.KeyLen())
	k.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	a, err := newAEAD(k.suite, key)
	key.Wipe()
	if err != nil {
		return nil, err
	}
	k.cacheMu.Lock()
	defer k.cacheMu.Unlock()
	if k.cur.Load() == nil { // wiped while deriving: Wipe already emptied the cache
		return nil, ErrKeyWiped
	}
	if prev, ok := k.aeads[ck]; ok {
		return prev, nil
	}
	if len(k.aeads) >= maxCachedAEADs {
		clear(k.aeads)
	}
	k.aeads[ck] = a
	return a, nil
}

// sealAEAD counts one Seal against the current salt, rotating it when used
// up, and returns the AEAD and salt to use.
func (k *DatasetKey) sealAEAD(p Purpose) (cipher.AEAD, [SaltLen]byte, error) {
	for {
		e := k.cur.Load()
		if e == nil {
			return nil, [SaltLen]byte{}, ErrKeyWiped
		}
		if e.uses.Add(1) <= k.saltLimit {
			a, err := k.aead(p, e.salt)
			return a, e.salt, err
		}
		if err := k.rotate(e); err != nil {
			return nil, [SaltLen]byte{}, err
		}
	}
}

// MaxBlockSize returns the largest plaintext Seal accepts for suite s: 16 MiB
// - 1 for CCM suites (CCM with a 12-byte nonce has a 3-byte length field),
// and 1 GiB for GCM suites (a sanity bound; GCM allows ~64 GiB).
func MaxBlockSize(s Suite) int {
	r, _ := s.info()
	switch r.mode {
	case modeCCM:
		return 1<<24 - 1
	case modeGCM:
		return 1 << 30
	}
	return 0
}

// Seal encrypts one block. It returns ciphertext of the same length as
// plaintext; the AEAD tag is returned separately as mac (it is stored in the
// block pointer). iv is fresh from crypto/rand (never all zero) and salt is
// the key's current salt; both must be stored with the block. ad is the
// caller's associated data, which must bind the block to its context.
func (k *DatasetKey) Seal(p Purpose, plaintext, ad []byte) (ct []byte, iv [IVLen]byte, salt [SaltLen]byte, mac [MACLen]byte, err error) {
	return k.SealTo(make([]byte, 0, len(plaintext)+MACLen), p, plaintext, ad)
}

// SealTo is Seal appending the ciphertext to dst: out = append(dst, ct...).
// As with cipher.AEAD, plaintext may be exactly dst[len(dst):] (in place) but
// must not otherwise overlap it. The MACLen bytes after out (within dst's
// capacity, if it has room) are scratch space and are overwritten.
func (k *DatasetKey) SealTo(dst []byte, p Purpose, plaintext, ad []byte) (out []byte, iv [IVLen]byte, salt [SaltLen]byte, mac [MACLen]byte, err error) {
	if len(plaintext) > MaxBlockSize(k.suite) {
		err = fmt.Errorf("crypto: block of %d bytes exceeds %v limit of %d", len(plaintext), k.suite, MaxBlockSize(k.suite))
		return
	}
	a, salt, err := k.sealAEAD(p)
	if err != nil {
		return nil, iv, salt, mac, err
	}
	ivb := ivPool.Get().(*[IVLen]byte)
	defer ivPool.Put(ivb)
	if err = readRandom(k.rand, ivb[:]); err != nil {
		return nil, iv, salt, mac, err
	}
	if allZero(ivb[:]) {
		err = errors.New("crypto: random source returned an all-zero IV")
		return nil, iv, salt, mac, err
	}
	iv = *ivb
	ret := a.Seal(dst, ivb[:], plaintext, ad)
	n := len(ret) - MACLen
	copy(mac[:], ret[n:])
	return ret[:n], iv, salt, mac, nil
}

// Open authenticates and decrypts one block sealed by Seal. Any mismatch —
// ciphertext, mac, iv, salt, purpose, AD, or key — gives ErrAuth and no
// plaintext.
func (k *DatasetKey) Open(p Purpose, ct []byte, iv [IVLen]byte, salt [SaltLen]byte, mac [MACLen]byte, ad []byte) ([]byte, error) {
	return k.OpenTo(nil, p, ct, iv, salt, mac, ad)
}

// OpenTo is Open appending the plaintext to dst. ct may be exactly
// dst[len(dst):] (in place). The MACLen bytes after the result (within dst's
// capacity, if it has room) are scratch space and are overwritten.
func (k *DatasetKey) OpenTo(dst []byte, p Purpose, ct []byte, iv [IVLen]byte, salt [SaltLen]byte, mac [MACLen]byte, ad []byte) ([]byte, error) {
	if allZero(iv[:]) || len(ct) > MaxBlockSize(k.suite) {
		return nil, ErrAuth
	}
	a, err := k.aead(p, salt)
	if err != nil {
		return nil, err
	}
	n := len(ct)
	ret, buf := sliceForAppend(dst, n+MACLen)
	copy(buf, ct) // memmove: fine for any overlap
	copy(buf[n:], mac[:])
	ivb := ivPool.Get().(*[IVLen]byte)
	defer ivPool.Put(ivb)
	*ivb = iv
	if _, err := a.Open(buf[:0], ivb[:], buf, ad); err != nil {
		return nil, ErrAuth
	}
	return ret[:len(dst)+n], nil
}

// MAC returns HMAC-SHA512/256, truncated to MACLen bytes, of the parts in
// data, keyed with the unsalted "coffer v1 mac" sub-key. Each part is framed
// as its length (8 bytes big endian) followed by its bytes, so part
// boundaries are authenticated: MAC(a, b) != MAC(a||b). It is used for
// plaintext structural blocks (indirect and dnode blocks). MAC panics if the
// key has been wiped (using a wiped key is a programmer error).
func (k *DatasetKey) MAC(data ...[]byte) [MACLen]byte {
	out, ok := k.mac(data)
	if !ok {
		panic("crypto: MAC with a wiped DatasetKey")
	}
	return out
}

// VerifyMAC reports, in constant time, whether mac is MAC(data...). It
// returns false for a wiped key instead of panicking.
func (k *DatasetKey) VerifyMAC(mac [MACLen]byte, data ...[]byte) bool {
	want, ok := k.mac(data)
	return ok && constantTimeEqual(want[:], mac[:])
}

// macScratch is a keyed HMAC with buffers that would otherwise escape.
type macScratch struct {
	h   hash.Hash
	lb  [8]byte
	sum [sha512.Size256]byte
}

// mac computes MAC; ok is false if the key is wiped.
func (k *DatasetKey) mac(data [][]byte) (out [MACLen]byte, ok bool) {
	if k.cur.Load() == nil {
		return out, false
	}
	m, _ := k.macPool.Get().(*macScratch)
	if m == nil {
		k.mu.RLock()
		if k.macKey == nil {
			k.mu.RUnlock()
			return out, false
		}
		m = &macScratch{h: hmac.New(sha512.New512_256, k.macKey)}
		k.mu.RUnlock()
	} else {
		m.h.Reset()
	}
	for _, d := range data {
		binary.BigEndian.PutUint64(m.lb[:], uint64(len(d)))
		m.h.Write(m.lb[:])
		m.h.Write(d)
	}
	m.h.Sum(m.sum[:0])
	copy(out[:], m.sum[:])
	clear(m.sum[:])
	if k.cur.Load() == nil { // wiped meanwhile: report it, do not recycle m
		return [MACLen]byte{}, false
	}
	k.macPool.Put(m)
	return out, true
}
