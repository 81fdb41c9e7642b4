package dsl

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"coffer/internal/format"
	"coffer/internal/pool"
)

// Writers fill the open txg while commits run in the background (MaybeSync
// past half the dirty limit, the sync loop, and Check, which commits): every
// Check finds the pool consistent, dirty data stays bounded, and after a
// reimport every object holds exactly what was last written to it.
func TestPipelinedCommits(t *testing.T) {
	dir := t.TempDir()
	const dirtyMax = 2 << 20
	dp, err := CreatePool("tank", []pool.VdevSpec{{Paths: []string{filepath.Join(dir, "d0")}}}, false, nil, nil,
		Options{DirtyMax: dirtyMax, SyncInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	encProps := map[string]string{"encryption": "on", "keyformat": "passphrase", "pbkdf2iters": "100000"}
	if err := dp.Create(nil, "tank/enc", CreateOpts{Props: encProps, Key: []byte(pass + "\n")}); err != nil {
		t.Fatal(err)
	}
	os, err := dp.Objset("tank/enc")
	if err != nil {
		t.Fatal(err)
	}
	const writers, size, bs = 3, 6 << 20, 128 << 10
	ids := make([]uint64, writers)
	want := make([][]byte, writers)
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	var maxDirty int64
	var mdMu sync.Mutex
	for w := 0; w < writers; w++ {
		o, err := os.NewObject(format.ObjectPlain, bs, dp.NextTxg())
		if err != nil {
			t.Fatal(err)
		}
		ids[w] = o.ID()
		want[w] = make([]byte, size)
		wg.Add(1)
		go func() {
			defer wg.Done()
			rnd := rand.New(rand.NewPCG(uint64(w), 9))
			buf := make([]byte, bs)
			for i := 0; i < 3*size/bs; i++ {
				// Mostly sequential whole blocks, sometimes a piece of an
				// earlier block (rewrites a block written ahead).
				off := uint64(i%(size/bs)) * bs
				n := bs
				if rnd.IntN(5) == 0 {
					off = uint64(rnd.IntN(size - 4096))
					n = 1 + rnd.IntN(4096)
				}
				for j := range buf[:n] {
					buf[j] = byte(rnd.Uint32())
				}
				if err := o.Write(buf[:n], off); err != nil {
					errs <- err
					return
				}
				copy(want[w][off:], buf[:n])
				if err := dp.MaybeSync(); err != nil {
					errs <- err
					return
				}
				mdMu.Lock()
				maxDirty = max(maxDirty, dp.p.DirtyBytes())
				mdMu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	checks := 0
	go func() {
		defer close(done)
		for {
			time.Sleep(30 * time.Millisecond)
			rep, err := dp.Check()
			if err != nil {
				errs <- err
				return
			}
			if len(rep.Problems) > 0 {
				errs <- &checkErr{rep.Problems}
				return
			}
			checks++
			mdMu.Lock()
			stop := maxDirty < 0
			mdMu.Unlock()
			if stop {
				return
			}
		}
	}()
	wg.Wait()
	mdMu.Lock()
	peak := maxDirty
	maxDirty = -1
	mdMu.Unlock()
	<-done
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if checks == 0 {
		t.Fatal("no check ran during the writes")
	}
	// A writer passes the limit by at most one write per writer before it
	// commits itself.
	if peak > dirtyMax+writers*bs {
		t.Fatalf("dirty data reached %d bytes (limit %d)", peak, dirtyMax)
	}
	if err := dp.Sync(); err != nil {
		t.Fatal(err)
	}
	if u := dp.p.UnsettledBytes(); u != 0 {
		t.Fatalf("%d bytes written ahead after the last commit", u)
	}
	dp = reimport(t, dp, dir)
	defer dp.Close()
	if err := dp.LoadKey("tank/enc", false, "", []byte(pass+"\n")); err != nil {
		t.Fatal(err)
	}
	for w, id := range ids {
		got, err := readFile(dp, "tank/enc", id, size)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want[w]) {
			t.Fatalf("object %d differs after reimport", id)
		}
	}
	checked(t, dp)
}

type checkErr struct{ problems []string }

func (e *checkErr) Error() string { return "check: " + e.problems[0] }

// Reading fills the block cache; unloading the key wipes and drops what was
// decoded with it, and destroying a dataset drops its blocks.
func TestCacheDroppedOnUnload(t *testing.T) {
	dp, _ := newPool(t)
	defer dp.Close()
	encProps := map[string]string{"encryption": "on", "keyformat": "passphrase", "pbkdf2iters": "100000"}
	if err := dp.Create(nil, "tank/enc", CreateOpts{Props: encProps, Key: []byte(pass + "\n")}); err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("secret plaintext "), 1<<16)
	id := writeFile(t, dp, "tank/enc", data)
	got, err := readFile(dp, "tank/enc", id, len(data))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	if s := dp.p.Cache().Stats(); s.Entries == 0 {
		t.Fatal("nothing cached after a read")
	}
	if _, err := dp.UnloadKey("tank/enc", false, false); err != nil {
		t.Fatal(err)
	}
	if s := dp.p.Cache().Stats(); s.Entries != 0 || s.Bytes != 0 {
		t.Fatalf("cache holds %d blocks of a locked dataset", s.Entries)
	}
	if err := dp.LoadKey("tank/enc", false, "", []byte(pass+"\n")); err != nil {
		t.Fatal(err)
	}
	if got, err := readFile(dp, "tank/enc", id, len(data)); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after reload: %v", err)
	}
	if _, err := dp.Destroy("tank/enc", DestroyOpts{}); err != nil {
		t.Fatal(err)
	}
	if s := dp.p.Cache().Stats(); s.Entries != 0 {
		t.Fatalf("cache holds %d blocks of a destroyed dataset", s.Entries)
	}
	checked(t, dp)
}
