package fusefs_test

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"coffer/internal/fusefs"
)

const record = 128 << 10 // the default record size of a test file system

// waitStored waits until the mount has stored at least n records.
func waitStored(t *testing.T, m *fusefs.Mount, n uint64) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); m.CacheStats().StoredRecords < n; {
		if time.Now().After(deadline) {
			t.Fatalf("no record stored: %+v", m.CacheStats())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// randomReadFillsRecord checks that after one 4 KiB read in the middle of
// a record of path (whose content is want), the rest of that record is
// read without a READ reaching the daemon.
func randomReadFillsRecord(t *testing.T, m *fusefs.Mount, path string, want []byte, rec int) {
	t.Helper()
	f, err := os.Open(path)
	ok(t, err)
	defer f.Close()
	// No kernel readahead: every page not in the page cache is one READ.
	ok(t, unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM))
	base := rec * record
	page := make([]byte, 4096)
	before := m.CacheStats()
	first := base + 10*4096
	if _, err := f.ReadAt(page, int64(first)); err != nil || !bytes.Equal(page, want[first:first+4096]) {
		t.Fatalf("first read: %v", err)
	}
	waitStored(t, m, before.StoredRecords+1)
	after := m.CacheStats()
	if after.Reads-before.Reads != 1 {
		t.Fatalf("the first read made %d READs", after.Reads-before.Reads)
	}
	for off := base; off < base+record; off += 4096 {
		if _, err := f.ReadAt(page, int64(off)); err != nil || !bytes.Equal(page, want[off:off+4096]) {
			t.Fatalf("read at %d: wrong data (%v)", off, err)
		}
	}
	if r := m.CacheStats().Reads - after.Reads; r != 0 {
		t.Fatalf("reading the rest of the record made %d READs, want 0 (%+v)", r, m.CacheStats())
	}
	// The next record was not stored: reading it reaches the daemon.
	if _, err := f.ReadAt(page, int64(base+record+4096)); err != nil {
		t.Fatal(err)
	}
	if r := m.CacheStats().Reads - after.Reads; r != 1 {
		t.Fatalf("a read in the next record made %d READs, want 1", r)
	}
	waitStored(t, m, before.StoredRecords+2) // that record, for the next check
}

func TestRandomReadFillsRecord(t *testing.T) {
	t.Parallel()
	mt := mountNew(t, true)
	want := make([]byte, 4*record+3*4096+1000)
	_, _ = rand.Read(want)
	path := filepath.Join(mt.Dir, "f")
	ok(t, os.WriteFile(path, want, 0o644))
	mt.M.WaitReleased(t, "f")
	randomReadFillsRecord(t, mt.M, path, want, 1)
	// The last, partial record: the store (of its pages after the first)
	// ends at the end of the file and does not make the file longer.
	f, err := os.Open(path)
	ok(t, err)
	defer f.Close()
	ok(t, unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM))
	n0 := mt.M.CacheStats().StoredRecords
	page := make([]byte, 4096)
	_, err = f.ReadAt(page[:100], int64(4*record+100))
	ok(t, err)
	waitStored(t, mt.M, n0+1)
	fi, err := f.Stat()
	ok(t, err)
	if fi.Size() != int64(len(want)) {
		t.Fatalf("size %d after a store of the last record, want %d", fi.Size(), len(want))
	}
	got, err := os.ReadFile(path)
	ok(t, err)
	if !bytes.Equal(got, want) {
		t.Fatal("content changed")
	}

	// While memory is short a record is pushed once per open: when the
	// kernel drops the pages (reclaim; here fadvise), reading them again
	// does not push it again.
	mt.M.SetMemPlenty(false)
	g, err := os.Open(path)
	ok(t, err)
	defer g.Close()
	ok(t, unix.Fadvise(int(g.Fd()), 0, 0, unix.FADV_RANDOM))
	n1 := mt.M.CacheStats().StoredRecords
	_, err = g.ReadAt(page, 2*record+4096)
	ok(t, err)
	waitStored(t, mt.M, n1+1)
	ok(t, unix.Fadvise(int(g.Fd()), 0, 0, unix.FADV_DONTNEED))
	r1 := mt.M.CacheStats().Reads
	_, err = g.ReadAt(page, 2*record+8*4096)
	ok(t, err)
	time.Sleep(100 * time.Millisecond)
	if st := mt.M.CacheStats(); st.Reads != r1+1 || st.StoredRecords != n1+1 {
		t.Fatalf("memory short, after the kernel dropped the record: %d READs, %d stores; want 1 READ, no new store", st.Reads-r1, st.StoredRecords-n1-1)
	}
	// While memory is plentiful the pages were dropped on request, not
	// for want of memory: the record is pushed again, and the rest of it
	// is read without the daemon.
	mt.M.SetMemPlenty(true)
	ok(t, unix.Fadvise(int(g.Fd()), 0, 0, unix.FADV_DONTNEED))
	r2 := mt.M.CacheStats().Reads
	_, err = g.ReadAt(page, 2*record+9*4096)
	ok(t, err)
	if !bytes.Equal(page, want[2*record+9*4096:2*record+10*4096]) {
		t.Fatal("wrong data after the drop")
	}
	waitStored(t, mt.M, n1+2)
	for off := 2 * record; off < 3*record; off += 4096 {
		if _, err := g.ReadAt(page, int64(off)); err != nil || !bytes.Equal(page, want[off:off+4096]) {
			t.Fatalf("read at %d after the second store: wrong data (%v)", off, err)
		}
	}
	if r := mt.M.CacheStats().Reads - r2; r != 1 {
		t.Fatalf("memory plentiful: the record took %d READs after the drop, want 1 (%+v)", r, mt.M.CacheStats())
	}
	// A new open (which drops the kernel's cache) starts over, even while
	// memory is short.
	mt.M.SetMemPlenty(false)
	n3 := mt.M.CacheStats().StoredRecords
	h, err := os.Open(path)
	ok(t, err)
	defer h.Close()
	ok(t, unix.Fadvise(int(h.Fd()), 0, 0, unix.FADV_RANDOM))
	_, err = h.ReadAt(page, 2*record+12*4096)
	ok(t, err)
	waitStored(t, mt.M, n3+1)
}

