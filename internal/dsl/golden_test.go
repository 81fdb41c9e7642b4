package dsl_test

// The golden pool images of format versions 1 and 2.
//
// testdata/golden-vN/d0 is a vdev directory written once by an earlier
// coffer and checked in. TestGoldenPoolV1 and TestGoldenPoolV2 import a
// copy, load its keys and read every file back. They must pass for as long
// as coffer claims to read the version: if one fails, the change broke
// existing pools. Never regenerate an image to make a test pass.
// Version 1 pools checksum every block with xxhash64, version 2 pools with
// XXH3-64 (the MOS block with xxhash64); the contents are the same.
//
// An image is made, by the coffer that writes version N, with
//
//	COFFER_REGEN_GOLDEN=N go test ./internal/dsl -run TestGoldenPoolGenerate
//
// Contents (see goldenFiles):
//
//	golden                 filesystem, unencrypted (pool root)
//	golden/plain           filesystem, unencrypted, compression=lz4
//	  object 1             200 KiB text, first 10000 bytes rewritten after @snap1
//	  object 2             sparse: 1000 bytes at offset 300 KiB (blocks 0 and 1 are holes)
//	golden/secret          aes-256-gcm, keyformat=passphrase "golden passphrase", pbkdf2iters=100000
//	  object 1             50 KiB text with a bonus; first 100 bytes rewritten after @snap1
//	golden/secret/child    inherits golden/secret's key; object 1, 5000 bytes with a bonus
//	golden/rawkey          aes-128-ccm, keyformat=raw (goldenRawKey), compression=zstd; object 1, 70 KiB
//	golden/vol             volume, 1 MiB, volblocksize 16K, unencrypted; first 16 KiB written
//	*@snap1                recursive snapshot of golden taken before the rewrites

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"coffer/internal/dsl"
	"coffer/internal/format"
	"coffer/internal/pool"
	"coffer/internal/props"
)

const (
	goldenImage  = "testdata/golden-v1"
	goldenImage2 = "testdata/golden-v2"
	goldenPool   = "golden"
	goldenPass   = "golden passphrase"
	goldenRawKey = "c0ffee00112233445566778899aabbccddeeff0123456789abcdef0011223344" // keyformat=raw, 32 bytes
)

// goldenText is the deterministic content of a golden file.
func goldenText(seed string, n int) []byte {
	b := make([]byte, 0, n+64)
	for i := 0; len(b) < n; i++ {
		b = fmt.Appendf(b, "golden-v1 %s line %06d\n", seed, i)
	}
	return b[:n]
}

type goldenFile struct {
	ds    string
	obj   uint64
	off   uint64 // where the content starts (object 2 of plain is sparse)
	v1    []byte // content at @snap1
	head  []byte // content of the live dataset
	bonus string
}

func goldenFiles() []goldenFile {
	rewrite := func(v1 []byte, n int, seed string) []byte {
		h := append([]byte(nil), v1...)
		copy(h, goldenText(seed, n))
		return h
	}
	plain := goldenText("plain", 200<<10)
	secret := goldenText("secret", 50<<10)
	child := goldenText("child", 5000)
	raw := goldenText("rawkey", 70<<10)
	sparse := goldenText("sparse", 1000)
	vol := goldenText("volume", 16<<10)
	return []goldenFile{
		{ds: "golden/plain", obj: 1, v1: plain, head: rewrite(plain, 10000, "plain v2")},
		{ds: "golden/plain", obj: 2, off: 300 << 10, v1: sparse, head: sparse},
		{ds: "golden/secret", obj: 1, v1: secret, head: rewrite(secret, 100, "secret v2"), bonus: "mode=0600 uid=1000 gid=1000"},
		{ds: "golden/secret/child", obj: 1, v1: child, head: child, bonus: "mode=0644 name=child.txt"},
		{ds: "golden/rawkey", obj: 1, v1: raw, head: raw},
		{ds: "golden/vol", obj: dsl.VolumeObject, v1: vol, head: vol},
	}
}

func rawKey(t *testing.T) []byte {
	k, err := hex.DecodeString(goldenRawKey)
	if err != nil || len(k) != 32 {
		t.Fatalf("raw key: %v", err)
	}
	return k
}

