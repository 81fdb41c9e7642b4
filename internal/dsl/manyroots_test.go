package dsl

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"coffer/internal/crypto"
	"testing"

	"coffer/internal/pool"
)

// createRoots makes n passphrase encryption roots parent/rNNNN in one txg,
// through the planning of Create (so the pool salt and the derivation cache
// are what create uses), to keep the test's setup from committing n times.
func createRoots(t *testing.T, dp *Pool, parent string, n int, pass []byte, extra map[string]string) []string {
	t.Helper()
	dp.mu.Lock()
	defer dp.mu.Unlock()
	var plans []*createPlan
	var names []string
	for i := range n {
		name := fmt.Sprintf("%s/r%04d", parent, i)
		p := map[string]string{"encryption": "on", "keyformat": "passphrase", "keylocation": "prompt", "canmount": "off"}
		for k, v := range extra {
			p[k] = v
		}
		pl, err := dp.planCreateUnder(name, "filesystem", 0, p, pass, plans)
		if err != nil {
			t.Fatal(err)
		}
		plans = append(plans, pl)
		names = append(names, name)
	}
	err := dp.txgDo(func(txg uint64) error {
		for _, pl := range plans {
			if err := dp.applyCreate(txg, pl); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// TestUnlockManyRootsOneDerivation: 1,000 passphrase roots created in one
// pool share the pool's salt, and loading all of them with their common
// passphrase (what unlock -r does) runs the real KDF (default iterations)
// once; a root with its own salt costs one more; a root with another
// passphrase stays locked.
func TestUnlockManyRootsOneDerivation(t *testing.T) {
	const n = 1000
	pass := []byte("one passphrase for all")
	var derived atomic.Int64
	dir := t.TempDir()
	opts := Options{Derived: func() { derived.Add(1) }}
	dp, err := CreatePool("tank", []pool.VdevSpec{{Paths: []string{filepath.Join(dir, "d0")}}}, false, nil, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	top := map[string]string{"encryption": "on", "keyformat": "passphrase", "keylocation": "prompt"}
	if err := dp.Create(ctx, "tank/top", CreateOpts{Props: top, Key: pass}); err != nil {
		t.Fatal(err)
	}
	names := createRoots(t, dp, "tank/top", n, pass, nil)
	if got := derived.Load(); got != 1 {
		t.Fatalf("creating %d roots with one passphrase derived %d keys, want 1", n+1, got)
	}
	if err := dp.Create(ctx, "tank/top/own", CreateOpts{Props: map[string]string{"keyformat": "passphrase", "pbkdf2salt": "random", "canmount": "off"}, Key: pass}); err != nil {
		t.Fatal(err)
	}
	if err := dp.Create(ctx, "tank/top/other", CreateOpts{Props: map[string]string{"keyformat": "passphrase", "canmount": "off"}, Key: []byte("another passphrase")}); err != nil {
		t.Fatal(err)
	}
	if v := get(t, dp, names[0], "pbkdf2salt").Stored; v != "pool" {
		t.Fatalf("pbkdf2salt of %s = %q, want pool", names[0], v)
	}
	if v := get(t, dp, "tank/top/own", "pbkdf2salt").Stored; v != "random" {
		t.Fatalf("pbkdf2salt of tank/top/own = %q, want random", v)
	}
	if v := get(t, dp, "tank/top/own", "pbkdf2iters").Stored; v != "350000" {
		t.Fatalf("pbkdf2iters = %q, want the default 350000", v)
	}

	// A fresh import: no key loaded, nothing cached.
	dp = reimportWith(t, dp, dir, opts)
	defer dp.Close()
	derived.Store(0)
	txg := dp.Raw().Txg()
	roots, err := dp.KeyRoots("tank/top", true, false, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(roots) != n+3 {
		t.Fatalf("%d roots, want %d", len(roots), n+3)
	}
	loaded := 0
	for _, r := range roots {
		err := dp.LoadKey(r.Dataset, false, "", pass)
		switch {
		case r.Dataset == "tank/top/other":
			if CodeOf(err) != CodeKey {
				t.Fatalf("load-key of the root with another passphrase: %v, want a key error", err)
			}
		case err != nil:
			t.Fatalf("load-key %s: %v", r.Dataset, err)
		default:
			loaded++
		}
	}
	if loaded != n+2 {
		t.Fatalf("loaded %d roots, want %d", loaded, n+2)
	}
	// One derivation for the pool salt, one for the root with its own salt.
	if got := derived.Load(); got != 2 {
		t.Fatalf("unlocking %d roots derived %d keys, want 2 (pool salt, own salt)", n+3, got)
	}
	if got := dp.Raw().Txg(); got != txg {
		t.Fatalf("loading keys committed txgs %d..%d: it writes nothing", txg, got)
	}
	if err := dp.LoadKey("tank/top/other", true, "", []byte("one passphrase for all")); CodeOf(err) != CodeKey {
		t.Fatalf("wrong passphrase: %v", err)
	}
	// A lock forgets the cached derivation: the next load derives again.
	if _, err := dp.UnloadKey("tank/top", true, false); err != nil {
		t.Fatal(err)
	}
	if dp.kdf.len() != 0 {
		t.Fatalf("%d cached derivations after unload-key", dp.kdf.len())
	}
	derived.Store(0)
	if err := dp.LoadKey(names[7], false, "", pass); err != nil {
		t.Fatal(err)
	}
	if got := derived.Load(); got != 1 {
		t.Fatalf("load after unload derived %d keys, want 1", got)
	}
	checked(t, dp)
}

func reimportWith(t *testing.T, dp *Pool, dir string, opts Options) *Pool {
	t.Helper()
	if err := dp.Close(); err != nil {
		t.Fatal(err)
	}
	found, err := pool.Scan([]string{dir})
	if err != nil || len(found) != 1 {
		t.Fatalf("scan: %v %v", found, err)
	}
	dp, err = Import(found[0], opts)
	if err != nil {
		t.Fatal(err)
	}
	return dp
}

// TestKDFCacheBounded: the cache keeps at most kdfCacheMax derivations and
// empties itself after kdfCacheTTL without use.
func TestKDFCacheBounded(t *testing.T) {
	var derived int
	c := newKDFCache(func() { derived++ })
	now := c.now()
	c.now = func() time.Time { return now }
	pass := []byte("cache test passphrase")
	for i := range kdfCacheMax + 4 {
		p := testKDFParams(byte(i))
		wk, err := c.derive(pass, p)
		if err != nil {
			t.Fatal(err)
		}
		wk.Wipe()
	}
	if c.len() != kdfCacheMax {
		t.Fatalf("%d entries, want %d", c.len(), kdfCacheMax)
	}
	// The last one is cached: no new derivation.
	before := derived
	wk, err := c.derive(pass, testKDFParams(byte(kdfCacheMax+3)))
	if err != nil {
		t.Fatal(err)
	}
	wk.Wipe()
	if derived != before {
		t.Fatal("a cached derivation ran the KDF again")
	}
	// Another passphrase under the same parameters is another entry.
	wk2, err := c.derive([]byte("cache test passphrase!"), testKDFParams(byte(kdfCacheMax+3)))
	if err != nil {
		t.Fatal(err)
	}
	wk2.Wipe()
	if derived != before+1 {
		t.Fatal("another passphrase was answered from the cache")
	}
	now = now.Add(kdfCacheTTL)
	c.sweep()
	if c.len() != 0 {
		t.Fatalf("%d entries after the TTL", c.len())
	}
	c.wipe()
}

func testKDFParams(b byte) crypto.KDFParams {
	salt := make([]byte, crypto.KDFSaltLen)
	salt[0] = b
	return crypto.KDFParams{KDF: crypto.KDFPBKDF2, Salt: salt, Iters: crypto.MinPBKDF2Iters}
}

// TestMOSPassphraseSaltFrozen: the MOS field of the pool salt, frozen
// ("passphrase_salt", base64 of 16 bytes); changing it breaks pools.
func TestMOSPassphraseSaltFrozen(t *testing.T) {
	const doc = `{"version":1,"name":"tank","guid":7,"created":1,"next_id":2,"datasets":{"1":{"id":1,"guid":9,"name":"tank","type":"filesystem","created":1,"createtxg":1,"root":{},"referenced":0,"ref_logical":0,"ref_phys":0,"written":0}},"passphrase_salt":"AAECAwQFBgcICQoLDA0ODw=="}`
	m, err := parseMOS([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}
	if string(m.PassSalt) != string(want) {
		t.Fatalf("passphrase_salt = %x", m.PassSalt)
	}
	b, err := m.marshal()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"passphrase_salt":"AAECAwQFBgcICQoLDA0ODw=="`) {
		t.Fatalf("marshal: %s", b)
	}
	m.PassSalt = nil
	if b, _ := m.marshal(); strings.Contains(string(b), "passphrase_salt") {
		t.Fatalf("empty salt written: %s", b)
	}
}
