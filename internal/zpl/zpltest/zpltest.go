// Package zpltest builds real pools and file systems for the tests of zpl
// and the layers above it.
package zpltest

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"coffer/internal/dsl"
	"coffer/internal/pool"
	"coffer/internal/zpl"
)

// Passphrase is the key of the encrypted datasets made here.
const Passphrase = "correct horse battery staple"

// Pool is a test pool on a temporary vdev directory.
type Pool struct {
	DP  *dsl.Pool
	Dir string // the vdev directory
}

// NewPool creates pool "tank" with one vdev in a temporary directory. The
// pool is closed and checked for consistency at cleanup.
func NewPool(t testing.TB) *Pool {
	t.Helper()
	dir := t.TempDir()
	dp, err := dsl.CreatePool("tank", []pool.VdevSpec{{Paths: []string{filepath.Join(dir, "d0")}}}, false, nil, nil, dsl.Options{SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p := &Pool{DP: dp, Dir: dir}
	t.Cleanup(func() {
		if p.DP == nil {
			return
		}
		if err := p.DP.CheckErr(); err != nil {
			t.Errorf("pool check: %v", err)
		}
		if err := p.DP.Close(); err != nil {
			t.Errorf("close pool: %v", err)
		}
	})
	return p
}

// CreateFS creates file system name, encrypted with Passphrase if asked.
func (p *Pool) CreateFS(t testing.TB, name string, encrypted bool) {
	t.Helper()
	o := dsl.CreateOpts{}
	if encrypted {
		o.Props = map[string]string{"encryption": "on", "keyformat": "passphrase", "keylocation": "prompt", "pbkdf2iters": "100000"}
		o.Key = []byte(Passphrase)
	}
	if err := p.DP.Create(context.Background(), name, o); err != nil {
		t.Fatal(err)
	}
}

// Options returns zpl options wired to the pool.
func (p *Pool) Options() zpl.Options {
	dp := p.DP
	return zpl.Options{
		NextTxg:   dp.NextTxg,
		Sync:      dp.Sync,
		MaybeSync: dp.MaybeSync,
		Space: func() (uint64, uint64) {
			s := dp.Raw().Space()
			return s.Size, s.Free
		},
	}
}

// OpenFS opens the zpl file system of dataset name.
func (p *Pool) OpenFS(t testing.TB, name string) *zpl.FS {
	t.Helper()
	os, err := p.DP.Objset(name)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := zpl.Open(os, p.Options())
	if err != nil {
		t.Fatal(err)
	}
	return fs
}

// Reimport closes the pool (committing) and imports it again, loading
// the key of encrypted dataset keyDS if it is not empty.
func (p *Pool) Reimport(t testing.TB, keyDS string) {
	t.Helper()
	if err := p.DP.Close(); err != nil {
		t.Fatal(err)
	}
	p.DP = nil
	p.Import(t, keyDS)
}

// Import imports the pool from its vdev directory (after Close or a
// simulated crash).
func (p *Pool) Import(t testing.TB, keyDS string) {
	t.Helper()
	found, err := pool.Scan([]string{p.Dir})
	if err != nil || len(found) != 1 {
		t.Fatalf("scan: %v %v", found, err)
	}
	dp, err := dsl.Import(found[0], dsl.Options{SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	p.DP = dp
	if keyDS != "" {
		if err := dp.LoadKey(keyDS, false, "", []byte(Passphrase)); err != nil {
			t.Fatal(err)
		}
	}
}

// Crash simulates a crash: it copies the vdev files as they are on disk
// now (nothing uncommitted), closes the running pool, and imports the copy,
// loading the key of keyDS if it is not empty.
func (p *Pool) Crash(t testing.TB, keyDS string) {
	t.Helper()
	img := t.TempDir()
	if err := copyDir(p.Dir, img); err != nil {
		t.Fatal(err)
	}
	old := p.DP
	p.DP = nil
	// Closing commits, but into the old files, not into the image.
	if err := old.Close(); err != nil {
		t.Fatal(err)
	}
	p.Dir = img
	p.Import(t, keyDS)
}

func copyDir(src, dst string) error {
	return filepath.Walk(src, func(path string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, path)
		to := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, 0o755)
		}
		in, err := os.Open(path)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
}
