package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReceiveMounts: as zfs receive, a received file system is mounted
// unless -u is given; a raw-received encrypted one whose key is not
// loaded stays unmounted without an error.
func TestReceiveMounts(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	mnt := t.TempDir()
	d.ok("pool", "create", "-O", "mountpoint="+mnt, "tank", filepath.Join(t.TempDir(), "v"))
	d.ok("create", "tank/a")
	d.okIn(pass("correct horse battery"), createArgs(fastEnc, "tank/e")...)
	if !strings.Contains(d.ok("mount"), "tank/a") {
		d.ok("mount", "tank/a")
	}
	if err := os.WriteFile(filepath.Join(mnt, "a", "hello"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d.ok("snapshot", "tank/a@s", "tank/e@s")
	send := func(flags, snap, recv string) {
		t.Helper()
		env := "COFFER_SOCKET=" + shq(d.sock) + " "
		pipe(t, env+shq(bin)+" send "+flags+" "+snap, env+shq(bin)+" receive "+recv)
	}
	send("", "tank/a@s", "tank/b")
	mounted := d.ok("mount")
	if !strings.Contains(mounted, "tank/b  "+filepath.Join(mnt, "b")) {
		t.Fatalf("received tank/b is not mounted:\n%s", mounted)
	}
	if b, err := os.ReadFile(filepath.Join(mnt, "b", "hello")); err != nil || string(b) != "hello\n" {
		t.Fatalf("received file: %q, %v", b, err)
	}
	send("", "tank/a@s", "-u tank/c")
	if strings.Contains(d.ok("mount"), "tank/c") {
		t.Fatal("receive -u mounted tank/c")
	}
	d.ok("mount", "tank/c")
	send("-w", "tank/e@s", "tank/r") // raw: key not loaded, nothing to mount
	if strings.Contains(d.ok("mount"), "tank/r") {
		t.Fatal("a raw-received dataset without its key is mounted")
	}
	if got := d.prop("tank/r", "keystatus"); got != "unavailable" {
		t.Fatalf("tank/r keystatus %q", got)
	}
}
