package dmu

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"coffer/internal/format"
)

// storeCachedPages evicts (evict) or counts the pages of the block store
// file in the page cache.
func storeCachedPages(t *testing.T, path string, evict bool) uint64 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if evict {
		if err := f.Sync(); err != nil {
			t.Fatal(err)
		}
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			t.Fatal(err)
		}
	}
	var cs unix.Cachestat_t
	if err := unix.Cachestat(uint(f.Fd()), &unix.CachestatRange{}, &cs, 0); err != nil {
		t.Skipf("cachestat: %v", err)
	}
	return cs.Cache
}

// A sequential reader's data blocks are read past the host's page cache
// (O_DIRECT): their ciphertext is a second copy nobody reads again. A
// random reader's stay buffered: its re-reads find them there (P4 fell by
// half when every data block went direct).
func TestSequentialReadsGoDirectRandomReadsDoNot(t *testing.T) {
	dir := t.TempDir()
	probe, err := os.OpenFile(filepath.Join(dir, "probe"), os.O_CREATE|os.O_RDWR|unix.O_DIRECT, 0o600)
	if errors.Is(err, unix.EINVAL) {
		t.Skip("no O_DIRECT on the test directory's file system")
	} else if err != nil {
		t.Fatal(err)
	}
	probe.Close()

	p, objs := encryptedObjset(t, dir)
	const bs, blocks = 128 << 10, 512 // 64 MiB
	o, err := objs.NewObject(format.ObjectPlain, bs, 2)
	if err != nil {
		t.Fatal(err)
	}
	data := make([]byte, bs*blocks)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	if err := o.Write(data, 0); err != nil {
		t.Fatal(err)
	}
	root, err := objs.Sync(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Commit(2, mustDoc(t, root)); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(dir, "v0", "data")
	cold := func() {
		p.Cache().Clear()
		if n := storeCachedPages(t, store, true); n > 64 {
			t.Fatalf("%d pages of the block store still cached after eviction", n)
		}
	}

	cold()
	buf := make([]byte, bs)
	for b := 0; b < blocks; b++ {
		if err := o.Read(buf, uint64(b*bs)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(buf, data[b*bs:(b+1)*bs]) {
			t.Fatalf("sequential read: block %d differs", b)
		}
	}
	// Blocks stored next to each other were read ahead in runs, each with
	// one read of the block store.
	if runs, blks := p.ReadAheadRuns(); runs == 0 || blks < runs*RunBlocks/2 || blks < blocks/2 {
		t.Fatalf("a sequential read of %d blocks read %d of them ahead in %d runs", blocks, blks, runs)
	}
	seqPages := storeCachedPages(t, store, false)
	// 64 MiB is 16,384 pages; metadata and a few buffered blocks may stay.
	if seqPages > 1024 {
		t.Fatalf("a sequential read of 64 MiB left %d pages of the block store cached: not read direct", seqPages)
	}

	cold()
	small := make([]byte, 4096)
	// Blocks far apart (never within the 32 blocks of a stream), starting
	// away from block 0 (which a first read counts as sequential).
	var random []int
	for i := 0; i < 8; i++ {
		random = append(random, 5+i*32, 5+256+i*32)
	}
	for _, b := range random {
		off := b*bs + 1000
		if err := o.Read(small, uint64(off)); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(small, data[off:off+len(small)]) {
			t.Fatalf("random read: block %d differs", b)
		}
	}
	// Each random read decodes its whole block: 32 pages each, buffered.
	if n := storeCachedPages(t, store, false); n < uint64(len(random))*32 {
		t.Fatalf("random reads of %d blocks left only %d pages cached: read direct", len(random), n)
	}
}
