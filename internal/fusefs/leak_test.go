package fusefs_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"coffer/internal/dsl"
)

// scanVdevs reports which of the markers occur in any file under dir.
func scanVdevs(t *testing.T, dir string, markers []string) map[string]bool {
	t.Helper()
	found := map[string]bool{}
	err := filepath.Walk(dir, func(path string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range markers {
			if bytes.Contains(b, []byte(m)) {
				found[m] = true
			}
		}
		return nil
	})
	ok(t, err)
	return found
}

func TestLeakScan(t *testing.T) {
	t.Parallel()
	for _, enc := range []bool{true, false} {
		name := map[bool]string{true: "encrypted", false: "unencrypted"}[enc]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mt := mountNew(t, enc)
			tag := make([]byte, 8)
			_, _ = rand.Read(tag)
			marker := "MARKER" + hex.EncodeToString(tag)
			content := marker + "-content"
			fileName := marker + "-filename"
			dirName := marker + "-dirname"
			xattrVal := marker + "-xattr"
			symTarget := marker + "-symlink"
			markers := []string{content, fileName, dirName, xattrVal, symTarget}

			ok(t, os.Mkdir(filepath.Join(mt.Dir, dirName), 0o755))
			f := filepath.Join(mt.Dir, dirName, fileName)
			ok(t, os.WriteFile(f, []byte(content), 0o644))
			ok(t, unix.Setxattr(f, "user.secret", []byte(xattrVal), 0))
			ok(t, os.Symlink(symTarget, filepath.Join(mt.Dir, "link")))
			mt.unmount(t)
			ok(t, mt.P.DP.Sync())
			// The pool punches freed blocks out of its vdev files, so after destroy
			// the unencrypted markers are gone too: presence is checked before.
			check := func(phase string) {
				found := scanVdevs(t, mt.P.Dir, markers)
				for _, m := range markers {
					if enc && found[m] {
						t.Errorf("%s: %q found in plaintext on the vdev of an encrypted dataset", phase, m)
					}
					if !enc && !found[m] && phase != "after destroy" {
						t.Errorf("%s: %q not found on the vdev of an unencrypted dataset: the scan is blind", phase, m)
					}
				}
			}
			check("after unmount")
			ok(t, mt.P.DP.Snapshot([]string{"tank/fs@s"}, false, nil))
			check("after snapshot")
			_, err := mt.P.DP.Destroy("tank/fs", dsl.DestroyOpts{Recursive: true})
			ok(t, err)
			check("after destroy")
		})
	}
}
