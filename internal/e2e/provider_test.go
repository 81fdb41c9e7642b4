package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"coffer/internal/kmip/kmiptest"
)

// swtpm is a software TPM on free loopback ports, its state in a temporary
// directory that outlives a stop and start (a machine reboot).
type swtpm struct {
	t     *testing.T
	state string
	port  int
	cmd   *exec.Cmd
}

func startSWTPM(t *testing.T) *swtpm {
	t.Helper()
	for _, tool := range []string{"swtpm", "tpm2_pcrextend"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s missing (scripts/test.sh installs swtpm and tpm2-tools): %v", tool, err)
		}
	}
	s := &swtpm{t: t, state: t.TempDir()}
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *swtpm) start() {
	s.t.Helper()
	for i := 0; ; i++ {
		l, _ := net.Listen("tcp", "127.0.0.1:0")
		s.port = l.Addr().(*net.TCPAddr).Port
		l.Close()
		s.cmd = exec.Command("swtpm", "socket", "--tpm2", "--tpmstate", "dir="+s.state,
			"--server", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", s.port),
			"--ctrl", fmt.Sprintf("type=tcp,port=%d,bindaddr=127.0.0.1", s.port+1),
			"--flags", "not-need-init,startup-clear")
		if err := s.cmd.Start(); err != nil {
			s.t.Fatal(err)
		}
		for j := 0; j < 200; j++ {
			if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", s.port+1)); err == nil {
				c.Close()
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		s.cmd.Process.Kill()
		s.cmd.Wait()
		if i > 3 {
			s.t.Fatal("swtpm did not start")
		}
	}
}

func (s *swtpm) stop() {
	if s.cmd != nil {
		s.cmd.Process.Signal(syscall.SIGTERM)
		s.cmd.Wait()
		s.cmd = nil
	}
}

func (s *swtpm) url() string { return fmt.Sprintf("tcp://127.0.0.1:%d", s.port) }

// extendPCR7 is what a change of the Secure Boot configuration does.
func (s *swtpm) extendPCR7() {
	s.t.Helper()
	cmd := exec.Command("tpm2_pcrextend", "7:sha256="+strings.Repeat("11", 32))
	cmd.Env = append(os.Environ(), fmt.Sprintf("TPM2TOOLS_TCTI=swtpm:host=127.0.0.1,port=%d", s.port))
	if out, err := cmd.CombinedOutput(); err != nil {
		s.t.Fatalf("tpm2_pcrextend: %v %s", err, out)
	}
}

// tpmDaemon is a daemon that uses the software TPM tpm.
func tpmDaemon(t *testing.T, tpm *swtpm, env ...string) *daemon {
	t.Helper()
	return newDaemon(t, env, []string{"--tpm", tpm.url()})
}

// writeIn writes a file into a mounted file system and returns its path.
func (d *daemon) writeIn(ds, name string, b []byte) string {
	d.t.Helper()
	mp := strings.TrimSpace(d.ok("get", "-H", "-o", "value", "mountpoint", ds))
	p := filepath.Join(mp, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		d.t.Fatalf("write into %s: %v", ds, err)
	}
	return p
}

func (d *daemon) ks(ds string) string { return d.prop(ds, "keystatus") }

// TestKeyProviderTPM: keylocation=tpm2: makes a random wrapping key sealed
// by the TPM; the dataset unlocks at every start without a person, while
// the TPM's PCRs match; nothing on disk opens it without the TPM.
func TestKeyProviderTPM(t *testing.T) {
	tpm := startSWTPM(t)
	d := tpmDaemon(t, tpm)
	d.newPool("tank")
	// Bad input first: nothing is created.
	d.unchanged("bad provider create", func() {
		cannot(t, d.fail(1, "needs keyformat=raw", "create", "-o", "keyformat=hex", "-o", "keylocation=tpm2:", "tank/x"))
		cannot(t, d.failIn(pass("a passphrase"), 1, "needs keyformat=raw", "create", "-o", "keyformat=passphrase", "-o", "keylocation=tpm2:", "tank/x"))
		cannot(t, d.fail(1, "invalid keylocation 'tpm2:?pcrs=99'", "create", "-o", "keyformat=raw", "-o", "keylocation=tpm2:?pcrs=99", "tank/x"))
		cannot(t, d.fail(1, "invalid keylocation 'tpm2:7'", "create", "-o", "keyformat=raw", "-o", "keylocation=tpm2:7", "tank/x"))
	})
	d.ok("create", "-o", "keyformat=raw", "-o", "keylocation=tpm2:?pcrs=7", "tank/vault")
	d.ok("create", "tank/vault/docs")
	if v := d.prop("tank/vault", "keylocation"); v != "tpm2:?pcrs=7" {
		t.Fatalf("keylocation %q", v)
	}
	d.ok("mount", "-a")
	data := bytes.Repeat([]byte("sealed by the TPM "), 1000)
	d.writeIn("tank/vault/docs", "f", data)
	d.unchanged("bad provider changes", func() {
		cannot(t, d.fail(1, "never exported", "key", "export", "tank/vault"))
		cannot(t, d.fail(1, "change-key", "set", "keylocation=file:///etc/hostname", "tank/vault"))
		cannot(t, d.fail(1, "-L", "load-key", "-n", "-L", "tpm2:", "tank/vault"))
	})
	if out := d.ok("key", "export", "-r", "tank"); strings.Contains(out, "tank/vault") {
		t.Fatalf("key export -r exports a provider key:\n%s", out)
	}
	d.restart()
	if d.ks("tank/vault") != "available" || d.ks("tank/vault/docs") != "available" {
		t.Fatal("provider root not unlocked at start")
	}
	mp := strings.TrimSpace(d.ok("get", "-H", "-o", "value", "mountpoint", "tank/vault/docs"))
	if b, err := os.ReadFile(filepath.Join(mp, "f")); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("read back after restart: %v", err)
	}
	// Shallow rekey: a new TPM-sealed key; lock and unlock -r with it.
	d.ok("change-key", "tank/vault")
	d.ok("lock", "tank/vault")
	d.ok("unlock", "-r", "tank/vault")
	// To a key file and back to the TPM.
	key := bytes.Repeat([]byte{0x5a}, 32)
	kf := writeKey(t, "k", key)
	d.ok("change-key", "-o", "keylocation="+kf, "tank/vault")
	d.ok("change-key", "-o", "keylocation=tpm2:", "tank/vault")
	os.Remove(strings.TrimPrefix(kf, "file://"))
	// A machine reboot with the same PCRs: still unlocks.
	d.stop()
	tpm.stop()
	tpm.start()
	d.extra = []string{"--tpm", tpm.url()}
	d.start()
	if d.ks("tank/vault") != "available" {
		t.Fatal("not unlocked after a TPM reboot with the same PCRs")
	}
	// PCR 7 changes: the TPM refuses; the daemon says why.
	tpm.extendPCR7()
	d.restart()
	if d.ks("tank/vault") != "unavailable" {
		t.Fatal("unlocked although PCR 7 changed")
	}
	if st := d.ok("keystore", "status"); !strings.Contains(st, "waiting:    tank/vault: tpm2: ") || !strings.Contains(st, "PCR") {
		t.Fatalf("keystore status does not say why tank/vault waits:\n%s", st)
	}
	cannot(t, d.fail(1, "PCR", "load-key", "tank/vault"))
	auditHas(t, d, "create-key", "tank/vault", true)
	auditHas(t, d, "change-key", "tank/vault", true)
	auditHas(t, d, "auto-unlock", "tank/vault", false)
}

