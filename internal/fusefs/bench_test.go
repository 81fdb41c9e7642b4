package fusefs_test

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"coffer/internal/fusefs"
	"coffer/internal/zpl/zpltest"
)

// benchMount mounts an encrypted file system for a benchmark.
func benchMount(b *testing.B) string {
	requireFUSE(b)
	p := zpltest.NewPool(b)
	p.CreateFS(b, "tank/fs", true)
	dir := b.TempDir()
	m, err := fusefs.New(dir, fusefs.Options{FS: p.OpenFS(b, "tank/fs"), Name: "tank/fs"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = m.Unmount(true) })
	return dir
}

// BenchmarkSequential writes 256 MiB in 1 MiB writes and fsyncs (write),
// then reads it back through a fresh open (read).
func BenchmarkSequential(b *testing.B) {
	dir := benchMount(b)
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	const total = 256
	name := filepath.Join(dir, "seq")
	b.Run("write", func(b *testing.B) {
		b.SetBytes(total << 20)
		for i := 0; i < b.N; i++ {
			f, err := os.Create(name)
			if err != nil {
				b.Fatal(err)
			}
			for range total {
				if _, err := f.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
	b.Run("read", func(b *testing.B) {
		b.SetBytes(total << 20)
		for i := 0; i < b.N; i++ {
			f, err := os.Open(name)
			if err != nil {
				b.Fatal(err)
			}
			for {
				if n, _ := f.Read(buf); n == 0 {
					break
				}
			}
			f.Close()
		}
	})
}

// BenchmarkSmallFiles creates b.N 4 KiB files in one directory, then
// lists and stats them (ls -l).
func BenchmarkSmallFiles(b *testing.B) {
	dir := benchMount(b)
	data := make([]byte, 4096)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := os.WriteFile(filepath.Join(dir, "f"+strconv.Itoa(i)), data, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil || len(ents) != b.N {
		b.Fatalf("readdir: %d entries, %v", len(ents), err)
	}
	for _, e := range ents {
		if _, err := e.Info(); err != nil {
			b.Fatal(err)
		}
	}
}
