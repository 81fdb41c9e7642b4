package dsl

import (
	"bytes"
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"

	"coffer/internal/format"
	"coffer/internal/pool"
)

func newNamedPool(t *testing.T, name string) (*Pool, string) {
	t.Helper()
	dir := t.TempDir()
	dp, err := CreatePool(name, []pool.VdevSpec{{Paths: []string{filepath.Join(dir, "d0")}}}, false, nil, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dp.Close() })
	return dp, dir
}

// files writes n objects of random sizes and returns id -> content.
func files(t *testing.T, dp *Pool, ds string, n int) map[uint64][]byte {
	t.Helper()
	os, err := dp.Objset(ds)
	if err != nil {
		t.Fatal(err)
	}
	out := map[uint64][]byte{}
	for i := 0; i < n; i++ {
		o, err := os.NewObject(format.ObjectPlain, 128<<10, dp.NextTxg())
		if err != nil {
			t.Fatal(err)
		}
		b := make([]byte, 1000+i*97_000)
		rand.Read(b)
		if err := o.Write(b, 0); err != nil {
			t.Fatal(err)
		}
		if err := o.SetBonus([]byte("bonus-" + ds)); err != nil {
			t.Fatal(err)
		}
		out[o.ID()] = b
	}
	if err := dp.Sync(); err != nil {
		t.Fatal(err)
	}
	return out
}

func verify(t *testing.T, dp *Pool, ds string, want map[uint64][]byte) {
	t.Helper()
	for id, b := range want {
		got, err := readFile(dp, ds, id, len(b))
		if err != nil {
			t.Fatalf("%s object %d: %v", ds, id, err)
		}
		if !bytes.Equal(got, b) {
			t.Fatalf("%s object %d differs", ds, id)
		}
	}
}