// auditHas checks that the audit log has a record of op on dataset with
// outcome ok.
func auditHas(t *testing.T, d *daemon, op, dataset string, ok bool) {
	t.Helper()
	audit, _ := os.ReadFile(filepath.Join(d.state, "audit.log"))
	want := []string{fmt.Sprintf(`"op":%q`, op), fmt.Sprintf(`"ok":%v`, ok)}
	if dataset != "" { // records of keystore operations name no dataset
		want = append(want, fmt.Sprintf(`"dataset":%q`, dataset))
	}
	for _, l := range strings.Split(string(audit), "\n") {
		all := true
		for _, w := range want {
			all = all && strings.Contains(l, w)
		}
		if all {
			return
		}
	}
	t.Errorf("audit log has no %s of %s with ok=%v:\n%s", op, dataset, ok, audit)
}

// TestKeyProviderKMIP: keylocation=kmip://… wraps a random wrapping key
// under a key created in a real PyKMIP server. The pool holds only the key
// ID and the wrapped key: it unlocks at start while the server answers, on
// another host that reaches the same server too, and waits (saying why)
// while the server is down.
func TestKeyProviderKMIP(t *testing.T) {
	srv := kmiptest.Start(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	uri := "kmip://" + srv.Addr + "?ca=" + write("ca.pem", srv.CA) + "&cert=" + write("host.pem", srv.Cert) + "&key=" + write("host.key", srv.Key)
	d := startDaemon(t)
	vdev := d.newPool("tank")
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := l.Addr().String()
	l.Close()
	d.unchanged("bad kmip create", func() {
		cannot(t, d.fail(1, "invalid keylocation", "create", "-o", "keyformat=raw", "-o", "keylocation=kmip://"+srv.Addr, "tank/x"))
		cannot(t, d.fail(1, "unreachable", "create", "-o", "keyformat=raw", "-o", "keylocation="+strings.Replace(uri, srv.Addr, deadAddr, 1), "tank/x"))
		cannot(t, d.fail(1, "no such file", "create", "-o", "keyformat=raw", "-o", "keylocation="+strings.Replace(uri, "host.pem", "nothere.pem", 1), "tank/x"))
		cannot(t, d.fail(1, "needs keyformat=raw", "create", "-o", "keyformat=hex", "-o", "keylocation="+uri, "tank/x"))
		if _, err := os.Stat("/dev/tpmrm0"); err != nil { // a host without a TPM
			cannot(t, d.fail(1, "cannot create 'tank/x': tpm2: no TPM at /dev/tpmrm0", "create", "-o", "keyformat=raw", "-o", "keylocation=tpm2:", "tank/x"))
		}
	})
	d.ok("create", "-o", "keyformat=raw", "-o", "keylocation="+uri, "tank/vault")
	d.ok("create", "-o", "keyformat=raw", "-o", "keylocation="+uri+"&name=coffer-shared", "tank/other")
	d.ok("mount", "-a")
	data := bytes.Repeat([]byte("wrapped in the KMIP server "), 1000)
	d.writeIn("tank/vault", "f", data)
	d.restart()
	if d.ks("tank/vault") != "available" || d.ks("tank/other") != "available" {
		t.Fatal("kmip roots not unlocked at start with the server up")
	}
	mp := d.prop("tank/vault", "mountpoint")
	if b, err := os.ReadFile(filepath.Join(mp, "f")); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("read back after restart: %v", err)
	}
	d.ok("change-key", "tank/vault") // a new wrapping key, wrapped again
	// Another host reaching the same server: import the pool, load the key.
	d.ok("pool", "export", "tank")
	b := startDaemon(t)
	b.ok("pool", "import", "-d", vdev, "tank")
	b.ok("load-key", "tank/vault")
	b.ok("mount", "-a")
	if got, err := os.ReadFile(filepath.Join(b.prop("tank/vault", "mountpoint"), "f")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read on the other host: %v", err)
	}
	b.restart()
	if b.ks("tank/vault") != "available" {
		t.Fatal("not unlocked at start on the other host")
	}
	// The server goes down: the dataset waits and the daemon says why.
	srv.Stop()
	b.restart()
	if b.ks("tank/vault") != "unavailable" {
		t.Fatal("unlocked with the KMIP server down")
	}
	if st := b.ok("keystore", "status"); !strings.Contains(st, "waiting:    tank/vault: kmip "+srv.Addr+": KMIP server unreachable") {
		t.Fatalf("keystore status does not say why tank/vault waits:\n%s", st)
	}
	if st := b.ok("pool", "status", "tank"); !strings.Contains(st, "\n  keys: tank/") || !strings.Contains(st, " tank/vault locked: kmip "+srv.Addr+": KMIP server unreachable") {
		t.Fatalf("pool status does not say why tank/vault waits:\n%s", st)
	}
	if h := b.health(1); !strings.Contains(h, "tank/vault: locked: kmip "+srv.Addr+": KMIP server unreachable") {
		t.Fatalf("health does not say why tank/vault waits:\n%s", h)
	}
	cannot(t, b.fail(1, "unreachable", "load-key", "tank/vault"))
	auditHas(t, b, "auto-unlock", "tank/vault", false)
	auditHas(t, b, "load-key", "tank/vault", true)
}

