package fusefs_test

// End-to-end test of the mount verbs: the real coffer binary as a daemon
// subprocess (so that it can be killed -9), driven through its CLI. It lives
// here, beside the FUSE tests, because the daemon package's tests are not
// this change's to edit.

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

type daemonProc struct {
	bin, state, sock string
	cmd              *exec.Cmd
	log              *bytes.Buffer
}

func buildCoffer(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "coffer")
	out, err := exec.Command("go", "build", "-o", bin, "coffer/cmd/coffer").CombinedOutput()
	if err != nil {
		t.Fatalf("build coffer: %v\n%s", err, out)
	}
	return bin
}

func (d *daemonProc) start(t *testing.T) {
	t.Helper()
	d.log = &bytes.Buffer{}
	d.cmd = exec.Command(d.bin, "daemon", "--state", d.state, "--socket", d.sock)
	d.cmd.Stdout, d.cmd.Stderr = d.log, d.log
	ok(t, d.cmd.Start())
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, _, code := d.cli(t, nil, "pool", "list"); code == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not come up:\n%s", d.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *daemonProc) cli(t *testing.T, stdin []byte, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(d.bin, args...)
	cmd.Env = append(os.Environ(), "COFFER_SOCKET="+d.sock)
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), code
}

func (d *daemonProc) must(t *testing.T, stdin []byte, args ...string) string {
	t.Helper()
	out, errs, code := d.cli(t, stdin, args...)
	if code != 0 {
		t.Fatalf("coffer %s: exit %d: %s\ndaemon log:\n%s", strings.Join(args, " "), code, errs, d.log)
	}
	return out
}

func (d *daemonProc) fails(t *testing.T, want string, args ...string) {
	t.Helper()
	_, errs, code := d.cli(t, nil, args...)
	if code == 0 || !strings.Contains(errs, want) {
		t.Fatalf("coffer %s: exit %d, stderr %q; want failure with %q", strings.Join(args, " "), code, errs, want)
	}
}

func mountedAt(t *testing.T, dir string) bool {
	t.Helper()
	f, err := os.Open("/proc/self/mountinfo")
	ok(t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) > 4 && fs[4] == dir {
			return true
		}
	}
	return false
}