func send(t *testing.T, dp *Pool, snap string, o SendOpts) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := dp.Send(context.Background(), snap, o, &buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func state(dp *Pool) string {
	rows, _ := dp.List(ListOpts{Types: 7, Props: []string{"guid", "referenced", "keystatus"}})
	var b strings.Builder
	for _, r := range rows {
		b.WriteString(r.Name + " " + r.Props["guid"].Stored + " " + r.Props["referenced"].Stored + " " + r.Props["keystatus"].Stored + "\n")
	}
	return b.String()
}

func TestRawSendReceive(t *testing.T) {
	src, _ := newNamedPool(t, "tank")
	dst, dstDir := newNamedPool(t, "backup")
	encProps := map[string]string{"keyformat": "passphrase", "pbkdf2iters": "100000"}
	if err := src.Create(nil, "tank/media", CreateOpts{Props: encProps, Key: []byte(pass)}); err != nil {
		t.Fatal(err)
	}
	want := files(t, src, "tank/media", 6)
	if err := src.Snapshot([]string{"tank/media@first"}, false, nil); err != nil {
		t.Fatal(err)
	}
	runs0, _ := src.p.ReadAheadRuns()
	full := send(t, src, "tank/media@first", SendOpts{Raw: true})
	// Files of several blocks, written one after another, are read in
	// runs: one read of the block store for blocks stored side by side.
	if runs, _ := src.p.ReadAheadRuns(); runs == runs0 {
		t.Fatal("a raw send of files of several blocks read every block alone")
	}
	if bytes.Contains(full, []byte("bonus-tank/media")) || bytes.Contains(full, want[2][:64]) {
		t.Fatal("plaintext in a raw stream")
	}
	if _, err := dst.Receive(context.Background(), "backup/media", RecvOpts{}, bytes.NewReader(full)); err != nil {
		t.Fatal(err)
	}
	if ks := get(t, dst, "backup/media", "keystatus").Stored; ks != "unavailable" {
		t.Fatalf("keystatus of the replica: %q", ks)
	}
	checked(t, dst)
	// Change 1 object, add one, then an incremental.
	os, _ := src.Objset("tank/media")
	o, _ := os.Object(2)
	patch := make([]byte, 5000)
	rand.Read(patch)
	o.Write(patch, 100)
	copy(want[2][100:], patch)
	for id, b := range files(t, src, "tank/media", 1) {
		want[id] = b
	}
	if err := src.Snapshot([]string{"tank/media@second"}, false, nil); err != nil {
		t.Fatal(err)
	}
	inc := send(t, src, "tank/media@second", SendOpts{Raw: true, From: "@first"})
	if len(inc) > len(full)/2 {
		t.Fatalf("incremental stream %d bytes vs full %d: not proportional to the change", len(inc), len(full))
	}
	before := state(dst)
	// Bad streams change nothing.
	bad := map[string][]byte{
		"truncated": inc[:len(inc)-50],
		"flipped":   flip(inc, len(inc)/2),
		"empty":     nil,
	}
	for name, s := range bad {
		if _, err := dst.Receive(context.Background(), "backup/media", RecvOpts{}, bytes.NewReader(s)); err == nil {
			t.Fatalf("%s stream accepted", name)
		} else if strings.Contains(err.Error(), "\n") {
			t.Fatalf("%s: multi-line error %q", name, err)
		}
		if got := state(dst); got != before {
			t.Fatalf("%s stream changed the target:\n%s\nwas\n%s", name, got, before)
		}
	}
	if _, err := dst.Receive(context.Background(), "backup/other", RecvOpts{}, bytes.NewReader(inc)); err == nil {
		t.Fatal("incremental into a dataset without its base accepted")
	}
	if _, err := dst.Receive(context.Background(), "backup/media", RecvOpts{}, bytes.NewReader(inc)); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Receive(context.Background(), "backup/media", RecvOpts{}, bytes.NewReader(inc)); err == nil {
		t.Fatal("replayed incremental accepted")
	}
	checked(t, dst)
	// change-key on the source reaches the replica with the next incremental.
	if err := src.ChangeKey("tank/media", ChangeKeyOpts{Props: map[string]string{"pbkdf2iters": "100000"}, Key: []byte("a brand new passphrase")}); err != nil {
		t.Fatal(err)
	}
	src.Snapshot([]string{"tank/media@third"}, false, nil)
	if _, err := dst.Receive(context.Background(), "backup/media", RecvOpts{}, bytes.NewReader(send(t, src, "tank/media@third", SendOpts{Raw: true, From: "@second"}))); err != nil {
		t.Fatal(err)
	}
	dst = reimport(t, dst, dstDir)
	if err := dst.LoadKey("backup/media", false, "", []byte(pass)); CodeOf(err) != CodeKey {
		t.Fatalf("old passphrase on the replica after change-key: %v", err)
	}
	if err := dst.LoadKey("backup/media", false, "", []byte("a brand new passphrase")); err != nil {
		t.Fatal(err)
	}
	verify(t, dst, "backup/media", want)
	if _, err := dst.SnapshotObjset("backup/media@first"); err != nil {
		t.Fatal(err)
	}
	checked(t, dst)
	dst.Close()
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x10
	return c
}

func TestReplicateKeepsEncryptionRoots(t *testing.T) {
	src, _ := newNamedPool(t, "tank")
	dst, _ := newNamedPool(t, "backup")
	if err := src.Create(nil, "tank/media", CreateOpts{Props: map[string]string{"keyformat": "passphrase", "pbkdf2iters": "100000"}, Key: []byte(pass)}); err != nil {
		t.Fatal(err)
	}
	src.Create(nil, "tank/media/photos", CreateOpts{})
	want := files(t, src, "tank/media/photos", 3)
	src.Snapshot([]string{"tank/media@s"}, true, nil)
	s := send(t, src, "tank/media@s", SendOpts{Raw: true, Replicate: true})
	got, err := dst.Receive(context.Background(), "backup/media", RecvOpts{}, bytes.NewReader(s))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("received %v", got)
	}
	if root := get(t, dst, "backup/media/photos", "encryptionroot").Stored; root != "backup/media" {
		t.Fatalf("encryptionroot of the replicated child = %q, want backup/media", root)
	}
	if err := dst.LoadKey("backup/media", false, "", []byte(pass)); err != nil {
		t.Fatal(err)
	}
	verify(t, dst, "backup/media/photos", want)
	checked(t, dst)
}

func TestPlainSendIntoEncryptedParent(t *testing.T) {
	src, _ := newNamedPool(t, "tank")
	dst, _ := newNamedPool(t, "backup")
	src.Create(nil, "tank/docs", CreateOpts{})
	want := files(t, src, "tank/docs", 4)
	src.Snapshot([]string{"tank/docs@a"}, false, nil)
	if err := dst.Create(nil, "backup/vault", CreateOpts{Props: map[string]string{"keyformat": "raw"}, Key: bytes.Repeat([]byte{3}, 32)}); err != nil {
		t.Fatal(err)
	}
	if _, err := dst.Receive(context.Background(), "backup/vault/docs", RecvOpts{}, bytes.NewReader(send(t, src, "tank/docs@a", SendOpts{}))); err != nil {
		t.Fatal(err)
	}
	if root := get(t, dst, "backup/vault/docs", "encryptionroot").Stored; root != "backup/vault" {
		t.Fatalf("plaintext received under an encrypted parent: encryptionroot %q", root)
	}
	verify(t, dst, "backup/vault/docs", want)
	// Incremental plaintext: a change and a freed object.
	os, _ := src.Objset("tank/docs")
	var first uint64
	for id := range want {
		if first == 0 || id < first {
			first = id
		}
	}
	os.FreeObject(first)
	delete(want, first)
	for id, b := range files(t, src, "tank/docs", 1) {
		want[id] = b
	}
	src.Snapshot([]string{"tank/docs@b"}, false, nil)
	if _, err := dst.Receive(context.Background(), "backup/vault/docs", RecvOpts{}, bytes.NewReader(send(t, src, "tank/docs@b", SendOpts{From: "tank/docs@a"}))); err != nil {
		t.Fatal(err)
	}
	verify(t, dst, "backup/vault/docs", want)
	dos, _ := dst.Objset("backup/vault/docs")
	if _, err := dos.Object(first); err == nil {
		t.Fatal("object freed on the sender still exists on the receiver")
	}
	checked(t, dst)
	// A raw stream of an unencrypted dataset cannot land under an encrypted parent.
	if _, err := dst.Receive(context.Background(), "backup/vault/raw", RecvOpts{}, bytes.NewReader(send(t, src, "tank/docs@a", SendOpts{Raw: true}))); err == nil {
		t.Fatal("unencrypted raw stream received under an encrypted parent")
	}
}