// TestGoldenPoolGenerate writes the golden image of the version this
// coffer writes. It only runs with COFFER_REGEN_GOLDEN=N and refuses to
// overwrite an existing image.
func TestGoldenPoolGenerate(t *testing.T) {
	v := os.Getenv("COFFER_REGEN_GOLDEN")
	if v == "" {
		t.Skip("set COFFER_REGEN_GOLDEN=N to write testdata/golden-vN")
	}
	vdir, err := filepath.Abs(filepath.Join("testdata", "golden-v"+v, "d0"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(vdir); err == nil {
		t.Fatalf("%s exists: the golden image of a format version is never rewritten", vdir)
	}
	dp, err := dsl.CreatePool(goldenPool, []pool.VdevSpec{{Paths: []string{vdir}}}, false, nil, nil, dsl.Options{SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(dp.Create(nil, "golden/plain", dsl.CreateOpts{Props: map[string]string{"compression": "lz4"}}))
	must(dp.Create(nil, "golden/secret", dsl.CreateOpts{
		Props: map[string]string{"encryption": "aes-256-gcm", "keyformat": "passphrase", "pbkdf2iters": "100000"},
		Key:   []byte(goldenPass),
	}))
	must(dp.Create(nil, "golden/secret/child", dsl.CreateOpts{}))
	must(dp.Create(nil, "golden/rawkey", dsl.CreateOpts{
		Props: map[string]string{"encryption": "aes-128-ccm", "keyformat": "raw", "compression": "zstd"},
		Key:   rawKey(t),
	}))
	must(dp.Create(nil, "golden/vol", dsl.CreateOpts{Volume: true, Volsize: 1 << 20,
		Props: map[string]string{"volblocksize": "16384"}}))
	files := goldenFiles()
	for _, f := range files {
		os, err := dp.Objset(f.ds)
		must(err)
		var o interface {
			Write([]byte, uint64) error
			SetBonus([]byte) error
			ID() uint64
		}
		if f.ds == "golden/vol" {
			o, err = os.Object(f.obj)
		} else {
			o, err = os.NewObject(format.ObjectPlain, 128<<10, dp.NextTxg())
		}
		must(err)
		if o.ID() != f.obj {
			t.Fatalf("%s: object id %d, want %d", f.ds, o.ID(), f.obj)
		}
		must(o.Write(f.v1, f.off))
		if f.bonus != "" {
			must(o.SetBonus([]byte(f.bonus)))
		}
		must(dp.Sync())
	}
	must(dp.Snapshot([]string{"golden@snap1"}, true, nil))
	for _, f := range files {
		if bytes.Equal(f.v1, f.head) {
			continue
		}
		os, err := dp.Objset(f.ds)
		must(err)
		o, err := os.Object(f.obj)
		must(err)
		n := len(f.head) // rewrite the differing prefix only
		for n > 0 && f.head[n-1] == f.v1[n-1] {
			n--
		}
		must(o.Write(f.head[:n], f.off))
		must(dp.Sync())
	}
	must(dp.CheckErr())
	must(dp.Export())
	// Only the vdev's files are part of the image.
	for _, name := range []string{"lock", "label.json.tmp"} {
		os.Remove(filepath.Join(vdir, name))
	}
}

// copyImage copies the golden vdev directories of image src into a fresh
// directory.
func copyImage(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatalf("golden image missing: %v", err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if err := os.MkdirAll(filepath.Join(dst, e.Name()), 0o755); err != nil {
			t.Fatal(err)
		}
		files, err := os.ReadDir(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if !f.Type().IsRegular() {
				continue
			}
			in, err := os.Open(filepath.Join(src, e.Name(), f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out, err := os.Create(filepath.Join(dst, e.Name(), f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(out, in); err != nil {
				t.Fatal(err)
			}
			in.Close()
			if err := out.Close(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return dst
}

func importGolden(t *testing.T, image string) (*dsl.Pool, string) {
	t.Helper()
	dir := copyImage(t, image)
	found, err := pool.Scan([]string{dir})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) != 1 || found[0].Name != goldenPool {
		t.Fatalf("scan found %+v", found)
	}
	f := found[0]
	// The label holds the directory the image was made in; import finds the
	// leaf by its GUID in the scanned directory instead.
	want := filepath.Join(dir, "d0")
	if len(f.Dirs) != 1 || f.Dirs[0] != want {
		t.Fatalf("scan dirs %v, want [%s]", f.Dirs, want)
	}
	if got := f.Config.Tops[0].Leaves[0].Path; got == want {
		t.Fatalf("label path %s is the copy's: the test does not exercise relocation", got)
	}
	dp, err := dsl.Import(f, dsl.Options{SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := dp.CheckErr(); err != nil {
			t.Errorf("pool check: %v", err)
		}
		dp.Close()
	})
	return dp, dir
}

func propOf(t *testing.T, dp *dsl.Pool, ds, prop string) string {
	t.Helper()
	rows, err := dp.List(dsl.ListOpts{Names: []string{ds}, Props: []string{prop}, Types: props.TypeAll})
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 {
		t.Fatalf("list %s: %d rows", ds, len(rows))
	}
	return rows[0].Props[prop].Stored
}

func TestGoldenPoolV1(t *testing.T) { testGoldenPool(t, goldenImage) }

func TestGoldenPoolV2(t *testing.T) { testGoldenPool(t, goldenImage2) }

func testGoldenPool(t *testing.T, image string) {
	dp, dir := importGolden(t, image)

	// Properties, before any key is loaded.
	for _, c := range []struct{ ds, prop, want string }{
		{"golden", "encryption", "off"},
		{"golden/plain", "encryption", "off"},
		{"golden/plain", "compression", "lz4"},
		{"golden/secret", "encryption", "aes-256-gcm"},
		{"golden/secret", "encryptionroot", "golden/secret"},
		{"golden/secret", "keyformat", "passphrase"},
		{"golden/secret", "keylocation", "prompt"},
		{"golden/secret", "pbkdf2iters", "100000"},
		{"golden/secret", "keystatus", "unavailable"},
		{"golden/secret/child", "encryption", "aes-256-gcm"},
		{"golden/secret/child", "encryptionroot", "golden/secret"},
		{"golden/secret/child", "keyformat", "passphrase"},
		{"golden/secret/child", "keystatus", "unavailable"},
		{"golden/rawkey", "encryption", "aes-128-ccm"},
		{"golden/rawkey", "encryptionroot", "golden/rawkey"},
		{"golden/rawkey", "keyformat", "raw"},
		{"golden/rawkey", "compression", "zstd"},
		{"golden/vol", "type", "volume"},
		{"golden/vol", "volsize", "1048576"},
		{"golden/vol", "volblocksize", "16384"},
		{"golden/plain@snap1", "type", "snapshot"},
		{"golden/secret@snap1", "encryption", "aes-256-gcm"},
	} {
		if got := propOf(t, dp, c.ds, c.prop); got != c.want {
			t.Errorf("%s %s = %q, want %q", c.ds, c.prop, got, c.want)
		}
	}
	if got := dp.Snapshots("golden/secret/child"); len(got) != 1 || got[0] != "golden/secret/child@snap1" {
		t.Errorf("snapshots of child: %v", got)
	}

	// Locked datasets cannot be read.
	if _, err := dp.Objset("golden/secret"); err == nil || dsl.CodeOf(err) != dsl.CodeKey {
		t.Fatalf("open of locked dataset: %v", err)
	}
	if _, err := dp.SnapshotObjset("golden/rawkey@snap1"); err == nil {
		t.Fatal("open of locked snapshot succeeded")
	}

	// Wrong keys are refused, right ones load.
	if err := dp.LoadKey("golden/secret", false, "", []byte("not the passphrase")); err == nil || dsl.CodeOf(err) != dsl.CodeKey {
		t.Fatalf("wrong passphrase: %v", err)
	}
	if err := dp.LoadKey("golden/secret", false, "", []byte(goldenPass)); err != nil {
		t.Fatal(err)
	}
	wrong := rawKey(t)
	wrong[0] ^= 1
	if err := dp.LoadKey("golden/rawkey", false, "", wrong); err == nil {
		t.Fatal("wrong raw key loaded")
	}
	keyFile := filepath.Join(dir, "golden.key")
	if err := os.WriteFile(keyFile, rawKey(t), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := dp.LoadKey("golden/rawkey", false, "file://"+keyFile, nil); err != nil {
		t.Fatal(err)
	}
	for _, ds := range []string{"golden/secret", "golden/secret/child", "golden/rawkey"} {
		if got := propOf(t, dp, ds, "keystatus"); got != "available" {
			t.Errorf("%s keystatus = %q after load-key", ds, got)
		}
	}

	// Every file reads back, in the live datasets and in the snapshots.
	checkGoldenFiles(t, dp)
}

// checkGoldenFiles reads every golden file back from the live datasets and
// the snapshots; the keys must be loaded.
func checkGoldenFiles(t *testing.T, dp *dsl.Pool) {
	t.Helper()
	for _, f := range goldenFiles() {
		for _, snap := range []bool{false, true} {
			name, want := f.ds, f.head
			if snap {
				name, want = f.ds+"@snap1", f.v1
			}
			t.Run(fmt.Sprintf("%s/%d", name, f.obj), func(t *testing.T) {
				var o interface {
					Read([]byte, uint64) error
					Bonus() ([]byte, error)
				}
				if snap {
					os, err := dp.SnapshotObjset(name)
					if err != nil {
						t.Fatal(err)
					}
					o, err = os.Object(f.obj)
					if err != nil {
						t.Fatal(err)
					}
				} else {
					os, err := dp.Objset(name)
					if err != nil {
						t.Fatal(err)
					}
					o, err = os.Object(f.obj)
					if err != nil {
						t.Fatal(err)
					}
				}
				got := make([]byte, len(want))
				if err := o.Read(got, f.off); err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("content differs from the golden file")
				}
				if f.off > 0 {
					hole := make([]byte, f.off)
					if err := o.Read(hole, 0); err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(hole, make([]byte, f.off)) {
						t.Fatal("hole does not read as zeros")
					}
				}
				b, err := o.Bonus()
				if err != nil {
					t.Fatal(err)
				}
				if string(b) != f.bonus {
					t.Fatalf("bonus %q, want %q", b, f.bonus)
				}
			})
		}
	}
}

// TestGoldenPoolV1Rekey deep-rekeys the datasets of the golden image (an
// aes-128-ccm raw-key root with zstd, an aes-256-gcm passphrase root with a
// child, each with a snapshot), made by an older build: every file still
// reads back, before and after a reimport.
func TestGoldenPoolV1Rekey(t *testing.T) { testGoldenPoolRekey(t, goldenImage) }

func TestGoldenPoolV2Rekey(t *testing.T) { testGoldenPoolRekey(t, goldenImage2) }

func testGoldenPoolRekey(t *testing.T, image string) {
	dir := copyImage(t, image)
	found, err := pool.Scan([]string{dir})
	if err != nil || len(found) != 1 {
		t.Fatal(found, err)
	}
	dp, err := dsl.Import(found[0], dsl.Options{SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := dp.LoadKey("golden/secret", false, "", []byte(goldenPass)); err != nil {
		t.Fatal(err)
	}
	if err := dp.LoadKey("golden/rawkey", false, "", rawKey(t)); err != nil {
		t.Fatal(err)
	}
	res, err := dp.Rekey("golden/secret", dsl.RekeyOpts{Recursive: true})
	if err != nil || len(res) != 2 {
		t.Fatal(res, err)
	}
	if res, err = dp.Rekey("golden/rawkey", dsl.RekeyOpts{}); err != nil || res[0].Objsets != 2 {
		t.Fatal(res, err)
	}
	if err := dp.CheckErr(); err != nil {
		t.Fatal(err)
	}
	checkGoldenFiles(t, dp)
	if err := dp.Close(); err != nil {
		t.Fatal(err)
	}
	found, err = pool.Scan([]string{dir})
	if err != nil || len(found) != 1 {
		t.Fatal(found, err)
	}
	dp2, err := dsl.Import(found[0], dsl.Options{SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer dp2.Close()
	if err := dp2.LoadKey("golden/secret", false, "", []byte(goldenPass)); err != nil {
		t.Fatal(err)
	}
	if err := dp2.LoadKey("golden/rawkey", false, "", rawKey(t)); err != nil {
		t.Fatal(err)
	}
	checkGoldenFiles(t, dp2)
	if err := dp2.CheckErr(); err != nil {
		t.Fatal(err)
	}
}
