package vdev

import (
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pageCache is cachestat(2) of all of the leaf's block store.
func pageCache(t *testing.T, l *Leaf) unix.Cachestat_t {
	t.Helper()
	var st unix.Cachestat_t
	rng := unix.CachestatRange{Off: 0, Len: 0} // to the end of the file
	if err := unix.Cachestat(uint(l.data.Fd()), &rng, &st, 0); err != nil {
		if errors.Is(err, unix.ENOSYS) {
			t.Skip("cachestat(2) needs Linux 6.5")
		}
		t.Fatal(err)
	}
	return st
}

// TestLeafStartsWriteback: a leaf that has written KickBytes to its block
// store has the host start writing them back at once, instead of leaving
// them dirty until the next fdatasync or the host's 30-second expiry.
func TestLeafStartsWriteback(t *testing.T) {
	l := createLeaf(t)
	var fs unix.Statfs_t
	if err := unix.Fstatfs(int(l.data.Fd()), &fs); err != nil {
		t.Fatal(err)
	}
	if fs.Type == unix.TMPFS_MAGIC {
		t.Skip("the temporary directory is on tmpfs, which has no writeback")
	}
	buf := make([]byte, 1<<20)
	rand.Read(buf)
	const chunks = KickBytes / (1 << 20)
	for i := range chunks - 1 {
		if err := l.WriteAt(buf, int64(i)<<20); err != nil {
			t.Fatal(err)
		}
	}
	before := pageCache(t, l)
	if before.Dirty < (KickBytes/2)/4096 {
		t.Skipf("only %d dirty pages after %d MiB of writes: the host wrote them back already (memory pressure?)", before.Dirty, chunks-1)
	}
	if l.kicking.Load() || l.unkicked.Load() != (chunks-1)<<20 {
		t.Fatalf("writeback started before KickBytes were written (%d bytes counted)", l.unkicked.Load())
	}
	if err := l.WriteAt(buf, (chunks-1)<<20); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		st := pageCache(t, l)
		if st.Dirty == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pages still dirty 5 s after KickBytes were written", st.Dirty, st.Cache)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := l.unkicked.Load(); n != 0 {
		t.Errorf("%d bytes counted after the start", n)
	}
	// Durability is still fdatasync's: it succeeds, and the data reads back.
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(buf))
	if _, err := l.data.ReadAt(got, 3<<20); err != nil || string(got) != string(buf) {
		t.Fatalf("read back: %v", err)
	}
}
