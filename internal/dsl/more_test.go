package dsl

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"coffer/internal/format"
	"coffer/internal/pool"
)

func TestConcurrentWritersSnapshotsCommits(t *testing.T) {
	dp, _ := newPool(t)
	defer dp.Close()
	if err := dp.Create(nil, "tank/fs", CreateOpts{Props: map[string]string{"encryption": "on", "keyformat": "raw"}, Key: bytes.Repeat([]byte{7}, 32)}); err != nil {
		t.Fatal(err)
	}
	os, err := dp.Objset("tank/fs")
	if err != nil {
		t.Fatal(err)
	}
	const writers, rounds = 4, 30
	want := make([][]byte, writers)
	ids := make([]uint64, writers)
	for w := range ids {
		o, err := os.NewObject(format.ObjectPlain, 64<<10, dp.NextTxg())
		if err != nil {
			t.Fatal(err)
		}
		ids[w] = o.ID()
		want[w] = make([]byte, 1<<20)
	}
	var wg sync.WaitGroup
	errc := make(chan error, writers+2)
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			o, err := os.Object(ids[w])
			if err != nil {
				errc <- err
				return
			}
			for i := 0; i < rounds; i++ {
				chunk := make([]byte, 48<<10)
				rand.Read(chunk)
				off := (i * 37 << 10) % (len(want[w]) - len(chunk))
				if err := o.Write(chunk, uint64(off)); err != nil {
					errc <- err
					return
				}
				copy(want[w][off:], chunk)
				got := make([]byte, len(chunk))
				if err := o.Read(got, uint64(off)); err != nil || !bytes.Equal(got, chunk) {
					errc <- fmt.Errorf("writer %d round %d: read back differs (%v)", w, i, err)
					return
				}
				if err := dp.MaybeSync(); err != nil {
					errc <- err
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 10; i++ {
			if err := dp.Snapshot([]string{fmt.Sprintf("tank/fs@s%d", i)}, false, nil); err != nil {
				errc <- err
				return
			}
			if err := dp.Sync(); err != nil {
				errc <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	for w := range ids {
		o, _ := os.Object(ids[w])
		got := make([]byte, len(want[w]))
		if err := o.Read(got, 0); err != nil {
			t.Fatal(err)
		}
		// Unwritten ranges of the object read as zeros; written ones as written.
		if !bytes.Equal(got, want[w]) {
			t.Fatalf("object %d differs after concurrent writes", ids[w])
		}
	}
	for i := 0; i < 10; i += 2 {
		if _, err := dp.Destroy(fmt.Sprintf("tank/fs@s%d", i), DestroyOpts{}); err != nil {
			t.Fatal(err)
		}
	}
	checked(t, dp)
}

func TestArgon2idPassphrase(t *testing.T) {
	dp, dir := newPool(t)
	if err := dp.Create(nil, "tank/a", CreateOpts{Props: map[string]string{"keyformat": "passphrase", "pbkdf2kdf": "argon2id"}, Key: []byte(pass)}); err != nil {
		t.Fatal(err)
	}
	if got := get(t, dp, "tank/a", "pbkdf2kdf").Stored; got != "argon2id" {
		t.Fatalf("pbkdf2kdf = %q", got)
	}
	dp = reimport(t, dp, dir)
	defer dp.Close()
	if err := dp.LoadKey("tank/a", false, "", []byte("not the passphrase")); CodeOf(err) != CodeKey {
		t.Fatalf("wrong argon2id passphrase: %v", err)
	}
	if err := dp.LoadKey("tank/a", false, "", []byte(pass)); err != nil {
		t.Fatal(err)
	}
}

func TestHTTPSKeyLocation(t *testing.T) {
	key := bytes.Repeat([]byte("ab"), 32) // 64 hex chars
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/keys/tank-web" {
			http.NotFound(w, r)
			return
		}
		w.Write(key)
	}))
	defer srv.Close()
	dir := t.TempDir()
	opts := Options{HTTPClient: srv.Client()}
	dp, err := CreatePool("tank", []pool.VdevSpec{{Paths: []string{filepath.Join(dir, "d0")}}}, false, nil, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	loc := srv.URL + "/keys/tank-web"
	if err := dp.Create(nil, "tank/web", CreateOpts{Props: map[string]string{"keyformat": "hex", "keylocation": loc}}); err != nil {
		t.Fatal(err)
	}
	if _, err := dp.UnloadKey("tank/web", false, false); err != nil {
		t.Fatal(err)
	}
	if err := dp.LoadKey("tank/web", false, "", nil); err != nil {
		t.Fatal(err)
	}
	if err := dp.LoadKey("tank/web", true, srv.URL+"/keys/other", nil); err == nil {
		t.Fatal("load-key -n from a location that does not answer 200 succeeded")
	}
	dp.Close()
}

// TestDestroyShredsKey: after destroy, the metadata that held the dataset's
// wrapped master key is gone from the vdev.
func TestDestroyShredsKey(t *testing.T) {
	dp, dir := newPool(t)
	defer dp.Close()
	if err := dp.Create(nil, "tank/secret", CreateOpts{Props: map[string]string{"keyformat": "raw"}, Key: bytes.Repeat([]byte{9}, 32)}); err != nil {
		t.Fatal(err)
	}
	old := dp.p.MOSPointer()
	if _, err := dp.Destroy("tank/secret", DestroyOpts{}); err != nil {
		t.Fatal(err)
	}
	// Frees are deferred for pool.DeferTxgs commits.
	for i := 0; i < pool.DeferTxgs; i++ {
		if err := dp.Set("tank", map[string]string{"com.example:tick": fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for _, r := range dp.m.Datasets {
		if r.Name == "tank/secret" || len(r.Wrapped) > 0 {
			t.Fatalf("dataset record left: %+v", r.Name)
		}
	}
	f, err := os.Open(filepath.Join(dir, "d0", "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, old.PSize)
	if _, err := f.ReadAt(b, int64(old.Offset)); err == nil && checksumOf(b) == old.Checksum {
		t.Fatal("the metadata block holding the wrapped key is still on the vdev")
	}
}

func checksumOf(b []byte) [16]byte {
	_, bp, _ := pool.Encode(1, pool.BlockSpec{Type: format.TypeMOS}, b)
	return bp.Checksum
}
