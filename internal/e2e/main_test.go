package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"coffer/internal/hangwatch"
)

// bin is the coffer binary built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "coffer-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin = filepath.Join(dir, "coffer")
	args := []string{"build", "-o", bin}
	if os.Getenv("COFFER_E2E_RACE") == "1" { // the binary under the race detector
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "coffer/cmd/coffer")...)
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build coffer:", err)
		return 1
	}
	flag.Parse()
	stop := hangwatch.Start(dumpDaemons)
	defer stop()
	return m.Run()
}

// running holds the daemons started and not yet stopped.
var running sync.Map // *daemon -> test name

// dumpDaemons asks every running daemon for its goroutines (SIGQUIT) and
// writes its log to w: a hung test's daemon log is otherwise lost with the
// test binary's timeout.
func dumpDaemons(w io.Writer) {
	running.Range(func(k, v any) bool {
		d := k.(*daemon)
		if cmd := d.cmd; cmd != nil {
			_ = cmd.Process.Signal(syscall.SIGQUIT)
			select {
			case <-d.exit:
			case <-time.After(5 * time.Second):
			}
		}
		log := d.log.String()
		if len(log) > 512<<10 {
			log = "...\n" + log[len(log)-512<<10:]
		}
		fmt.Fprintf(w, "=== daemon of %s (state %s), its log:\n%s\n", v, d.state, log)
		return true
	})
}

// syncBuffer collects the daemon's log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// daemon is a running `coffer daemon` with its own state directory and
// socket; every CLI call of a test goes to it.
type daemon struct {
	t     *testing.T
	state string
	sock  string
	env   []string // extra environment of the daemon process
	extra []string // extra daemon arguments
	cmd   *exec.Cmd
	exit  chan struct{}
	log   *syncBuffer
}

// startDaemon starts a daemon on a fresh state directory and waits until it
// answers. It is stopped in t.Cleanup; its log is shown when the test fails.
func startDaemon(t *testing.T, env ...string) *daemon {
	t.Helper()
	return newDaemon(t, env, nil)
}

// newDaemon starts a daemon with env added to its environment and extra
// daemon arguments, in a fresh state directory; it stops when t ends.
func newDaemon(t *testing.T, env, extra []string) *daemon {
	t.Helper()
	// Unix socket paths are limited to 108 bytes: keep it short.
	sdir, err := os.MkdirTemp("", "cof-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sdir) })
	d := &daemon{t: t, state: filepath.Join(t.TempDir(), "state"), sock: filepath.Join(sdir, "s.sock"), env: env, extra: extra, log: &syncBuffer{}}
	t.Cleanup(func() {
		d.stop()
		if strings.Contains(d.log.String(), "WARNING: DATA RACE") {
			t.Errorf("the race detector reported a data race in the daemon")
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.log.String())
		}
	})
	d.start()
	return d
}