// TestKeyProviderPKCS11: keylocation=pkcs11:… wraps a random wrapping key
// with a non-extractable AES key in a real SoftHSM2 token.
func TestKeyProviderPKCS11(t *testing.T) {
	module, env, pinFile := softHSM(t)
	uri := fmt.Sprintf("pkcs11:token=coffer;object=coffer-datasets?module-path=%s&pin-source=file://%s", module, pinFile)

	d := startDaemon(t, env)
	d.newPool("tank")
	d.unchanged("bad pkcs11 create", func() {
		cannot(t, d.fail(1, "invalid keylocation", "create", "-o", "keyformat=raw", "-o", "keylocation="+strings.Replace(uri, "pin-source=file://"+pinFile, "pin-value=1234", 1), "tank/x"))
		os.WriteFile(pinFile, []byte("9999"), 0o600)
		cannot(t, d.fail(1, "PIN", "create", "-o", "keyformat=raw", "-o", "keylocation="+uri, "tank/x"))
		os.WriteFile(pinFile, []byte("1234"), 0o600)
		cannot(t, d.fail(1, "token", "create", "-o", "keyformat=raw", "-o", "keylocation="+strings.Replace(uri, "token=coffer", "token=absent", 1), "tank/x"))
	})
	d.ok("create", "-o", "keyformat=raw", "-o", "keylocation="+uri, "tank/vault")
	d.ok("mount", "-a")
	data := bytes.Repeat([]byte("wrapped in the token "), 1000)
	d.writeIn("tank/vault", "f", data)
	d.restart()
	if d.ks("tank/vault") != "available" {
		t.Fatal("pkcs11 root not unlocked at start")
	}
	if b, err := os.ReadFile(filepath.Join(d.prop("tank/vault", "mountpoint"), "f")); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("read back after restart: %v", err)
	}
	os.WriteFile(pinFile, []byte("9999"), 0o600)
	d.restart()
	if d.ks("tank/vault") != "unavailable" {
		t.Fatal("unlocked with a wrong token PIN")
	}
	if st := d.ok("keystore", "status"); !strings.Contains(st, "waiting:    tank/vault: pkcs11 token \"coffer\"") || !strings.Contains(strings.ToLower(st), "pin") {
		t.Fatalf("keystore status does not say why tank/vault waits:\n%s", st)
	}
	os.WriteFile(pinFile, []byte("1234"), 0o600)
	d.ok("unlock", "tank/vault")
	if st := d.ok("keystore", "status"); strings.Contains(st, "waiting:") {
		t.Fatalf("still waiting after unlock:\n%s", st)
	}
	if st := d.ok("pool", "status", "tank"); strings.Contains(st, "keys:") {
		t.Fatalf("pool status still lists a waiting key after unlock:\n%s", st)
	}
}

