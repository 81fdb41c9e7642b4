package dsl_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"coffer/internal/dsl"
	"coffer/internal/pool"
)

// Golden send streams of format version 1, made from the golden pool
// image: they must be receivable forever.
//
//	COFFER_REGEN_GOLDEN=1 go test ./internal/dsl -run TestGoldenStreamV1Generate
const (
	goldenRawFull = "testdata/stream-v1-raw-full.cfs"   // golden/secret@snap1, raw
	goldenRawInc  = "testdata/stream-v1-raw-inc.cfs"    // golden/secret @snap1 -> @snap2, raw
	goldenPlain   = "testdata/stream-v1-plain-full.cfs" // golden/plain@snap1, plaintext
)

func TestGoldenStreamV1Generate(t *testing.T) {
	if os.Getenv("COFFER_REGEN_GOLDEN") != "1" {
		t.Skip("set COFFER_REGEN_GOLDEN=1 to write the golden streams")
	}
	for _, f := range []string{goldenRawFull, goldenRawInc, goldenPlain} {
		if _, err := os.Stat(f); err == nil {
			t.Fatalf("%s exists: remove it first (the format is frozen)", f)
		}
	}
	dp, _ := importGolden(t, goldenImage)
	if err := dp.Snapshot([]string{"golden/secret@snap2"}, false, nil); err != nil {
		t.Fatal(err)
	}
	write := func(path, snap string, o dsl.SendOpts) {
		var b bytes.Buffer
		if err := dp.Send(context.Background(), snap, o, &b); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(goldenRawFull, "golden/secret@snap1", dsl.SendOpts{Raw: true})
	write(goldenRawInc, "golden/secret@snap2", dsl.SendOpts{Raw: true, From: "@snap1"})
	if err := dp.LoadKey("golden/secret", false, "", []byte(goldenPass)); err != nil {
		t.Fatal(err)
	}
	write(goldenPlain, "golden/plain@snap1", dsl.SendOpts{})
}

func TestGoldenStreamV1(t *testing.T) {
	dir := t.TempDir()
	dp, err := dsl.CreatePool("restore", []pool.VdevSpec{{Paths: []string{filepath.Join(dir, "d0")}}}, false, nil, nil, dsl.Options{SyncInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	recv := func(path, target string) {
		t.Helper()
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("golden stream missing: %v", err)
		}
		if _, err := dp.Receive(context.Background(), target, dsl.RecvOpts{}, bytes.NewReader(b)); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	recv(goldenRawFull, "restore/secret")
	recv(goldenRawInc, "restore/secret")
	recv(goldenPlain, "restore/plain")
	if got := propOf(t, dp, "restore/secret", "keystatus"); got != "unavailable" {
		t.Fatalf("keystatus %q", got)
	}
	if err := dp.LoadKey("restore/secret", false, "", []byte(goldenPass)); err != nil {
		t.Fatal(err)
	}
	for _, f := range goldenFiles() {
		var ds string
		var want []byte
		switch f.ds {
		case "golden/secret":
			ds, want = "restore/secret", f.head // @snap2 is the live head
		case "golden/plain":
			ds, want = "restore/plain", f.v1
		default:
			continue
		}
		os, err := dp.Objset(ds)
		if err != nil {
			t.Fatal(err)
		}
		o, err := os.Object(f.obj)
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(want))
		if err := o.Read(got, f.off); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s object %d differs after receiving the golden stream (%v)", ds, f.obj, err)
		}
		if f.bonus != "" {
			if b, err := o.Bonus(); err != nil || string(b) != f.bonus {
				t.Fatalf("%s object %d bonus %q (%v)", ds, f.obj, b, err)
			}
		}
	}
	if err := dp.CheckErr(); err != nil {
		t.Fatal(err)
	}
}
