package dsl

import (
	"bytes"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"

	"coffer/internal/format"
	"coffer/internal/pool"
)

const pass = "correct horse battery"

func newPool(t *testing.T) (*Pool, string) {
	t.Helper()
	dir := t.TempDir()
	dp, err := CreatePool("tank", []pool.VdevSpec{{Paths: []string{filepath.Join(dir, "d0")}}}, false, nil, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return dp, dir
}

// checked fails the test when the pool is inconsistent.
func checked(t *testing.T, dp *Pool) {
	t.Helper()
	if err := dp.CheckErr(); err != nil {
		t.Fatal(err)
	}
}

func reimport(t *testing.T, dp *Pool, dir string) *Pool {
	t.Helper()
	if err := dp.Close(); err != nil {
		t.Fatal(err)
	}
	found, err := pool.Scan([]string{dir})
	if err != nil || len(found) != 1 {
		t.Fatalf("scan: %v %v", found, err)
	}
	dp, err = Import(found[0], Options{})
	if err != nil {
		t.Fatal(err)
	}
	return dp
}

func get(t *testing.T, dp *Pool, ds string, prop string) PropValue {
	t.Helper()
	rows, err := dp.List(ListOpts{Names: []string{ds}, Props: []string{prop}, Types: 7})
	if err != nil {
		t.Fatal(err)
	}
	return rows[0].Props[prop]
}

func writeFile(t *testing.T, dp *Pool, ds string, data []byte) uint64 {
	t.Helper()
	os, err := dp.Objset(ds)
	if err != nil {
		t.Fatal(err)
	}
	o, err := os.NewObject(format.ObjectPlain, 128<<10, dp.p.Txg()+1)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Write(data, 0); err != nil {
		t.Fatal(err)
	}
	if err := dp.Sync(); err != nil {
		t.Fatal(err)
	}
	return o.ID()
}

func readFile(dp *Pool, ds string, id uint64, n int) ([]byte, error) {
	os, err := dp.Objset(ds)
	if err != nil {
		return nil, err
	}
	o, err := os.Object(id)
	if err != nil {
		return nil, err
	}
	b := make([]byte, n)
	return b, o.Read(b, 0)
}

func TestEncryptedDatasetLifecycle(t *testing.T) {
	dp, dir := newPool(t)
	encProps := map[string]string{"encryption": "on", "keyformat": "passphrase", "pbkdf2iters": "100000"}
	if err := dp.Create(nil, "tank/media", CreateOpts{Props: encProps, Key: []byte(pass + "\n")}); err != nil {
		t.Fatal(err)
	}
	if err := dp.Create(nil, "tank/media/photos", CreateOpts{}); err != nil {
		t.Fatal(err)
	}
	for prop, want := range map[string]string{"encryption": "aes-256-gcm", "keystatus": "available", "pbkdf2iters": "100000", "encryptionroot": "tank/media", "keyformat": "passphrase"} {
		if got := get(t, dp, "tank/media/photos", prop).Stored; got != want {
			t.Errorf("%s = %q, want %q", prop, got, want)
		}
	}
	if got := get(t, dp, "tank/media", "keylocation"); got.Stored != "prompt" || got.Source != SrcLocal {
		t.Errorf("keylocation = %+v", got)
	}
	// An unencrypted child of an encrypted parent is refused.
	err := dp.Create(nil, "tank/media/plain", CreateOpts{Props: map[string]string{"encryption": "off"}})
	if err == nil || CodeOf(err) != CodeInvalid || strings.Contains(err.Error(), "\n") {
		t.Fatalf("unencrypted child: %v", err)
	}
	if dp.lookup("tank/media/plain") != nil {
		t.Fatal("refused dataset exists")
	}
	data := make([]byte, 1<<20)
	rand.Read(data)
	id := writeFile(t, dp, "tank/media/photos", data)
	if err := dp.Snapshot([]string{"tank/media@first"}, true, nil); err != nil {
		t.Fatal(err)
	}
	if dp.lookup("tank/media/photos@first") == nil {
		t.Fatal("recursive snapshot missing")
	}
	if _, err := dp.UnloadKey("tank/media", false, false); err != nil {
		t.Fatal(err)
	}
	if got := get(t, dp, "tank/media/photos", "keystatus").Stored; got != "unavailable" {
		t.Fatalf("keystatus after unload: %q", got)
	}
	if _, err := readFile(dp, "tank/media/photos", id, 10); CodeOf(err) != CodeKey {
		t.Fatalf("read while locked: %v", err)
	}
	// Locked datasets can still be snapshotted.
	if err := dp.Snapshot([]string{"tank/media/photos@locked"}, false, nil); err != nil {
		t.Fatal(err)
	}
	if err := dp.LoadKey("tank/media", false, "", []byte("wrong passphrase\n")); CodeOf(err) != CodeKey {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if err := dp.LoadKey("tank/media", false, "", []byte("short\n")); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Fatalf("short passphrase: %v", err)
	}
	if err := dp.LoadKey("tank/media", false, "", []byte(pass+"\n")); err != nil {
		t.Fatal(err)
	}
	got, err := readFile(dp, "tank/media/photos", id, len(data))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after load: %v", err)
	}
	// A restart leaves it locked; the key still opens it.
	dp = reimport(t, dp, dir)
	if got := get(t, dp, "tank/media/photos", "keystatus").Stored; got != "unavailable" {
		t.Fatalf("keystatus after restart: %q", got)
	}
	if err := dp.LoadKey("tank/media", false, "", []byte(pass)); err != nil {
		t.Fatal(err)
	}
	if got, err := readFile(dp, "tank/media/photos", id, len(data)); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after restart: %v", err)
	}
	// change-key rewraps: the old passphrase stops working, data stays.
	if err := dp.ChangeKey("tank/media", ChangeKeyOpts{Props: map[string]string{"pbkdf2iters": "100000"}, Key: []byte("new passphrase 2")}); err != nil {
		t.Fatal(err)
	}
	dp = reimport(t, dp, dir)
	if err := dp.LoadKey("tank/media", false, "", []byte(pass)); CodeOf(err) != CodeKey {
		t.Fatalf("old passphrase after change-key: %v", err)
	}
	if err := dp.LoadKey("tank/media", false, "", []byte("new passphrase 2")); err != nil {
		t.Fatal(err)
	}
	if got, err := readFile(dp, "tank/media/photos", id, len(data)); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read after change-key: %v", err)
	}
	checked(t, dp)
	dp.Close()
}

