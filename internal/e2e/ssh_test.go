package e2e

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sshHost is a real OpenSSH server on loopback that runs commands as root.
type sshHost struct {
	port int
	key  string
	cmd  *exec.Cmd
}

func startSSHD(t *testing.T) *sshHost {
	t.Helper()
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		sshd = "/usr/sbin/sshd"
	}
	if _, err := os.Stat(sshd); err != nil {
		t.Fatalf("OpenSSH server missing (scripts/test.sh installs openssh-server): %v", err)
	}
	dir := t.TempDir()
	for _, k := range []string{"host", "user"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, k)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	pub, _ := os.ReadFile(filepath.Join(dir, "user.pub"))
	os.WriteFile(filepath.Join(dir, "authorized_keys"), pub, 0o600)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	cfg := fmt.Sprintf(`Port %d
ListenAddress 127.0.0.1
HostKey %s/host
PidFile %s/sshd.pid
AuthorizedKeysFile %s/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
`, port, dir, dir, dir)
	os.WriteFile(filepath.Join(dir, "sshd_config"), []byte(cfg), 0o600)
	os.MkdirAll("/run/sshd", 0o755)
	cmd := exec.Command(sshd, "-D", "-e", "-f", filepath.Join(dir, "sshd_config"))
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &sshHost{port: port, key: filepath.Join(dir, "user"), cmd: cmd}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; ; i++ {
		if out, err := exec.Command("ssh", h.args("true")...).CombinedOutput(); err == nil {
			break
		} else if i > 100 {
			t.Fatalf("sshd does not answer: %v\n%s\nsshd log:\n%s", err, out, log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	return h
}

func (h *sshHost) args(remote string) []string {
	return []string{"-i", h.key, "-p", fmt.Sprint(h.port), "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "LogLevel=ERROR", "root@127.0.0.1", remote}
}

// pipe runs `left | right` in a shell and fails the test unless both succeed.
func pipe(t *testing.T, left, right string) string {
	t.Helper()
	cmd := exec.Command("bash", "-o", "pipefail", "-c", left+" | "+right)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s | %s: %v\n%s", left, right, err, out)
	}
	return string(out)
}

func shq(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// TestSeedBackupOverSSH is the encrypted-backup walkthrough of the seeds:
// raw sends of an encrypted dataset to a backup host over OpenSSH, full and
// incremental; the backup host never sees plaintext or a key; a restore
// with send -w -R back into restore-media reads every file again after
// load-key with the original passphrase.
func TestSeedBackupOverSSH(t *testing.T) {
	h := startSSHD(t)
	main := startDaemon(t)
	backup := startDaemon(t)
	mnt := t.TempDir()
	bmnt := t.TempDir()
	vdevA := filepath.Join(t.TempDir(), "a0")
	vdevB := filepath.Join(t.TempDir(), "b0")
	main.ok("pool", "create", "-O", "mountpoint="+mnt, "tank", vdevA)
	backup.ok("pool", "create", "-O", "mountpoint="+bmnt, "backup", vdevB)
	const pass = "correct horse battery staple"
	main.okIn([]byte(pass+"\n"), "create", "-o", "encryption=on", "-o", "keyformat=passphrase", "-o", "pbkdf2iters=100000", "tank/media")
	main.ok("mount", "tank/media")
	media := filepath.Join(mnt, "media")
	marker := "SEED-PLAINTEXT-MARKER-7f3a"
	write := func(name string, data []byte) {
		p := filepath.Join(media, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, 3<<20)
	rand.Read(big)
	write("photos/beach.jpg", big)
	write("notes/today.txt", []byte(strings.Repeat(marker+" dear diary\n", 200)))
	write("photos/2026/"+marker+".txt", []byte("named with the marker"))
	main.ok("snapshot", "tank/media@first")

	cli := func(d *daemon, args string) string {
		return "COFFER_SOCKET=" + shq(d.sock) + " " + shq(bin) + " " + args
	}
	sshTo := func(d *daemon, args string) string {
		return "ssh " + strings.Join(quoteAll(h.args(cli(d, args))), " ")
	}
	pipe(t, cli(main, "send -w tank/media@first"), sshTo(backup, "receive -u backup/media"))

	// More changes, two more snapshots, then one -I incremental.
	write("notes/tomorrow.txt", []byte(marker+" plans"))
	os.Remove(filepath.Join(media, "photos/2026/"+marker+".txt"))
	main.ok("snapshot", "tank/media@second")
	f, err := os.OpenFile(filepath.Join(media, "photos/beach.jpg"), os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte(marker), 1<<20)
	f.Close()
	main.ok("snapshot", "tank/media@third")
	pipe(t, cli(main, "send -w -I @first tank/media@third"), sshTo(backup, "receive -u backup/media"))

	// The backup host holds ciphertext only.
	if ks := strings.TrimSpace(backup.ok("get", "-H", "-o", "value", "keystatus", "backup/media")); ks != "unavailable" {
		t.Fatalf("backup keystatus = %q", ks)
	}
	snaps := backup.names("-t", "snapshot", "-r", "backup/media")
	if strings.Join(snaps, ",") != "backup/media@first,backup/media@second,backup/media@third" {
		t.Fatalf("backup snapshots = %v", snaps)
	}
	filepath.WalkDir(filepath.Dir(vdevB), func(p string, de fs.DirEntry, err error) error {
		if err != nil || de.IsDir() {
			return nil
		}
		b, _ := os.ReadFile(p)
		if bytes.Contains(b, []byte(marker)) || bytes.Contains(b, []byte(pass)) || bytes.Contains(b, big[:256]) {
			t.Errorf("plaintext on the backup host in %s", p)
		}
		return nil
	})

	// Restore: the backup host sends the replica back, raw, as restore-media.
	pipe(t, "ssh "+strings.Join(quoteAll(h.args(cli(backup, "send -w -R backup/media@third"))), " "), cli(main, "receive -u tank/restore-media"))
	if ks := strings.TrimSpace(main.ok("get", "-H", "-o", "value", "keystatus", "tank/restore-media")); ks != "unavailable" {
		t.Fatalf("restored keystatus before load-key = %q", ks)
	}
	main.fail(1, "incorrect key", "load-key", "-L", "file://"+writeTemp(t, "not the passphrase"), "tank/restore-media")
	main.okIn([]byte(pass+"\n"), "load-key", "tank/restore-media")
	main.ok("mount", "tank/restore-media")
	restored := filepath.Join(mnt, "restore-media")
	compareTrees(t, media, restored)
	// Every snapshot came back too.
	if got := main.names("-t", "snapshot", "-r", "tank/restore-media"); len(got) != 3 {
		t.Fatalf("restored snapshots = %v", got)
	}
	main.ok("unmount", "tank/restore-media")
	main.ok("unmount", "tank/media")
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = shq(s)
	}
	return out
}

func writeTemp(t *testing.T, s string) string {
	p := filepath.Join(t.TempDir(), "k")
	os.WriteFile(p, []byte(s), 0o600)
	return p
}

// compareTrees fails unless both directories hold the same files with the
// same contents and modes.
func compareTrees(t *testing.T, a, b string) {
	t.Helper()
	seen := 0
	err := filepath.WalkDir(a, func(p string, de fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(a, p)
		if strings.HasPrefix(rel, ".coffer") {
			return fs.SkipDir
		}
		q := filepath.Join(b, rel)
		fi, err := os.Lstat(q)
		if err != nil {
			return fmt.Errorf("%s missing in restore: %v", rel, err)
		}
		if de.IsDir() {
			return nil
		}
		ai, _ := de.Info()
		if ai.Mode() != fi.Mode() {
			return fmt.Errorf("%s: mode %v, restored %v", rel, ai.Mode(), fi.Mode())
		}
		x, _ := os.ReadFile(p)
		y, _ := os.ReadFile(q)
		if !bytes.Equal(x, y) {
			return fmt.Errorf("%s differs after restore", rel)
		}
		seen++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen < 3 {
		t.Fatalf("only %d files compared", seen)
	}
}