// TestKeystoreTPMCache: with the system secret wrapped by a KMIP key and a
// TPM-sealed cache (key persistence), the daemon starts and unlocks while
// the KMIP server is down and says so; a changed PCR 7 refuses the cache;
// without a cache the keystore waits and says it has no cached key.
func TestKeystoreTPMCache(t *testing.T) {
	srv := kmiptest.Start(t)
	tpm := startSWTPM(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	uri := "kmip://" + srv.Addr + "?ca=" + write("ca.pem", srv.CA) + "&cert=" + write("host.pem", srv.Cert) + "&key=" + write("host.key", srv.Key) + "&name=coffer-cache-kek"
	d := tpmDaemon(t, tpm)
	d.newPool("tank")
	kf := writeKey(t, "k", []byte(strings.Repeat("cd", 32)))
	d.ok("create", "-o", "keyformat=hex", "-o", "keylocation="+kf, "tank/vault")
	os.Remove(strings.TrimPrefix(kf, "file://"))
	d.ok("mount", "-a")
	data := []byte("kept while the key server is away")
	d.writeIn("tank/vault", "f", data)
	d.unchanged("bad cache requests", func() {
		d.fail(2, "--tpm-cache is only for kmip and pkcs11", "keystore", "protect", "tpm2", "--tpm-cache")
		d.fail(2, "--tpm-cache is only for kmip and pkcs11", "keystore", "protect", "file", "--tpm-cache")
		cannot(t, d.fail(1, "bad PCR", "keystore", "protect", "kmip", uri, "--tpm-cache", "--pcrs", "7,99"))
	})
	d.ok("keystore", "protect", "kmip", uri, "--tpm-cache")
	if st := d.ok("keystore", "status"); !strings.Contains(st, "protection: kmip") || !strings.Contains(st, "cache:      tpm2 (PCRs 7)") {
		t.Fatalf("status after protect --tpm-cache:\n%s", st)
	}
	d.restart()
	if d.ks("tank/vault") != "available" {
		t.Fatal("not unlocked with the KMIP server up")
	}
	if st := d.ok("keystore", "status"); strings.Contains(st, "note:") {
		t.Fatalf("unlocked from the cache although the server is up:\n%s", st)
	}
	// The KMIP server goes away: the TPM cache keeps the host unlocking.
	srv.Stop()
	d.restart()
	if d.ks("tank/vault") != "available" {
		t.Fatal("not unlocked from the TPM cache with the KMIP server down")
	}
	if b, err := os.ReadFile(filepath.Join(d.prop("tank/vault", "mountpoint"), "f")); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("read back: %v", err)
	}
	st := d.ok("keystore", "status")
	if !strings.Contains(st, "health:     unlocked") || !strings.Contains(st, "note:       unlocked from the tpm2 cache (kmip: kmip "+srv.Addr+": KMIP server unreachable") {
		t.Fatalf("status does not say it unlocked from the cache:\n%s", st)
	}
	var js struct {
		Cache string `json:"cache"`
		Note  string `json:"note"`
	}
	json.Unmarshal([]byte(d.ok("keystore", "status", "-j")), &js)
	if js.Cache != "tpm2" || !strings.Contains(js.Note, "unreachable") {
		t.Fatalf("status -j: %+v", js)
	}
	// PCR 7 changes: the TPM refuses the cache; the daemon says both whys.
	tpm.extendPCR7()
	d.restart()
	if d.ks("tank/vault") != "unavailable" {
		t.Fatal("unlocked although PCR 7 changed and the server is down")
	}
	st = d.ok("keystore", "status")
	if !strings.Contains(st, "KMIP server unreachable") || !strings.Contains(st, "the tpm2 cache refused: TPM refused: PCR values differ") {
		t.Fatalf("status does not say why the cache was refused:\n%s", st)
	}
	// No cache: the keystore waits and says it has none.
	d.ok("keystore", "uncache")
	cannot(t, d.fail(1, "there is none", "keystore", "uncache"))
	d.restart()
	if st := d.ok("keystore", "status"); !strings.Contains(st, "KMIP server unreachable") || !strings.Contains(st, "no cached key") || strings.Contains(st, "cache:") {
		t.Fatalf("status without a cache:\n%s", st)
	}
	if h := d.health(1); !strings.Contains(h, "keystore: waiting for the system secret (kmip: ") || !strings.Contains(h, "KMIP server unreachable") || !strings.Contains(h, "no cached key") {
		t.Fatalf("health without a cache:\n%s", h)
	}
	auditHas(t, d, "keystore-protect kmip tpm-cache", "", true)
	auditHas(t, d, "keystore-uncache", "", true)
}

