package dsl

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"

	"coffer/internal/crypto"
)

// Passphrase key derivation is slow on purpose (350,000 PBKDF2 rounds by
// default). Creating or unlocking many encryption roots that share a
// passphrase and the pool's passphrase salt would pay it once per root;
// kdfCache pays it once (docs/design/crypto.md, "Many roots, one
// passphrase").
//
// Invariants:
//   - Entries are indexed by HMAC-SHA256 under a random per-process key of
//     the KDF parameters and the passphrase: the passphrase itself is never
//     kept, and the index is useless outside this process.
//   - At most kdfCacheMax entries; each is wiped kdfCacheTTL after its last
//     use, when the pool unloads a key, and when the pool closes.
//   - A cached key is only a derivation result: whether it opens a root is
//     still decided by unwrapping that root's master key (AEAD).
const (
	kdfCacheMax = 16
	kdfCacheTTL = 30 * time.Second
)

type kdfCache struct {
	mu      sync.Mutex
	hmacKey []byte
	entries map[[32]byte]*kdfEntry
	timer   *time.Timer
	now     func() time.Time
	// derived counts every real derivation (tests read it through the
	// Options.Derived hook).
	derived func()
}

type kdfEntry struct {
	wk   crypto.Secret
	last time.Time
}

func newKDFCache(derived func()) *kdfCache {
	k, err := crypto.RandomBytes(32)
	if err != nil {
		// No randomness: run without a cache (every derivation is real).
		k = nil
	}
	return &kdfCache{hmacKey: k, entries: map[[32]byte]*kdfEntry{}, now: time.Now, derived: derived}
}

func (c *kdfCache) index(pass []byte, p crypto.KDFParams) [32]byte {
	m := hmac.New(sha256.New, c.hmacKey)
	var hdr [1 + 4 + 4 + 1 + 2]byte
	hdr[0] = byte(p.KDF)
	binary.BigEndian.PutUint32(hdr[1:], p.Iters)
	binary.BigEndian.PutUint32(hdr[5:], p.MemoryKiB)
	hdr[9] = p.Threads
	binary.BigEndian.PutUint16(hdr[10:], uint16(len(p.Salt)))
	m.Write(hdr[:])
	m.Write(p.Salt)
	m.Write(pass)
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// derive returns the wrapping key for pass under p: a copy of a cached
// derivation, or a new one (checked by crypto.DeriveWrappingKey). The
// caller owns and wipes the result.
func (c *kdfCache) derive(pass []byte, p crypto.KDFParams) (crypto.Secret, error) {
	if c.hmacKey == nil {
		return c.deriveNow(pass, p)
	}
	idx := c.index(pass, p)
	c.mu.Lock()
	if e := c.entries[idx]; e != nil {
		e.last = c.now()
		wk := crypto.Secret(append([]byte(nil), e.wk...))
		c.mu.Unlock()
		return wk, nil
	}
	c.mu.Unlock()
	wk, err := c.deriveNow(pass, p)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= kdfCacheMax {
		c.evictOldest()
	}
	c.entries[idx] = &kdfEntry{wk: crypto.Secret(append([]byte(nil), wk...)), last: c.now()}
	if c.timer == nil {
		c.timer = time.AfterFunc(kdfCacheTTL, c.sweep)
	}
	return wk, nil
}

func (c *kdfCache) deriveNow(pass []byte, p crypto.KDFParams) (crypto.Secret, error) {
	wk, err := crypto.DeriveWrappingKey(pass, p)
	if err == nil && c.derived != nil {
		c.derived()
	}
	return wk, err
}

// evictOldest drops the least recently used entry; c.mu held.
func (c *kdfCache) evictOldest() {
	var oldest [32]byte
	var t time.Time
	first := true
	for k, e := range c.entries {
		if first || e.last.Before(t) {
			oldest, t, first = k, e.last, false
		}
	}
	if e := c.entries[oldest]; e != nil {
		e.wk.Wipe()
		delete(c.entries, oldest)
	}
}

// sweep wipes the entries unused for kdfCacheTTL and runs again while
// entries remain.
func (c *kdfCache) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	var next time.Duration
	for k, e := range c.entries {
		age := now.Sub(e.last)
		if age >= kdfCacheTTL {
			e.wk.Wipe()
			delete(c.entries, k)
			continue
		}
		if left := kdfCacheTTL - age; next == 0 || left < next {
			next = left
		}
	}
	c.timer = nil
	if len(c.entries) > 0 {
		c.timer = time.AfterFunc(next, c.sweep)
	}
}

// wipe empties the cache.
func (c *kdfCache) wipe() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, e := range c.entries {
		e.wk.Wipe()
		delete(c.entries, k)
	}
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// len reports the number of cached derivations (tests).
func (c *kdfCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}
