package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestResumeInterruptedReceive: a raw stream cut off by the transport
// leaves a receive_resume_token; send -t continues from it.
func TestResumeInterruptedReceive(t *testing.T) {
	a := startDaemon(t)
	b := startDaemon(t)
	mnt := t.TempDir()
	a.ok("pool", "create", "-O", "mountpoint="+mnt, "tank", filepath.Join(t.TempDir(), "a"))
	b.newPool("backup")
	a.okIn(pass("correct horse battery"), "create", "-o", "keyformat=passphrase", "-o", "pbkdf2iters=100000", "tank/media")
	a.ok("mount", "tank/media")
	if out, err := exec.Command("cp", "-a", "/usr/local/go/src/net/http", filepath.Join(mnt, "media")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	a.ok("snapshot", "tank/media@s1")
	cli := func(d *daemon, args string) string {
		return "COFFER_SOCKET=" + shq(d.sock) + " " + shq(bin) + " " + args
	}
	// The transport dies after 300000 bytes.
	out, err := exec.Command("bash", "-c", cli(a, "send -w tank/media@s1")+" | head -c 300000 | "+cli(b, "receive -s backup/media")).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "send -t") {
		t.Fatalf("interrupted receive -s: %v\n%s", err, out)
	}
	token := strings.TrimSpace(b.ok("get", "-H", "-o", "value", "receive_resume_token", "backup/media"))
	if token == "" || token == "-" {
		t.Fatalf("no resume token: %q", token)
	}
	pipe(t, cli(a, "send -t "+token), cli(b, "receive -s backup/media"))
	if got := strings.TrimSpace(b.ok("get", "-H", "-o", "value", "receive_resume_token", "backup/media")); got != "-" {
		t.Fatalf("token left after the resumed receive: %q", got)
	}
	if got := b.names("-t", "snapshot", "-r", "backup/media"); strings.Join(got, ",") != "backup/media@s1" {
		t.Fatalf("snapshots after resume: %v", got)
	}
	// receive -A with nothing to discard is a clear error.
	b.fail(1, "no interrupted receive", "receive", "-A", "backup/media")
}
