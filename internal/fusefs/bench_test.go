package fusefs_test

import (
	"os"
	"path/filepath"
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

// BenchmarkSequential writes then reads 256 MiB in 1 MiB writes, with an
// fsync at the end of the write (the figure includes the commit).
func BenchmarkSequential(b *testing.B) {
	dir := benchMount(b)
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	const total = 256
	b.SetBytes(total << 20)
	for i := 0; i < b.N; i++ {
		name := filepath.Join(dir, "seq")
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
		f, _ = os.Open(name)
		for {
			if n, _ := f.Read(buf); n == 0 {
				break
			}
		}
		f.Close()
	}
}