func TestSnapshotReadFillsRecord(t *testing.T) {
	t.Parallel()
	mt := mountNew(t, true)
	want := make([]byte, 4*record)
	_, _ = rand.Read(want)
	ok(t, os.WriteFile(filepath.Join(mt.Dir, "f"), want, 0o644))
	ok(t, mt.FS.Sync())
	ok(t, mt.P.DP.Snapshot([]string{"tank/fs@s"}, false, nil))
	ok(t, os.WriteFile(filepath.Join(mt.Dir, "f"), []byte("changed"), 0o644))
	path := filepath.Join(mt.Dir, ".coffer/snapshot/s/f")
	randomReadFillsRecord(t, mt.M, path, want, 2)
	// Snapshot files keep their cache across opens: a new open reads the
	// stored record without a READ.
	r0 := mt.M.CacheStats().Reads
	f, err := os.Open(path)
	ok(t, err)
	defer f.Close()
	ok(t, unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM))
	page := make([]byte, 4096)
	off := 2*record + 20*4096
	if n, err := f.ReadAt(page, int64(off)); err != nil || !bytes.Equal(page, want[off:off+4096]) {
		fi, _ := f.Stat()
		t.Fatalf("read after reopen: %d bytes, %v (size %d)", n, err, fi.Size())
	}
	if r := mt.M.CacheStats().Reads - r0; r != 0 {
		t.Fatalf("read after reopen made %d READs, want 0", r)
	}
}

// Words written by the race test name the write and the offset, so that a
// reader can tell data that was written from data that never was.
const wordMagic = 0xC0FE

func word(ver uint16, off int) uint64 {
	return wordMagic<<48 | uint64(ver)<<32 | uint64(off/8)
}

type span struct{ from, to int }

