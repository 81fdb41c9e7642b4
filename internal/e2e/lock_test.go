package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestPhotoFolderStory is issue 3's user story: unlock, copy a photo
// folder in, take a snapshot, delete a file, get it back from
// .coffer/snapshot, lock, see that nothing is readable, unlock, see it all
// again.
func TestPhotoFolderStory(t *testing.T) {
	d := startDaemon(t)
	mnt := t.TempDir()
	d.ok("pool", "create", "-O", "mountpoint="+mnt, "tank", filepath.Join(t.TempDir(), "v"))
	const pw = "correct horse battery"
	d.okIn(pass(pw), "create", "-o", "encryption=on", "-o", "keyformat=passphrase", "-o", "pbkdf2iters=100000", "tank/photos")
	d.ok("lock", "tank/photos")
	if ks := strings.TrimSpace(d.ok("get", "-H", "-o", "value", "keystatus", "tank/photos")); ks != "unavailable" {
		t.Fatalf("keystatus after lock = %q", ks)
	}
	d.fail(1, "no data on standard input", "unlock", "tank/photos") // empty stdin: no key given
	r := d.run(pass("wrong passphrase"), "unlock", "tank/photos")
	if r.code != 1 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("wrong passphrase: %s", r)
	}
	d.okIn(pass(pw), "unlock", "tank/photos")
	dir := filepath.Join(mnt, "photos")
	// A photo folder from somewhere else.
	src := t.TempDir()
	want := map[string][]byte{}
	for i := 0; i < 12; i++ {
		b := make([]byte, 50_000+i*20_000)
		rand.Read(b)
		name := fmt.Sprintf("2026/trip/IMG_%04d.jpg", i)
		want[name] = b
		os.MkdirAll(filepath.Join(src, filepath.Dir(name)), 0o755)
		os.WriteFile(filepath.Join(src, name), b, 0o644)
	}
	if out, err := runCmd("cp", "-a", filepath.Join(src, "2026"), dir+"/"); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	d.ok("snapshot", "tank/photos@before")
	victim := filepath.Join(dir, "2026/trip/IMG_0003.jpg")
	if err := os.Remove(victim); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(victim); !os.IsNotExist(err) {
		t.Fatalf("deleted file still there: %v", err)
	}
	back, err := os.ReadFile(filepath.Join(dir, ".coffer/snapshot/before/2026/trip/IMG_0003.jpg"))
	if err != nil || !bytes.Equal(back, want["2026/trip/IMG_0003.jpg"]) {
		t.Fatalf("file from .coffer/snapshot: %v", err)
	}
	if err := os.WriteFile(victim, back, 0o644); err != nil {
		t.Fatal(err)
	}
	// Lock: nothing is readable, not even names.
	d.ok("lock", "tank/photos")
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("locked mountpoint lists %d entries", len(ents))
	}
	d.fail(1, "encryption key not loaded", "mount", "tank/photos")
	// Unlock: everything is back.
	d.okIn(pass(pw), "unlock", "tank/photos")
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("%s after unlock: %v", name, err)
		}
	}
	// lock refuses a busy file system without -f.
	f, err := os.Open(filepath.Join(dir, "2026/trip/IMG_0001.jpg"))
	if err != nil {
		t.Fatal(err)
	}
	d.fail(1, "busy", "lock", "tank/photos")
	d.ok("lock", "-f", "tank/photos")
	f.Close()
	// unlock -f moves a non-empty mount directory aside. (lock removed the
	// directory that mount had made; a program makes it again.)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("mount directory left after lock: %v", err)
	}
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "stray.txt"), []byte("left behind"), 0o644)
	if r := d.run(pass(pw), "unlock", "tank/photos"); r.code != 1 || !strings.Contains(r.stderr, "not empty") {
		t.Fatalf("unlock onto a non-empty directory: %s", r)
	}
	d.ok("unload-key", "tank/photos") // the failed unlock loaded the key
	r = d.run(pass(pw), "unlock", "-f", "tank/photos")
	if r.code != 0 || !strings.Contains(r.stderr, "moved non-empty mount directory aside") {
		t.Fatalf("unlock -f: %s", r)
	}
	if _, err := os.Stat(filepath.Join(dir, "2026/trip/IMG_0005.jpg")); err != nil {
		t.Fatalf("after unlock -f: %v", err)
	}
	d.ok("lock", "tank/photos")
}

func runCmd(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}
