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
// itself is not rewritten.
func (s *Store) Reprotect(ctx context.Context, p Protector) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secret == nil {
		return ErrLocked
	}
	sealed, err := p.Seal(ctx, s.secret)
	if err != nil {
		return fmt.Errorf("protect the system secret with %s: %w", p.Kind(), err)
	}
	s.hdr = header{Version: 1, Protection: p.Kind(), Params: p.Params(), Sealed: sealed}
	return s.writeHeader()
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