func TestResumableReceive(t *testing.T) {
	src, _ := newNamedPool(t, "tank")
	dst, dstDir := newNamedPool(t, "backup")
	if err := src.Create(nil, "tank/media", CreateOpts{Props: map[string]string{"keyformat": "raw"}, Key: bytes.Repeat([]byte{5}, 32)}); err != nil {
		t.Fatal(err)
	}
	want := files(t, src, "tank/media", 8)
	src.Snapshot([]string{"tank/media@s1"}, false, nil)
	full := send(t, src, "tank/media@s1", SendOpts{Raw: true})
	// Interrupted twice, resumed from the token each time.
	cut := full[:len(full)/3]
	if _, err := dst.Receive(context.Background(), "backup/media", RecvOpts{Resumable: true}, bytes.NewReader(cut)); err == nil {
		t.Fatal("truncated stream accepted")
	}
	token := get(t, dst, "backup/media", "receive_resume_token").Stored
	if token == "" {
		t.Fatal("no receive_resume_token after an interrupted receive -s")
	}
	checked(t, dst)
	// A fresh full stream is refused while the state is there.
	if _, err := dst.Receive(context.Background(), "backup/media", RecvOpts{}, bytes.NewReader(full)); err == nil {
		t.Fatal("full stream accepted over an interrupted receive")
	}
	dst = reimport(t, dst, dstDir) // the state survives a restart
	checked(t, dst)
	rest := send(t, src, "", SendOpts{Token: token})
	if len(rest) >= len(full) {
		t.Fatalf("resumed stream %d bytes, full %d: nothing was skipped", len(rest), len(full))
	}
	if _, err := dst.Receive(context.Background(), "backup/media", RecvOpts{Resumable: true}, bytes.NewReader(rest[:len(rest)/2])); err == nil {
		t.Fatal("truncated resumed stream accepted")
	}
	token2 := get(t, dst, "backup/media", "receive_resume_token").Stored
	if token2 == token || token2 == "" {
		t.Fatalf("token did not advance: %q", token2)
	}
	if _, err := dst.Receive(context.Background(), "backup/media", RecvOpts{Resumable: true}, bytes.NewReader(send(t, src, "", SendOpts{Token: token2}))); err != nil {
		t.Fatal(err)
	}
	if tok := get(t, dst, "backup/media", "receive_resume_token").Stored; tok != "" {
		t.Fatalf("token left after completion: %q", tok)
	}
	if err := dst.LoadKey("backup/media", false, "", bytes.Repeat([]byte{5}, 32)); err != nil {
		t.Fatal(err)
	}
	verify(t, dst, "backup/media", want)
	checked(t, dst)
	// receive -A discards a saved state and frees its blocks.
	src.Snapshot([]string{"tank/media@s2"}, false, nil)
	os, _ := src.Objset("tank/media")
	o, _ := os.Object(3)
	o.Write(bytes.Repeat([]byte{1}, 300_000), 0)
	src.Sync()
	src.Snapshot([]string{"tank/media@s3"}, false, nil)
	inc := send(t, src, "tank/media@s3", SendOpts{Raw: true, From: "@s1"})
	if _, err := dst.Receive(context.Background(), "backup/media", RecvOpts{Resumable: true}, bytes.NewReader(inc[:len(inc)/2])); err == nil {
		t.Fatal("truncated incremental accepted")
	}
	if get(t, dst, "backup/media", "receive_resume_token").Stored == "" {
		t.Fatal("no token after an interrupted incremental")
	}
	if err := dst.AbortReceive("backup/media"); err != nil {
		t.Fatal(err)
	}
	if get(t, dst, "backup/media", "receive_resume_token").Stored != "" {
		t.Fatal("token after receive -A")
	}
	checked(t, dst)
	if _, err := dst.Receive(context.Background(), "backup/media", RecvOpts{}, bytes.NewReader(inc)); err != nil {
		t.Fatal(err)
	}
	checked(t, dst)
	dst.Close()
}