// TestStoreRace runs writers (pwrite, ftruncate shrinking and extending,
// truncate by path, O_TRUNC, fallocate) against random readers of the same
// file. Readers must only see words that some write put at that offset (or
// zeros), and after the writers stop every byte read through a handle open
// all along (whose page cache the writers' opens did not drop) must match
// the model of the file.
func TestStoreRace(t *testing.T) {
	t.Parallel()
	mt := mountNew(t, true)
	path := filepath.Join(mt.Dir, "race")
	const maxSize = 20 * record
	var (
		mu      sync.Mutex
		model   []byte
		written = map[uint16][]span{} // what each write covered
		nver    uint16
	)
	ok(t, os.WriteFile(path, nil, 0o644))
	// The readers' handles opened before the run, used for the final check.
	var keep []*os.File
	for range 3 {
		f, err := os.Open(path)
		ok(t, err)
		ok(t, unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM))
		keep = append(keep, f)
		defer f.Close()
	}

	pwrite := func(f *os.File, r *mrand.Rand) error {
		mu.Lock()
		defer mu.Unlock()
		nver++
		if nver == 0 {
			return errors.New("too many writes")
		}
		off := r.Intn(maxSize) &^ 7
		n := (1 + r.Intn(3*record)) &^ 7
		n = min(n, maxSize-off)
		b := make([]byte, n)
		for i := 0; i < n; i += 8 {
			binary.LittleEndian.PutUint64(b[i:], word(nver, off+i))
		}
		if _, err := f.WriteAt(b, int64(off)); err != nil {
			return err
		}
		if len(model) < off+n {
			model = append(model, make([]byte, off+n-len(model))...)
		}
		copy(model[off:], b)
		written[nver] = append(written[nver], span{off, off + n})
		return nil
	}
	resize := func(size int, do func() error) error {
		mu.Lock()
		defer mu.Unlock()
		if err := do(); err != nil {
			return err
		}
		if size < len(model) {
			model = model[:size]
		} else {
			model = append(model, make([]byte, size-len(model))...)
		}
		return nil
	}

	// compare reads f page by page (as the readers read, through the page
	// cache) and compares it with the model; the caller holds mu or is the
	// only writer.
	compare := func(f *os.File) error {
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		if fi.Size() != int64(len(model)) {
			return fmt.Errorf("size %d, model %d", fi.Size(), len(model))
		}
		got := make([]byte, len(model))
		for off := 0; off < len(got); off += 4096 {
			end := min(off+4096, len(got))
			if n, err := f.ReadAt(got[off:end], int64(off)); n != end-off {
				return fmt.Errorf("read at %d: %d bytes, %v", off, n, err)
			}
		}
		if !bytes.Equal(got, model) {
			i := 0
			for got[i] == model[i] {
				i++
			}
			return fmt.Errorf("content differs from the model at offset %d (record %d)", i, i/record)
		}
		return nil
	}
	verify := func(f *os.File, how string) {
		t.Helper()
		if err := compare(f); err != nil {
			t.Fatalf("%s: %v", how, err)
		}
	}
	var checkpoints int

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var werr, rerr atomic.Value
	var fallocOK atomic.Bool
	wg.Add(1)
	go func() { // the writer
		defer wg.Done()
		r := mrand.New(mrand.NewSource(1))
		for {
			select {
			case <-stop:
				return
			default:
			}
			var err error
			switch r.Intn(6) {
			case 0, 1, 2: // a writable handle with a few operations
				var f *os.File
				flags := os.O_RDWR
				if r.Intn(8) == 0 {
					flags |= os.O_TRUNC
					err = resize(0, func() error {
						f, err = os.OpenFile(path, flags, 0)
						return err
					})
				} else {
					f, err = os.OpenFile(path, flags, 0)
				}
				for i := 0; err == nil && i < 1+r.Intn(4); i++ {
					switch r.Intn(5) {
					case 0, 1, 2:
						err = pwrite(f, r)
					case 3:
						size := r.Intn(maxSize) &^ 7
						err = resize(size, func() error { return f.Truncate(int64(size)) })
					case 4:
						mu.Lock()
						cur := len(model)
						mu.Unlock()
						size := min(cur+r.Intn(2*record), maxSize) &^ 7
						if size > cur {
							err = resize(size, func() error {
								return unix.Fallocate(int(f.Fd()), 0, int64(cur), int64(size-cur))
							})
							if err == nil {
								fallocOK.Store(true)
							}
						}
					}
				}
				if f != nil {
					if cerr := f.Close(); err == nil {
						err = cerr
					}
				}
			case 3: // truncate by path, no handle: shrink or extend
				size := r.Intn(maxSize) &^ 7
				err = resize(size, func() error { return os.Truncate(path, int64(size)) })
			default: // no writer: the readers store records
				time.Sleep(time.Duration(r.Intn(3000)) * time.Microsecond)
			}
			if err == nil && r.Intn(4) == 0 {
				// A checkpoint: with no write for a moment, the queued stores
				// land; the page cache of a handle open all along must hold
				// the file as it is now.
				time.Sleep(10 * time.Millisecond)
				if err = compare(keep[0]); err != nil {
					err = fmt.Errorf("checkpoint %d: %w", checkpoints, err)
				}
				checkpoints++
			}
			if err != nil {
				werr.Store(err)
				return
			}
		}
	}()
	check := func(b []byte, off int) error {
		mu.Lock()
		defer mu.Unlock()
		for i := 0; i+8 <= len(b); i += 8 {
			w := binary.LittleEndian.Uint64(b[i:])
			if w == 0 {
				continue
			}
			o := off + i
			ver := uint16(w >> 32)
			if w>>48 != wordMagic || w&0xffffffff != uint64(o/8) {
				return fmt.Errorf("offset %d: word %#x was never written there", o, w)
			}
			covered := false
			for _, s := range written[ver] {
				covered = covered || (s.from <= o && o < s.to)
			}
			if !covered {
				return fmt.Errorf("offset %d: write %d never covered it", o, ver)
			}
		}
		return nil
	}
	for i := range 3 {
		wg.Add(1)
		go func() { // a reader
			defer wg.Done()
			r := mrand.New(mrand.NewSource(int64(100 + i)))
			b := make([]byte, 4096)
			for {
				select {
				case <-stop:
					return
				default:
				}
				f := keep[i]
				if r.Intn(4) == 0 { // a fresh handle
					var err error
					if f, err = os.Open(path); err != nil {
						rerr.Store(err)
						return
					}
					_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_RANDOM)
				}
				for range 20 {
					off := r.Intn(maxSize/4096) * 4096
					n, err := f.ReadAt(b, int64(off))
					if err != nil && n == 0 && !errors.Is(err, io.EOF) {
						rerr.Store(err)
						return
					}
					if err := check(b[:n], off); err != nil {
						rerr.Store(err)
						return
					}
				}
				if f != keep[i] {
					f.Close()
				}
			}
		}()
	}
	time.Sleep(4 * time.Second)
	close(stop)
	wg.Wait()
	if err := werr.Load(); err != nil {
		t.Fatalf("writer: %v", err)
	}
	if err := rerr.Load(); err != nil {
		t.Fatalf("reader: %v", err)
	}
	// Let queued stores finish: a stale one would land now.
	time.Sleep(300 * time.Millisecond)
	st := mt.M.CacheStats()
	t.Logf("%d writes, %d checkpoints, stats %+v, fallocate used: %v", nver, checkpoints, st, fallocOK.Load())
	if st.StoredRecords == 0 {
		t.Fatalf("no record was stored: the test did not exercise stores")
	}
	for i, f := range keep {
		verify(f, fmt.Sprintf("handle %d open all along", i))
	}
	f, err := os.Open(path)
	ok(t, err)
	defer f.Close()
	verify(f, "new handle")
}

// TestMemPlenty: a record is stored again in an epoch only while
// MemAvailable is at least a quarter of MemTotal; an unreadable or
// malformed meminfo counts as short.
func TestMemPlenty(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, tt := range []struct {
		name, content string
		want          bool
	}{
		{"plenty", "MemTotal:       24683568 kB\nMemFree:        20000000 kB\nMemAvailable:   22581200 kB\n", true},
		{"quarter", "MemTotal: 4000 kB\nMemAvailable: 1000 kB\n", true},
		{"short", "MemTotal: 4000 kB\nMemAvailable: 999 kB\n", false},
		{"no MemAvailable", "MemTotal: 4000 kB\nMemFree: 3000 kB\n", false},
		{"garbage", "MemTotal: lots\nMemAvailable: some\n", false},
	} {
		p := filepath.Join(dir, tt.name)
		ok(t, os.WriteFile(p, []byte(tt.content), 0o644))
		if got := fusefs.ReadMemPlenty(p); got != tt.want {
			t.Errorf("%s: plenty = %v, want %v", tt.name, got, tt.want)
		}
	}
	if fusefs.ReadMemPlenty(filepath.Join(dir, "missing")) {
		t.Error("a missing meminfo counts as plenty")
	}
}