func TestSnapshotSpaceAndDestroy(t *testing.T) {
	dp, dir := newPool(t)
	if err := dp.Create(nil, "tank/fs", CreateOpts{Props: map[string]string{"compression": "off"}}); err != nil {
		t.Fatal(err)
	}
	data := make([]byte, 4<<20)
	rand.Read(data)
	id := writeFile(t, dp, "tank/fs", data)
	ref := dp.lookup("tank/fs").Referenced
	if ref < 4<<20 {
		t.Fatalf("referenced %d after 4 MiB", ref)
	}
	if err := dp.Snapshot([]string{"tank/fs@a"}, false, nil); err != nil {
		t.Fatal(err)
	}
	// Overwrite everything: the snapshot keeps the old blocks.
	os, _ := dp.Objset("tank/fs")
	o, _ := os.Object(id)
	fresh := make([]byte, 4<<20)
	rand.Read(fresh)
	if err := o.Write(fresh, 0); err != nil {
		t.Fatal(err)
	}
	if err := dp.Sync(); err != nil {
		t.Fatal(err)
	}
	checked(t, dp)
	r := dp.lookup("tank/fs")
	if r.UsedBySnaps < 4<<20 {
		t.Fatalf("usedbysnapshots %d", r.UsedBySnaps)
	}
	if u := dp.snapUnique(dp.lookup("tank/fs@a")); u < 4<<20 {
		t.Fatalf("snapshot used %d", u)
	}
	before := dp.p.Space().Allocated
	if _, err := dp.Destroy("tank/fs@a", DestroyOpts{}); err != nil {
		t.Fatal(err)
	}
	if err := dp.Sync(); err != nil { // frees are released at commit
		t.Fatal(err)
	}
	after := dp.p.Space().Allocated
	if before-after < 4<<20 {
		t.Fatalf("destroying the snapshot freed %d bytes", before-after)
	}
	if got, err := readFile(dp, "tank/fs", id, len(fresh)); err != nil || !bytes.Equal(got, fresh) {
		t.Fatalf("live data after snapshot destroy: %v", err)
	}
	// Rollback.
	if err := dp.Snapshot([]string{"tank/fs@b"}, false, nil); err != nil {
		t.Fatal(err)
	}
	o.Write(data[:1<<20], 0)
	dp.Sync()
	if err := dp.Rollback("tank/fs@b", false); err != nil {
		t.Fatal(err)
	}
	if got, err := readFile(dp, "tank/fs", id, len(fresh)); err != nil || !bytes.Equal(got, fresh) {
		t.Fatalf("after rollback: %v", err)
	}
	checked(t, dp)
	// Destroy with snapshots needs -r; then the space comes back.
	if _, err := dp.Destroy("tank/fs", DestroyOpts{}); CodeOf(err) != CodeBusy {
		t.Fatalf("destroy with snapshots: %v", err)
	}
	if _, err := dp.Destroy("tank/fs", DestroyOpts{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	dp = reimport(t, dp, dir)
	defer dp.Close()
	if a := dp.p.Space().Allocated; a > 256<<10 {
		t.Fatalf("allocated after destroying everything: %d", a)
	}
	checked(t, dp)
}
