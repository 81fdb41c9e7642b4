package fusefs_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"os"
	"path/filepath"
	"testing"

	"coffer/internal/fusefs"
	"coffer/internal/zpl/zpltest"
)

// seqReads reads path sequentially on a fresh handle and returns how many
// READs reached the daemon.
func seqReads(t *testing.T, m *fusefs.Mount, path string, want []byte) uint64 {
	t.Helper()
	f, err := os.Open(path)
	ok(t, err)
	defer f.Close()
	r0 := m.CacheStats().Reads
	got, err := io.ReadAll(f)
	ok(t, err)
	if !bytes.Equal(got, want) {
		t.Fatal("sequential read: wrong data")
	}
	return m.CacheStats().Reads - r0
}

func TestReadAhead(t *testing.T) {
	t.Parallel()
	mt := mountNew(t, true)
	kb, err := mt.M.ReadAhead()
	if err != nil || kb != fusefs.DefaultReadAheadKB {
		t.Fatalf("read-ahead %d KiB, %v; want %d", kb, err, fusefs.DefaultReadAheadKB)
	}
	want := make([]byte, 16<<20)
	_, _ = rand.Read(want)
	path := filepath.Join(mt.Dir, "f")
	ok(t, os.WriteFile(path, want, 0o644))
	// 16 MiB in READs of up to 1 MiB: the kernel's first window is smaller,
	// so a few more than 16, but far from the 128 of 128 KiB READs.
	if n := seqReads(t, mt.M, path, want); n > 32 {
		t.Fatalf("a 16 MiB sequential read made %d READs, want at most 32", n)
	}

	// ReadAheadKB -1 keeps the kernel's 128 KiB.
	p := zpltest.NewPool(t)
	p.CreateFS(t, "tank/fs", true)
	fs := p.OpenFS(t, "tank/fs")
	dir := t.TempDir()
	m, err := fusefs.New(dir, fusefs.Options{FS: fs, Name: "tank/fs", ReadAheadKB: -1})
	ok(t, err)
	defer m.Unmount(false)
	if kb, err := m.ReadAhead(); err != nil || kb != 128 {
		t.Fatalf("read-ahead with -1: %d KiB, %v; want the kernel's 128", kb, err)
	}
	ok(t, os.WriteFile(filepath.Join(dir, "f"), want, 0o644))
	if n := seqReads(t, m, filepath.Join(dir, "f"), want); n < 100 {
		t.Fatalf("a 16 MiB sequential read with 128 KiB read-ahead made %d READs, want about 128", n)
	}
}
