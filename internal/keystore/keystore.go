// Package keystore is the daemon's own store of secrets: the keys of
// key-format datasets (so that they unlock at start) and credentials (S3
// keys, ...). It is one file sealed with AES-256-GCM under a key derived
// from the 32-byte system secret; the system secret itself is protected by a
// Protector: a TPM seal, a KEK in a KMIP server or PKCS#11 token, an admin
// passphrase, or a plain file (allowed, loudly warned).
//
// Invariants: nothing on disk holds a usable key without the protector;
// entries are keyed by dataset GUID, not name, so renames do not break
// them; every write is atomic (temp file, fsync, rename, fsync dir).
package keystore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"coffer/internal/atomicfile"
)

// Protector protects the system secret.
type Protector interface {
	Kind() string // file, passphrase, tpm2, kmip, pkcs11
	// Seal protects secret and returns what is stored on the host.
	Seal(ctx context.Context, secret []byte) ([]byte, error)
	// Unseal recovers the secret from what Seal returned.
	Unseal(ctx context.Context, blob []byte) ([]byte, error)
	// Params are the non-secret settings recorded beside the blob.
	Params() map[string]string
}

// Errors.
var (
	ErrLocked      = errors.New("keystore is locked")
	ErrWrongSecret = errors.New("the system secret does not open the keystore")
)

// header is <dir>/secret.json: how the system secret is protected.
type header struct {
	Version    int               `json:"version"`
	Protection string            `json:"protection"`
	Params     map[string]string `json:"params,omitempty"`
	Sealed     []byte            `json:"sealed"`
	// Cache is an optional second seal of the same secret (a TPM seal
	// kept beside a KMIP or PKCS#11 protection), used at start when the
	// key server does not answer (key persistence).
	Cache       []byte            `json:"cache,omitempty"`
	CacheKind   string            `json:"cache_kind,omitempty"`
	CacheParams map[string]string `json:"cache_params,omitempty"`
}

// Entry is one stored secret.
type Entry struct {
	Kind string `json:"kind"` // dataset-key, credential
	// Name is informational (the dataset's name when stored); lookups go
	// by the map key (dataset GUID, credential name).
	Name   string `json:"name,omitempty"`
	Format string `json:"format,omitempty"` // raw, hex
	Secret []byte `json:"secret"`
}

type contents struct {
	Version int               `json:"version"`
	Entries map[string]*Entry `json:"entries"`
}

// Store is an open keystore.
type Store struct {
	dir    string
	mu     sync.Mutex
	secret []byte // nil while locked
	hdr    header
	c      contents
	status string // why it is locked, when it is
	note   string // how it was unlocked, when not by its protection
}

// Open reads the keystore in dir. It does not unseal: call Unlock.
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	s := &Store{dir: dir, c: contents{Version: 1, Entries: map[string]*Entry{}}}
	b, err := os.ReadFile(s.path("secret.json"))
	if errors.Is(err, os.ErrNotExist) {
		s.status = "not initialized"
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, &s.hdr); err != nil || s.hdr.Version != 1 {
		return nil, fmt.Errorf("%s: unreadable keystore header", s.path("secret.json"))
	}
	s.status = "locked"
	return s, nil
}

func (s *Store) path(name string) string { return filepath.Join(s.dir, name) }

// Initialized reports whether a system secret exists.
func (s *Store) Initialized() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hdr.Version != 0
}

// Protection is the protector kind and its parameters.
func (s *Store) Protection() (string, map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hdr.Protection, s.hdr.Params
}

// Status says "unlocked", "locked", or why it waits.
func (s *Store) Status() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secret != nil {
		return "unlocked"
	}
	return s.status
}

// Init creates a new system secret protected by p and an empty store.
func (s *Store) Init(ctx context.Context, p Protector) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hdr.Version != 0 {
		return errors.New("keystore already initialized")
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	sealed, err := p.Seal(ctx, secret)
	if err != nil {
		clear(secret)
		return fmt.Errorf("protect the system secret with %s: %w", p.Kind(), err)
	}
	s.secret = secret
	s.hdr = header{Version: 1, Protection: p.Kind(), Params: p.Params(), Sealed: sealed}
	if err := s.saveLocked(); err != nil {
		return err
	}
	return s.writeHeader()
}

// Unlock unseals the system secret with p and reads the store.
func (s *Store) Unlock(ctx context.Context, p Protector) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.hdr.Version == 0 {
		return errors.New("keystore not initialized")
	}
	if s.secret != nil {
		return nil
	}
	secret, err := p.Unseal(ctx, s.hdr.Sealed)
	if err != nil {
		s.status = fmt.Sprintf("waiting for the system secret (%s): %v", s.hdr.Protection, err)
		return err
	}
	c, err := s.load(secret)
	if err != nil {
		clear(secret)
		s.status = err.Error()
		return err
	}
	s.secret, s.c = secret, c
	return nil
}

// Reprotect seals the same system secret with another protector; the store
// itself is not rewritten. Any cached seal is dropped.
func (s *Store) Reprotect(ctx context.Context, p Protector) error {
	return s.ReprotectCached(ctx, p, nil)
}

