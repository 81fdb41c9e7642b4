package remote

import (
	"coffer/internal/atomicfile"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"

	"coffer/internal/crypto"
)

// Remote is one configured remote as stored in remotes.json. SecretSealed
// is the secret key sealed under the system secret (see Registry).
type Remote struct {
	Name string `json:"name"`
	Location
	AccessKey    string `json:"access_key"`
	SecretSealed []byte `json:"secret_sealed"`
}

// registryFile is <state>/remotes.json.
type registryFile struct {
	Version int      `json:"version"`
	Remotes []Remote `json:"remotes"`
}

// Files in the daemon's state directory.
const (
	RegistryFile = "remotes.json"
	// LegacyKeyFile held the sealing key in plain before it moved into
	// the system keystore; the daemon migrates it (MigrateLegacyKey).
	LegacyKeyFile = "remote-secret.key"
)

// SealingKey returns the 32-byte key that seals the remotes' secret keys,
// making it first when create is set and there is none. The daemon keeps
// it in the system keystore; the caller wipes the result.
type SealingKey func(create bool) (crypto.Secret, error)

const (
	sealVersion = 1
	sealLabel   = "coffer remote secret v1\x00"
)

// ErrNotFound means there is no remote of that name.
var ErrNotFound = errors.New("no such remote")

// ErrExists means a remote of that name exists.
var ErrExists = errors.New("remote already exists")

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$`)

// ValidName checks a remote's name.
func ValidName(name string) error {
	if !nameRE.MatchString(name) {
		return fmt.Errorf("invalid remote name '%s': use up to 64 letters, digits, '_', '.', ':' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Registry is the daemon's list of remotes in <state>/remotes.json, with
// each secret key sealed with AES-256-GCM under the key that SealingKey
// returns (kept in the system keystore). The associated data binds a
// sealed secret to its remote's name, so sealed secrets cannot be swapped
// between remotes.
type Registry struct {
	dir string
	key SealingKey
	mu  sync.Mutex
}

// OpenRegistry returns the registry kept in the state directory dir, its
// secrets sealed under key.
func OpenRegistry(dir string, key SealingKey) *Registry { return &Registry{dir: dir, key: key} }

// List returns the remotes sorted by name.
func (r *Registry) List() ([]Remote, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := r.read()
	return f.Remotes, err
}

// Get returns one remote.
func (r *Registry) Get(name string) (Remote, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := r.read()
	if err != nil {
		return Remote{}, err
	}
	for _, rm := range f.Remotes {
		if rm.Name == name {
			return rm, nil
		}
	}
	return Remote{}, ErrNotFound
}

// Add stores a new remote with its secret key (sealed here).
func (r *Registry) Add(rm Remote, secret crypto.Secret) error {
	if err := ValidName(rm.Name); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := r.read()
	if err != nil {
		return err
	}
	for _, x := range f.Remotes {
		if x.Name == rm.Name {
			return ErrExists
		}
	}
	key, err := r.key(true)
	if err != nil {
		return err
	}
	defer key.Wipe()
	if rm.SecretSealed, err = seal(key, rm.Name, secret); err != nil {
		return err
	}
	f.Remotes = append(f.Remotes, rm)
	sort.Slice(f.Remotes, func(i, j int) bool { return f.Remotes[i].Name < f.Remotes[j].Name })
	return r.write(f)
}

// Remove forgets a remote. Its backups stay in the bucket.
func (r *Registry) Remove(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	f, err := r.read()
	if err != nil {
		return err
	}
	for i, x := range f.Remotes {
		if x.Name == name {
			f.Remotes = append(f.Remotes[:i], f.Remotes[i+1:]...)
			return r.write(f)
		}
	}
	return ErrNotFound
}

// Secret unseals the secret key of rm. The caller wipes it.
func (r *Registry) Secret(rm Remote) (crypto.Secret, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	key, err := r.key(false)
	if err != nil {
		return nil, err
	}
	defer key.Wipe()
	return unseal(key, rm.Name, rm.SecretSealed)
}

func (r *Registry) path() string { return filepath.Join(r.dir, RegistryFile) }

func (r *Registry) read() (registryFile, error) {
	f := registryFile{Version: 1, Remotes: []Remote{}}
	b, err := os.ReadFile(r.path())
	if errors.Is(err, os.ErrNotExist) {
		return f, nil
	}
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("%s: %v", r.path(), err)
	}
	if f.Version != 1 {
		return f, fmt.Errorf("%s: version %d is not supported", r.path(), f.Version)
	}
	return f, nil
}

func (r *Registry) write(f registryFile) error {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	return writeFileAtomic(r.path(), b)
}

// ReadLegacyKey reads <dir>/remote-secret.key, the plain sealing key of
// older versions: nil, nil when there is none.
func ReadLegacyKey(dir string) (crypto.Secret, error) {
	p := filepath.Join(dir, LegacyKeyFile)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if len(b) != 32 {
		clear(b)
		return nil, fmt.Errorf("%s: want 32 bytes, found %d", p, len(b))
	}
	return crypto.Secret(b), nil
}

// RemoveLegacyKey overwrites and removes <dir>/remote-secret.key.
func RemoveLegacyKey(dir string) error {
	p := filepath.Join(dir, LegacyKeyFile)
	if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
		f.Write(make([]byte, 32))
		f.Sync()
		f.Close()
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// seal returns version (1 byte) || nonce (12) || AES-256-GCM ciphertext and
// tag, with AD = sealLabel || name.
func seal(key crypto.Secret, name string, secret crypto.Secret) ([]byte, error) {
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+aead.NonceSize(), 1+aead.NonceSize()+len(secret)+aead.Overhead())
	out[0] = sealVersion
	if _, err := io.ReadFull(rand.Reader, out[1:]); err != nil {
		return nil, err
	}
	return aead.Seal(out, out[1:], secret, []byte(sealLabel+name)), nil
}

func unseal(key crypto.Secret, name string, sealed []byte) (crypto.Secret, error) {
	aead, err := gcm(key)
	if err != nil {
		return nil, err
	}
	if len(sealed) < 1+aead.NonceSize()+aead.Overhead() || sealed[0] != sealVersion {
		return nil, fmt.Errorf("sealed secret key of remote '%s' is malformed", name)
	}
	n := 1 + aead.NonceSize()
	pt, err := aead.Open(nil, sealed[1:n], sealed[n:], []byte(sealLabel+name))
	if err != nil {
		return nil, fmt.Errorf("cannot unseal the secret key of remote '%s': the sealing key in the keystore was changed or replaced", name)
	}
	return crypto.Secret(pt), nil
}

func gcm(key crypto.Secret) (cipher.AEAD, error) {
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(b)
}

// writeFileAtomic writes b to p (mode 0600) through a synced temporary file.
func writeFileAtomic(p string, b []byte) error { return atomicfile.WriteFile(p, b) }
