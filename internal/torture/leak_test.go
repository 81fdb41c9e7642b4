package torture

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"coffer/internal/dsl"
	"coffer/internal/format"
	"coffer/internal/pool"
)

// scanFor returns the files under root that contain needle.
func scanFor(t *testing.T, root string, needle []byte) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, needle) {
			hits = append(hits, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

// TestLeakScan writes file contents and bonuses holding marker strings into
// encrypted datasets (compression off and lz4), syncs, snapshots,
// overwrites, destroys, and after every step greps every file of the vdev
// directories: neither marker nor the passphrase may appear. The same
// workload on unencrypted datasets must show both markers, so the scan is
// known to work; once those datasets are destroyed their markers must be
// gone from the disk too (freed blocks are punched out).
func TestLeakScan(t *testing.T) {
	for _, enc := range []bool{true, false} {
		name := "encrypted"
		if !enc {
			name = "unencrypted-control"
		}
		t.Run(name, func(t *testing.T) {
			var r [8]byte
			rand.Read(r[:])
			dataMarker := []byte("COFFER-DATA-MARKER-" + hex.EncodeToString(r[:]))
			bonusMarker := []byte("COFFER-BONUS-MARKER-" + hex.EncodeToString(r[:]))
			dir := t.TempDir()
			vd := filepath.Join(dir, "v")
			dp := createPool(t, pool.VdevSpec{Paths: []string{vd}})
			defer func() { dp.Close() }()
			var datasets []string
			for _, c := range []string{"off", "lz4"} {
				ds := "tank/" + c
				o := dsl.CreateOpts{Props: plainProps(c)}
				if enc {
					o = dsl.CreateOpts{Props: encProps(c), Key: []byte(passphrase)}
				}
				if err := dp.Create(nil, ds, o); err != nil {
					t.Fatal(err)
				}
				datasets = append(datasets, ds)
			}
			for _, ds := range datasets {
				os, err := dp.Objset(ds)
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 4; i++ {
					o, err := os.NewObject(format.ObjectPlain, 128<<10, dp.NextTxg())
					if err != nil {
						t.Fatal(err)
					}
					// Marker in a small file, at block edges of a big one,
					// and repeated (compressible).
					var content []byte
					switch i {
					case 0:
						content = dataMarker
					case 1:
						content = fill(uint64(i), 1, 300<<10)
						copy(content[128<<10-5:], dataMarker)
						copy(content[len(content)-len(dataMarker):], dataMarker)
					default:
						content = bytes.Repeat(append(dataMarker, ' '), 2000)
					}
					if err := o.Write(content, 0); err != nil {
						t.Fatal(err)
					}
					if err := o.SetBonus(bonusMarker); err != nil {
						t.Fatal(err)
					}
				}
			}
			scan := func(step string, wantMarkers bool) {
				t.Helper()
				for _, m := range [][]byte{dataMarker, bonusMarker} {
					hits := scanFor(t, dir, m)
					if wantMarkers && len(hits) == 0 {
						t.Errorf("%s: marker %s not found in the unencrypted pool: the scan is blind", step, m[:18])
					}
					if !wantMarkers && len(hits) > 0 {
						t.Errorf("%s: plaintext %s found in %v", step, m[:18], hits)
					}
				}
				if hits := scanFor(t, dir, []byte(passphrase)); len(hits) > 0 {
					t.Errorf("%s: passphrase found in %v", step, hits)
				}
			}
			if err := dp.Sync(); err != nil {
				t.Fatal(err)
			}
			scan("after sync", !enc)
			if err := dp.Snapshot([]string{"tank/off@s", "tank/lz4@s"}, false, nil); err != nil {
				t.Fatal(err)
			}
			for _, ds := range datasets { // overwrite: the snapshot keeps the markers
				os, _ := dp.Objset(ds)
				o, _ := os.Object(1)
				if err := o.Write(bytes.Repeat([]byte{'x'}, len(dataMarker)), 0); err != nil {
					t.Fatal(err)
				}
			}
			if err := dp.Sync(); err != nil {
				t.Fatal(err)
			}
			scan("after snapshot and overwrite", !enc)
			dp.Close()
			dp = mustImport(t, vd)
			scan("after reimport", !enc)
			if enc {
				if err := dp.LoadKey("tank/off", false, "", []byte(passphrase)); err != nil {
					t.Fatal(err)
				}
				scan("after load-key", false)
			}
			for _, ds := range datasets {
				if _, err := dp.Destroy(ds, dsl.DestroyOpts{Recursive: true}); err != nil {
					t.Fatal(err)
				}
			}
			checked(t, dp)
			// Frees stay deferred for pool.DeferTxgs commits (so that an
			// older uberblock stays importable); then they are punched out.
			for i := 0; i < pool.DeferTxgs; i++ {
				if err := dp.Set("tank", map[string]string{"com.example:tick": fmt.Sprint(i)}); err != nil {
					t.Fatal(err)
				}
			}
			scan("after destroy", false) // destroyed data leaves the disk, encrypted or not
		})
	}
}