// ReprotectCached is Reprotect that also keeps a cached seal made with c
// (nil: none). Both seals are made before anything is written.
func (s *Store) ReprotectCached(ctx context.Context, p, c Protector) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secret == nil {
		return ErrLocked
	}
	sealed, err := p.Seal(ctx, s.secret)
	if err != nil {
		return fmt.Errorf("protect the system secret with %s: %w", p.Kind(), err)
	}
	h := header{Version: 1, Protection: p.Kind(), Params: p.Params(), Sealed: sealed}
	if c != nil {
		if h.Cache, err = c.Seal(ctx, s.secret); err != nil {
			return fmt.Errorf("cache the system secret with %s: %w", c.Kind(), err)
		}
		h.CacheKind, h.CacheParams = c.Kind(), c.Params()
	}
	s.hdr, s.note = h, ""
	return s.writeHeader()
}

// DropCache removes the cached seal; it reports whether there was one.
func (s *Store) DropCache() (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hdr.Cache) == 0 {
		return false, nil
	}
	s.hdr.Cache, s.hdr.CacheKind, s.hdr.CacheParams = nil, "", nil
	return true, s.writeHeader()
}

// Cache is the kind and parameters of the cached seal ("" when none).
func (s *Store) Cache() (string, map[string]string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.hdr.Cache) == 0 {
		return "", nil
	}
	return s.hdr.CacheKind, s.hdr.CacheParams
}

// Note says how an open keystore was unlocked when it was not by its
// protection (from the cache, and why); "" otherwise.
func (s *Store) Note() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secret == nil {
		return ""
	}
	return s.note
}

// UnlockOrCache unseals with p; when p fails and there is a cached seal,
// with c. The status (Status or Note) says which worked and why the other
// did not. The error is p's when both fail.
func (s *Store) UnlockOrCache(ctx context.Context, p, c Protector) error {
	err := s.Unlock(ctx, p)
	if err == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	first := fmt.Sprintf("%s: %v", s.hdr.Protection, oneLine(err))
	if len(s.hdr.Cache) == 0 {
		s.status = fmt.Sprintf("waiting for the system secret (%s); no cached key", first)
		return err
	}
	secret, cerr := c.Unseal(ctx, s.hdr.Cache)
	if cerr != nil {
		s.status = fmt.Sprintf("waiting for the system secret (%s); the %s cache refused: %v", first, s.hdr.CacheKind, oneLine(cerr))
		return err
	}
	contents, lerr := s.load(secret)
	if lerr != nil {
		clear(secret)
		s.status = lerr.Error()
		return lerr
	}
	s.secret, s.c = secret, contents
	s.note = fmt.Sprintf("unlocked from the %s cache (%s)", s.hdr.CacheKind, first)
	return nil
}

func oneLine(err error) string {
	l, _, _ := strings.Cut(err.Error(), "\n")
	return l
}

func (s *Store) key(secret []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, secret, nil, "coffer v1 keystore", 32)
}

func (s *Store) load(secret []byte) (contents, error) {
	c := contents{Version: 1, Entries: map[string]*Entry{}}
	b, err := os.ReadFile(s.path("keystore.bin"))
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	k, err := s.key(secret)
	if err != nil {
		return c, err
	}
	defer clear(k)
	blk, _ := aes.NewCipher(k)
	g, _ := cipher.NewGCM(blk)
	if len(b) < g.NonceSize()+g.Overhead() {
		return c, errors.New("keystore file is damaged (too short)")
	}
	pt, err := g.Open(nil, b[:g.NonceSize()], b[g.NonceSize():], []byte("coffer keystore v1"))
	if err != nil {
		return c, ErrWrongSecret
	}
	defer clear(pt)
	if err := json.Unmarshal(pt, &c); err != nil || c.Version != 1 {
		return c, errors.New("keystore file is damaged")
	}
	if c.Entries == nil {
		c.Entries = map[string]*Entry{}
	}
	return c, nil
}

func (s *Store) saveLocked() error {
	if s.secret == nil {
		return ErrLocked
	}
	pt, err := json.Marshal(s.c)
	if err != nil {
		return err
	}
	defer clear(pt)
	k, err := s.key(s.secret)
	if err != nil {
		return err
	}
	defer clear(k)
	blk, _ := aes.NewCipher(k)
	g, _ := cipher.NewGCM(blk)
	nonce := make([]byte, g.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return err
	}
	return writeAtomic(s.path("keystore.bin"), g.Seal(nonce, nonce, pt, []byte("coffer keystore v1")))
}

func (s *Store) writeHeader() error {
	b, err := json.MarshalIndent(s.hdr, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(s.path("secret.json"), b)
}

func writeAtomic(path string, b []byte) error { return atomicfile.WriteFile(path, b) }

// Put stores or replaces an entry.
func (s *Store) Put(id string, e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secret == nil {
		return ErrLocked
	}
	e.Secret = append([]byte(nil), e.Secret...)
	s.c.Entries[id] = &e
	return s.saveLocked()
}

// Get returns a copy of an entry.
func (s *Store) Get(id string) (Entry, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.c.Entries[id]
	if !ok || s.secret == nil {
		return Entry{}, false
	}
	c := *e
	c.Secret = append([]byte(nil), e.Secret...)
	return c, true
}

// Delete removes an entry.
func (s *Store) Delete(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secret == nil {
		return ErrLocked
	}
	if _, ok := s.c.Entries[id]; !ok {
		return nil
	}
	delete(s.c.Entries, id)
	return s.saveLocked()
}

// Count is the number of entries (0 while locked).
func (s *Store) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.c.Entries)
}

// Lock forgets the system secret and the entries.
func (s *Store) Lock() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.secret)
	s.secret = nil
	for _, e := range s.c.Entries {
		clear(e.Secret)
	}
	s.c.Entries = map[string]*Entry{}
	s.status = "locked"
}