func TestDaemonMounts(t *testing.T) {
	requireFUSE(t)
	t.Parallel()
	top := t.TempDir()
	d := &daemonProc{bin: buildCoffer(t), state: filepath.Join(top, "state"), sock: filepath.Join(top, "sock")}
	mnt := filepath.Join(top, "mnt")
	d.start(t)
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			_ = d.cmd.Process.Signal(syscall.SIGTERM)
			_ = d.cmd.Wait()
		}
		for _, m := range []string{mnt + "/enc", mnt + "/plain", mnt + "/full", mnt} {
			_ = syscall.Unmount(m, syscall.MNT_DETACH)
		}
	})
	pass := []byte("correct horse battery staple\n")
	d.must(t, nil, "pool", "create", "-O", "mountpoint="+mnt, "mtank", filepath.Join(top, "vdev"))
	d.must(t, nil, "create", "mtank/plain")
	d.must(t, pass, "create", "-o", "encryption=on", "-o", "keyformat=passphrase", "-o", "pbkdf2iters=100000", "mtank/enc")
	d.must(t, nil, "mount", "-a")
	list := d.must(t, nil, "mount")
	for _, ds := range []string{"mtank ", "mtank/enc ", "mtank/plain "} {
		if !strings.Contains(list, ds) {
			t.Fatalf("mount list lacks %s:\n%s", ds, list)
		}
	}
	if v := d.must(t, nil, "get", "-H", "-o", "value", "mounted", "mtank/enc"); strings.TrimSpace(v) != "yes" {
		t.Fatalf("mounted = %q", v)
	}
	ok(t, os.WriteFile(filepath.Join(mnt, "enc/secret.txt"), []byte("top secret"), 0o600))
	f, err := os.OpenFile(filepath.Join(mnt, "plain/fsynced.txt"), os.O_CREATE|os.O_WRONLY, 0o644)
	ok(t, err)
	_, err = f.Write([]byte("durable"))
	ok(t, err)
	ok(t, f.Sync())
	ok(t, f.Close())

	d.fails(t, "busy", "unload-key", "mtank/enc")
	d.fails(t, "already mounted", "mount", "mtank/enc")
	d.must(t, nil, "unmount", "mtank/enc")
	if v := d.must(t, nil, "get", "-H", "-o", "value", "mounted", "mtank/enc"); strings.TrimSpace(v) != "no" {
		t.Fatalf("mounted after unmount = %q", v)
	}
	d.must(t, nil, "unload-key", "mtank/enc")
	d.fails(t, "cannot mount 'mtank/enc': encryption key not loaded", "mount", "mtank/enc")

	// A non-empty directory is refused; canmount=off is refused.
	d.must(t, nil, "create", "-o", "mountpoint="+filepath.Join(top, "full"), "mtank/full")
	ok(t, os.MkdirAll(filepath.Join(top, "full"), 0o755))
	ok(t, os.WriteFile(filepath.Join(top, "full/x"), nil, 0o644))
	d.fails(t, "is not empty", "mount", "mtank/full")
	d.must(t, nil, "set", "canmount=off", "mtank/full")
	d.fails(t, "'canmount' property is set to 'off'", "mount", "mtank/full")

	// Killed daemon: the stale mounts must not block the next start.
	ok(t, d.cmd.Process.Kill())
	_ = d.cmd.Wait()
	if _, err := os.Stat(filepath.Join(mnt, "plain")); err == nil {
		t.Log("note: mount still answered after kill")
	}
	d.start(t)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.must(t, nil, "mount"), "mtank/plain") {
		if time.Now().After(deadline) {
			t.Fatalf("mtank/plain not mounted at start:\n%s", d.log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	b, err := os.ReadFile(filepath.Join(mnt, "plain/fsynced.txt"))
	if err != nil || string(b) != "durable" {
		t.Fatalf("fsynced file after kill -9: %q %v\n%s", b, err, d.log)
	}
	// The encrypted one is locked after a restart; after load-key (which,
	// as in zfs, does not mount) mount -a mounts it.
	d.fails(t, "encryption key not loaded", "mount", "mtank/enc")
	d.must(t, pass, "load-key", "mtank/enc")
	d.must(t, nil, "mount", "-a")
	b, err = os.ReadFile(filepath.Join(mnt, "enc/secret.txt"))
	if err != nil || string(b) != "top secret" {
		t.Fatalf("after load-key: %q %v\n%s", b, err, d.log)
	}

	// rollback of a mounted file system remounts it on the old state.
	d.must(t, nil, "snapshot", "mtank/enc@before")
	ok(t, os.WriteFile(filepath.Join(mnt, "enc/secret.txt"), []byte("changed"), 0o600))
	d.must(t, nil, "rollback", "mtank/enc@before")
	b, err = os.ReadFile(filepath.Join(mnt, "enc/secret.txt"))
	if err != nil || string(b) != "top secret" {
		t.Fatalf("after rollback: %q %v\n%s", b, err, d.log)
	}
	if b, err = os.ReadFile(filepath.Join(mnt, "enc/.coffer/snapshot/before/secret.txt")); err != nil || string(b) != "top secret" {
		t.Fatalf("snapshot dir: %q %v", b, err)
	}

	// readonly=on mounts read-only.
	d.must(t, nil, "unmount", "mtank/plain")
	d.must(t, nil, "set", "readonly=on", "mtank/plain")
	d.must(t, nil, "mount", "mtank/plain")
	if err := os.WriteFile(filepath.Join(mnt, "plain/new"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("write on readonly mount: %v", err)
	}
	// unmount -f of a busy file system.
	busy, err := os.Open(filepath.Join(mnt, "plain/fsynced.txt"))
	ok(t, err)
	d.fails(t, "busy", "unmount", "mtank/plain")
	d.must(t, nil, "umount", "-f", filepath.Join(mnt, "plain"))
	busy.Close()

	// Shutdown unmounts everything.
	ok(t, d.cmd.Process.Signal(syscall.SIGTERM))
	ok(t, d.cmd.Wait())
	for _, m := range []string{mnt, mnt + "/enc"} {
		if mountedAt(t, m) {
			t.Fatalf("%s still mounted after shutdown\n%s", m, d.log)
		}
	}
}