func (d *daemon) start() {
	d.t.Helper()
	cmd := exec.Command(bin, append([]string{"daemon", "--state", d.state, "--socket", d.sock, "--log-level", "debug"}, d.extra...)...)
	cmd.Env = append(os.Environ(), d.env...)
	cmd.Stdout, cmd.Stderr = d.log, d.log
	if err := cmd.Start(); err != nil {
		d.t.Fatalf("start daemon: %v", err)
	}
	d.cmd = cmd
	running.Store(d, d.t.Name())
	d.exit = make(chan struct{})
	go func() { _ = cmd.Wait(); close(d.exit) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		select {
		case <-d.exit:
			d.t.Fatalf("daemon exited at start: %v\n%s", cmd.ProcessState, d.log.String())
		default:
		}
		if r := d.run(nil, "pool", "list"); r.code == 0 {
			return
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("daemon does not answer on %s\n%s", d.sock, d.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop sends SIGTERM and waits for the daemon to exit (SIGKILL after 15s).
func (d *daemon) stop() {
	if d.cmd == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exit:
	case <-time.After(15 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exit
		d.t.Errorf("daemon did not stop on SIGTERM within 15s")
	}
	d.cmd = nil
	running.Delete(d)
}

// restart is the "power loss" of the seeds: SIGTERM, then the same state.
func (d *daemon) restart() {
	d.t.Helper()
	d.stop()
	d.start()
}

// result is one CLI run.
type result struct {
	args   []string
	stdout string
	stderr string
	code   int
}

func (r result) String() string {
	return fmt.Sprintf("coffer %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// run runs the CLI against d with stdin (nil: empty stdin).
func (d *daemon) run(stdin []byte, args ...string) result {
	return runCLI(d.sock, stdin, args...)
}

func runCLI(sock string, stdin []byte, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), "COFFER_SOCKET="+sock)
	return runResult(cmd, stdin, args)
}

// ok runs a command that must succeed with nothing on stderr; it returns stdout.
func (d *daemon) ok(args ...string) string {
	d.t.Helper()
	return d.okIn(nil, args...)
}

func (d *daemon) okIn(stdin []byte, args ...string) string {
	d.t.Helper()
	r := d.run(stdin, args...)
	if r.code != 0 || r.stderr != "" {
		d.t.Fatalf("want success, got %s", r)
	}
	return r.stdout
}

// fail runs a command that must fail with code and a message containing want.
func (d *daemon) fail(code int, want string, args ...string) result {
	d.t.Helper()
	return d.failIn(nil, code, want, args...)
}

func (d *daemon) failIn(stdin []byte, code int, want string, args ...string) result {
	d.t.Helper()
	r := d.run(stdin, args...)
	checkFail(d.t, r, code, want)
	return r
}

// checkFail checks the error contract of docs/cli.md: exit 1 prints exactly
// one line on stderr ("cannot ...: ..." for daemon errors); exit 2 prints a
// one-line reason then the usage lines. Nothing goes to stdout.
func checkFail(t *testing.T, r result, code int, want string) {
	t.Helper()
	if r.code != code {
		t.Errorf("want exit %d, got %s", code, r)
		return
	}
	if r.stdout != "" {
		t.Errorf("stdout not empty on error: %s", r)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if !strings.HasSuffix(r.stderr, "\n") || lines[0] == "" {
		t.Errorf("stderr is not newline-terminated lines: %s", r)
		return
	}
	if !strings.Contains(lines[0], want) {
		t.Errorf("stderr first line %q does not contain %q: %s", lines[0], want, r)
	}
	switch code {
	case 1:
		if len(lines) != 1 {
			t.Errorf("want exactly one line on stderr, got %d: %s", len(lines), r)
		}
	case 2:
		if len(lines) < 2 || !strings.HasPrefix(lines[1], "usage: coffer ") {
			t.Errorf("want reason then usage lines on stderr: %s", r)
		}
		for _, l := range lines[2:] {
			if !strings.HasPrefix(l, "       coffer ") {
				t.Errorf("stray line %q after usage: %s", l, r)
			}
		}
	}
}

// cannot asserts the zfs style of a one-line daemon error.
func cannot(t *testing.T, r result) {
	t.Helper()
	if !strings.HasPrefix(r.stderr, "cannot ") || !strings.Contains(r.stderr, ": ") {
		t.Errorf("error is not in zfs style (cannot ...: ...): %q", r.stderr)
	}
}

// props reads properties of one dataset as exact values.
func (d *daemon) props(ds string, names ...string) map[string]string {
	d.t.Helper()
	out := d.ok("get", "-H", "-p", "-o", "property,value", strings.Join(names, ","), ds)
	m := map[string]string{}
	for _, l := range lines(out) {
		k, v, ok := strings.Cut(l, "\t")
		if !ok {
			d.t.Fatalf("get -H: line without tab: %q", l)
		}
		m[k] = v
	}
	return m
}

// prop reads one exact property value.
func (d *daemon) prop(ds, name string) string {
	d.t.Helper()
	return strings.TrimSuffix(d.ok("get", "-H", "-p", "-o", "value", name, ds), "\n")
}

// sources reads property -> source of one dataset.
func (d *daemon) sources(ds string, names ...string) map[string]string {
	d.t.Helper()
	out := d.ok("get", "-H", "-o", "property,source", strings.Join(names, ","), ds)
	m := map[string]string{}
	for _, l := range lines(out) {
		k, v, _ := strings.Cut(l, "\t")
		m[k] = v
	}
	return m
}

// names lists datasets with coffer list -H -o name.
func (d *daemon) names(args ...string) []string {
	d.t.Helper()
	return lines(d.ok(append([]string{"list", "-H", "-o", "name"}, args...)...))
}

func lines(s string) []string {
	s = strings.TrimSuffix(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

// snapshotState is everything a refused command must leave as it was:
// the dataset tree with guids and space, every property with its source,
// and the pools. Values that follow the host file system's free space
// (available, pool free) are left out.
func (d *daemon) snapshotState() string {
	d.t.Helper()
	var b strings.Builder
	b.WriteString(d.ok("list", "-t", "all", "-H", "-p", "-o", "name,guid,used"))
	for _, l := range lines(d.ok("get", "-H", "-p", "all")) {
		f := strings.Split(l, "\t")
		if len(f) == 4 && f[1] == "available" {
			continue
		}
		b.WriteString(l + "\n")
	}
	b.WriteString(d.ok("pool", "list", "-H", "-p", "-o", "name,guid,health"))
	return b.String()
}

// unchanged runs f and fails when the state differs afterwards.
func (d *daemon) unchanged(what string, f func()) {
	d.t.Helper()
	before := d.snapshotState()
	f()
	after := d.snapshotState()
	if before != after {
		d.t.Errorf("%s changed the state:\n%s", what, diffLines(before, after))
	}
}

func diffLines(a, b string) string {
	in := map[string]int{}
	for _, l := range lines(a) {
		in[l]++
	}
	for _, l := range lines(b) {
		in[l]--
	}
	var out []string
	for l, n := range in {
		switch {
		case n > 0:
			out = append(out, "- "+l)
		case n < 0:
			out = append(out, "+ "+l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// newPool creates a single-vdev pool on a fresh directory and returns the
// directory.
func (d *daemon) newPool(name string) string {
	d.t.Helper()
	dir := filepath.Join(d.t.TempDir(), name+"-vdev")
	// File systems mount under a temporary directory, not /<pool> on the host.
	d.ok("pool", "create", "-O", "mountpoint="+filepath.Join(d.t.TempDir(), "mnt"), name, dir)
	return dir
}

// newPoolDefaultMountpoint creates a pool whose file systems keep the zfs
// default mountpoint /<pool>/<path>, for tests of that default.
func (d *daemon) newPoolDefaultMountpoint(name string) string {
	d.t.Helper()
	dir := filepath.Join(d.t.TempDir(), name+"-vdev")
	d.ok("pool", "create", name, dir)
	return dir
}

// passphrase encodes a passphrase as piped stdin.
func pass(s string) []byte { return []byte(s + "\n") }

// fastEnc are the create options of a passphrase root with cheap PBKDF2.
var fastEnc = []string{"-o", "encryption=on", "-o", "keyformat=passphrase", "-o", "pbkdf2iters=100000"}

func createArgs(opts []string, ds string) []string {
	return append(append([]string{"create"}, opts...), ds)
}

// writeFile writes a key file and returns its file:// URL.
func writeKey(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return "file://" + p
}

// mustJSON decodes one line of JSON output strictly.
func mustJSON(t *testing.T, out string, v any) {
	t.Helper()
	if strings.Count(out, "\n") != 1 || !strings.HasSuffix(out, "\n") {
		t.Errorf("-j output is not one line: %q", out)
	}
	dec := json.NewDecoder(strings.NewReader(out))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("-j output does not decode: %v\n%s", err, out)
	}
	if dec.More() {
		t.Errorf("-j output has trailing data: %q", out)
	}
}