// TestKeyProviderReplica: a raw replica of a kmip:// root carries the
// sealed wrapping key; the backup host never calls the provider by itself
// (keylocation=prompt, nothing waits at start) and opens the replica with
// load-key -L naming its own path to the same KMIP server, as a restore
// after losing the source host would.
func TestKeyProviderReplica(t *testing.T) {
	srv := kmiptest.Start(t)
	write := func(dir, name string, b []byte) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	uriIn := func(dir string) string {
		return "kmip://" + srv.Addr + "?ca=" + write(dir, "ca.pem", srv.CA) + "&cert=" + write(dir, "host.pem", srv.Cert) + "&key=" + write(dir, "host.key", srv.Key)
	}
	src, dst := startDaemon(t), startDaemon(t)
	src.newPool("tank")
	dst.newPool("backup")
	src.ok("create", "-o", "keyformat=raw", "-o", "keylocation="+uriIn(t.TempDir()), "tank/vault")
	src.ok("mount", "-a")
	data := bytes.Repeat([]byte("sealed by the KMIP server, replicated raw "), 2000)
	src.writeIn("tank/vault", "f", data)
	src.ok("snapshot", "tank/vault@s1")
	cli := func(d *daemon, args string) string {
		return "COFFER_SOCKET=" + shq(d.sock) + " " + shq(bin) + " " + args
	}
	pipe(t, cli(src, "send -w tank/vault@s1"), cli(dst, "receive -u backup/vault"))

	if got := dst.prop("backup/vault", "keylocation"); got != "prompt" {
		t.Fatalf("replica keylocation %q, want prompt", got)
	}
	dst.restart() // nothing waits for a provider on the backup host
	if dst.ks("backup/vault") != "unavailable" {
		t.Fatal("replica unlocked by itself")
	}
	dst.health(0)
	dst.unchanged("bad load-key of a replica", func() {
		cannot(t, dst.fail(1, "cannot load key for 'backup/vault': its key was sealed by the kmip key provider of the sending pool: name one with -L", "load-key", "backup/vault"))
		cannot(t, dst.fail(1, "sealed by the kmip key provider, not tpm2", "load-key", "-L", "tpm2:", "backup/vault"))
		cannot(t, dst.fail(1, "invalid keylocation", "load-key", "-L", "kmip://"+srv.Addr, "backup/vault"))
	})
	// The source host is gone; the backup host has its own credentials.
	src.stop()
	dst.ok("load-key", "-L", uriIn(t.TempDir()), "backup/vault")
	dst.ok("mount", "backup/vault")
	if got, err := os.ReadFile(filepath.Join(dst.prop("backup/vault", "mountpoint"), "f")); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read of the replica: %v", err)
	}
}
