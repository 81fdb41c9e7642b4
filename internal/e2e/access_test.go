package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startDaemonArgs is startDaemon with extra daemon arguments.
func startDaemonArgs(t *testing.T, extra ...string) *daemon {
	t.Helper()
	return newDaemon(t, nil, extra)
}

// runHTTP runs the CLI against the daemon's HTTP API at url with the token
// in a file; $COFFER_SOCKET points nowhere, so the socket is not used.
func runHTTP(t *testing.T, url, token string, stdin []byte, args ...string) result {
	t.Helper()
	tf := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tf, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--url", url, "--token-file", tf}, args...)...)
	cmd.Env = append(os.Environ(), "COFFER_SOCKET=/nonexistent/coffer.sock")
	return runResult(cmd, stdin, args)
}

func runResult(cmd *exec.Cmd, stdin []byte, args []string) result {
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			return result{args: args, stderr: err.Error(), code: -1}
		}
		code = ee.ExitCode()
	}
	return result{args: args, stdout: out.String(), stderr: errb.String(), code: code}
}

// auditLines returns the audit log records of d that match every
// key=value of want.
func auditLines(t *testing.T, d *daemon, want map[string]any) []map[string]any {
	t.Helper()
	f, err := os.Open(filepath.Join(d.state, "audit.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("audit line is not JSON: %q", sc.Text())
		}
		match := true
		for k, v := range want {
			if fmt.Sprint(rec[k]) != fmt.Sprint(v) {
				match = false
			}
		}
		if match {
			out = append(out, rec)
		}
	}
	return out
}

func keystatus(d *daemon, ds string) string {
	return strings.TrimSpace(d.ok("get", "-H", "-o", "value", "keystatus", ds))
}

// TestHTTPAPIRoles: the daemon's HTTP API with API tokens. An operator
// cannot unlock or export keys (403; the dataset stays locked; the audit
// log says denied), a keyadmin can unlock but not destroy, a viewer can
// only read; no token or a bad one is 401.
func TestHTTPAPIRoles(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	d := startDaemonArgs(t, "--http", addr)
	url := "http://" + addr
	const pw = "correct horse battery"
	d.ok("pool", "create", "-O", "mountpoint="+t.TempDir(), "tank", filepath.Join(t.TempDir(), "v"))
	d.okIn(pass(pw), "create", "-o", "encryption=on", "-o", "keyformat=passphrase", "tank/sec")
	d.ok("create", "tank/plain")
	d.ok("lock", "tank/sec")
	op := strings.TrimSpace(d.ok("user", "add", "ops", "--role", "operator"))
	ka := strings.TrimSpace(d.ok("user", "add", "kim", "--role", "keyadmin"))
	vw := strings.TrimSpace(d.ok("user", "add", "val", "--role", "viewer"))
	if len(op) < 43 || op == ka {
		t.Fatalf("tokens %q %q", op, ka)
	}
	if got := d.ok("user", "list", "-H"); got != "kim\tkeyadmin\t-\nops\toperator\t-\nval\tviewer\t-\n" {
		t.Fatalf("user list:\n%s", got)
	}
	users, _ := os.ReadFile(filepath.Join(d.state, "users.json"))
	for _, tok := range []string{op, ka, vw} {
		if bytes.Contains(users, []byte(tok)) {
			t.Fatal("users.json holds a token")
		}
	}

	// Operator: data verbs yes, key verbs no.
	r := runHTTP(t, url, op, pass(pw), "unlock", "tank/sec")
	checkFail(t, r, 1, "permission denied: 'unlock' needs role keyadmin or admin (you are operator)")
	if ks := keystatus(d, "tank/sec"); ks != "unavailable" {
		t.Fatalf("keystatus after a refused unlock = %s", ks)
	}
	checkFail(t, runHTTP(t, url, op, nil, "key", "export", "tank/sec"), 1, "permission denied: 'key.export' needs role keyadmin or admin (you are operator)")
	checkFail(t, runHTTP(t, url, op, nil, "user", "add", "eve", "--role", "admin"), 1, "permission denied: 'user.add' needs role admin (you are operator)")
	if r := runHTTP(t, url, op, nil, "snapshot", "tank/plain@s1"); r.code != 0 {
		t.Fatalf("operator snapshot: %s", r)
	}
	// The streaming endpoints over HTTP: send, then receive what was sent.
	sent := runHTTP(t, url, op, nil, "send", "tank/plain@s1")
	if sent.code != 0 || len(sent.stdout) == 0 {
		t.Fatalf("operator send over HTTP: exit %d %s", sent.code, sent.stderr)
	}
	if r := runHTTP(t, url, op, []byte(sent.stdout), "receive", "tank/copy"); r.code != 0 {
		t.Fatalf("operator receive over HTTP: %s", r)
	}
	if !strings.Contains(d.ok("list", "-t", "snapshot", "-H", "-o", "name"), "tank/copy@s1") {
		t.Fatal("received snapshot missing")
	}
	checkFail(t, runHTTP(t, url, vw, nil, "send", "tank/plain@s1"), 1, "permission denied: 'send' needs role operator or admin (you are viewer)")
	denied := auditLines(t, d, map[string]any{"op": "unlock", "user": "ops", "transport": "http", "outcome": "denied", "role": "operator"})
	if len(denied) != 1 {
		t.Fatalf("audit lines for the refused unlock: %v", denied)
	}
	if len(auditLines(t, d, map[string]any{"op": "key.export", "user": "ops", "outcome": "denied"})) != 1 {
		t.Fatal("refused key export not audited")
	}

	// Keyadmin: unlock yes, destroy no.
	if r := runHTTP(t, url, ka, pass(pw), "unlock", "tank/sec"); r.code != 0 {
		t.Fatalf("keyadmin unlock: %s", r)
	}
	if ks := keystatus(d, "tank/sec"); ks != "available" {
		t.Fatalf("keystatus after keyadmin unlock = %s", ks)
	}
	if len(auditLines(t, d, map[string]any{"op": "unlock", "dataset": "tank/sec", "user": "kim", "transport": "http", "outcome": "ok"})) != 1 {
		t.Fatal("keyadmin unlock not audited")
	}
	checkFail(t, runHTTP(t, url, ka, nil, "destroy", "tank/plain@s1"), 1, "permission denied: 'destroy' needs role operator or admin (you are keyadmin)")
	if !strings.Contains(d.ok("list", "-t", "snapshot", "-H", "-o", "name"), "tank/plain@s1") {
		t.Fatal("refused destroy destroyed")
	}

	// Viewer: reads only.
	if r := runHTTP(t, url, vw, nil, "list", "-H", "-o", "name"); r.code != 0 || !strings.Contains(r.stdout, "tank/sec\n") {
		t.Fatalf("viewer list: %s", r)
	}
	if r := runHTTP(t, url, vw, nil, "get", "-H", "-o", "value", "keystatus", "tank/sec"); r.stdout != "available\n" {
		t.Fatalf("viewer get: %s", r)
	}
	checkFail(t, runHTTP(t, url, vw, nil, "lock", "tank/sec"), 1, "permission denied: 'lock' needs role keyadmin or admin (you are viewer)")
	checkFail(t, runHTTP(t, url, vw, nil, "snapshot", "tank/plain@s2"), 1, "(you are viewer)")

	// No token, a bad token, a removed user's token.
	checkFail(t, runHTTP(t, url, "not-a-token", nil, "list"), 1, "authentication failed: unknown API token")
	d.ok("user", "remove", "val")
	checkFail(t, runHTTP(t, url, vw, nil, "list"), 1, "authentication failed: unknown API token")
	for _, tc := range []struct {
		auth string
		code int
	}{{"", 401}, {"Bearer nope", 401}, {"Bearer " + op, 403}} {
		req, _ := http.NewRequest(http.MethodPost, url+"/v1/key.export", strings.NewReader(`{"name":"tank/sec"}`))
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var env struct {
			Result any
			Error  struct{ Code, Message string }
		}
		json.NewDecoder(resp.Body).Decode(&env)
		resp.Body.Close()
		if resp.StatusCode != tc.code || env.Result != nil || env.Error.Message == "" || strings.Contains(env.Error.Message, "\n") {
			t.Errorf("Authorization %q: HTTP %d %+v, want %d", tc.auth, resp.StatusCode, env, tc.code)
		}
	}
	// Audit lines never carry key material.
	audit, _ := os.ReadFile(filepath.Join(d.state, "audit.log"))
	if bytes.Contains(audit, []byte(pw)) || bytes.Contains(audit, []byte(op)) {
		t.Fatal("audit log holds a passphrase or a token")
	}
}

// TestHTTPPlainOnlyOnLoopback: plain HTTP on a non-loopback address is
// refused at start; HTTPS with a certificate is served there.
func TestHTTPPlainOnlyOnLoopback(t *testing.T) {
	r := runCLI("/nonexistent.sock", nil, "daemon", "--state", t.TempDir(), "--socket", filepath.Join(t.TempDir(), "s"), "--http", "0.0.0.0:1")
	checkFail(t, r, 1, "cannot serve HTTP on '0.0.0.0:1': plain HTTP is only allowed on a loopback address")
	checkFail(t, runCLI("/nonexistent.sock", nil, "daemon", "--state", t.TempDir(), "--http-cert", "c.pem"), 2, "--http-cert and --http-key need --http ADDR")

	cert, key, ca := selfSigned(t)
	addr := fmt.Sprintf("0.0.0.0:%d", freePort(t))
	d := startDaemonArgs(t, "--http", addr, "--http-cert", cert, "--http-key", key)
	tok := strings.TrimSpace(d.ok("user", "add", "val", "--role", "viewer"))
	url := "https://" + strings.Replace(addr, "0.0.0.0", "127.0.0.1", 1)
	if r := runHTTP(t, url, tok, nil, "--ca-file", ca, "pool", "list", "-H"); r.code != 0 {
		t.Fatalf("https pool list: %s", r)
	}
	checkFail(t, runHTTP(t, url, tok, nil, "--ca-file", ca, "create", "tank/x"), 1, "permission denied: 'create' needs role operator or admin (you are viewer)")
	// Without trusting the CA: refused by the client's TLS check.
	checkFail(t, runHTTP(t, url, tok, nil, "pool", "list"), 1, "its certificate is not trusted")
	// Plain HTTP to the HTTPS port does not get an answer.
	resp, err := http.Post("http://"+strings.TrimPrefix(url, "https://")+"/v1/pool.list", "application/json", nil)
	if err == nil {
		if resp.StatusCode == 200 {
			t.Fatal("plain HTTP answered on the HTTPS port")
		}
		resp.Body.Close()
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key; the
// certificate is its own CA.
func selfSigned(t *testing.T) (cert, key, ca string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "coffer test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cert, key = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return cert, key, cert
}

// runAs runs the CLI against d as another local user.
func runAs(d *daemon, uid int, stdin []byte, args ...string) result {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{"COFFER_SOCKET=" + d.sock, "PATH=/usr/bin:/bin"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(uid)}}
	return runResult(cmd, stdin, args)
}

// TestSocketLocalUsers: a local user other than root and the daemon's is
// refused on the socket until an admin makes it a user with its uid; then
// it has that role, and loses it when removed.
func TestSocketLocalUsers(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to run the CLI as uid 65534")
	}
	const nobody = 65534
	d := startDaemon(t)
	// The other user must reach the binary and the socket's directory.
	for _, dir := range []string{filepath.Dir(bin), filepath.Dir(d.sock)} {
		if err := os.Chmod(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	const pw = "correct horse battery"
	d.ok("pool", "create", "-O", "mountpoint="+t.TempDir(), "tank", filepath.Join(t.TempDir(), "v"))
	d.okIn(pass(pw), "create", "-o", "encryption=on", "-o", "keyformat=passphrase", "-o", "canmount=off", "tank/sec")
	d.ok("lock", "tank/sec")

	checkFail(t, runAs(d, nobody, nil, "list"), 1, "permission denied")
	d.ok("user", "add", "other", "--role", "admin", "--uid", "1001")
	checkFail(t, runAs(d, nobody, nil, "list"), 1, "permission denied: uid 65534 is not a coffer user")

	d.ok("user", "add", "nobody", "--role", "viewer", "--uid", fmt.Sprint(nobody))
	if r := runAs(d, nobody, nil, "list", "-H", "-o", "name"); r.code != 0 || !strings.Contains(r.stdout, "tank/sec") {
		t.Fatalf("viewer list: %s", r)
	}
	checkFail(t, runAs(d, nobody, pass(pw), "unlock", "tank/sec"), 1, "permission denied: 'unlock' needs role keyadmin or admin (you are viewer)")
	checkFail(t, runAs(d, nobody, nil, "user", "list"), 1, "permission denied: 'user.list' needs role admin (you are viewer)")
	if len(auditLines(t, d, map[string]any{"op": "unlock", "uid": nobody, "user": "nobody", "transport": "unix", "outcome": "denied"})) != 1 {
		t.Fatal("refused unlock on the socket not audited")
	}

	d.ok("user", "set-role", "nobody", "keyadmin")
	if r := runAs(d, nobody, pass(pw), "unlock", "tank/sec"); r.code != 0 {
		t.Fatalf("keyadmin unlock on the socket: %s", r)
	}
	if ks := keystatus(d, "tank/sec"); ks != "available" {
		t.Fatalf("keystatus = %s", ks)
	}
	if len(auditLines(t, d, map[string]any{"op": "unlock", "uid": nobody, "user": "nobody", "outcome": "ok"})) != 1 {
		t.Fatal("unlock on the socket not audited")
	}
	checkFail(t, runAs(d, nobody, nil, "destroy", "tank/sec"), 1, "(you are keyadmin)")

	d.ok("user", "remove", "nobody")
	checkFail(t, runAs(d, nobody, nil, "list"), 1, "permission denied: uid 65534 is not a coffer user")
	// Users survive a restart.
	d.restart()
	checkFail(t, runAs(d, nobody, nil, "list"), 1, "permission denied: uid 65534 is not a coffer user")
}

// TestUnlockRecursiveSharedSalt: passphrase roots take the pool's salt
// unless pbkdf2salt=random; unlock -r opens every root with the same
// passphrase, whatever its salt, and leaves a root with another passphrase
// locked.
func TestUnlockRecursiveSharedSalt(t *testing.T) {
	d := startDaemon(t)
	const pw = "correct horse battery"
	d.ok("pool", "create", "-O", "canmount=off", "tank", filepath.Join(t.TempDir(), "v"))
	enc := []string{"-o", "encryption=on", "-o", "keyformat=passphrase", "-o", "canmount=off"}
	d.okIn(pass(pw), append(append([]string{"create"}, enc...), "tank/top")...)
	for _, c := range []string{"a", "b", "c"} {
		d.okIn(pass(pw), append(append([]string{"create"}, enc...), "tank/top/"+c)...)
	}
	d.okIn(pass(pw), append(append([]string{"create"}, enc...), "-o", "pbkdf2salt=random", "tank/top/own")...)
	d.okIn(pass("another passphrase"), append(append([]string{"create"}, enc...), "tank/top/other")...)
	got := d.ok("get", "-H", "-r", "-o", "name,value", "pbkdf2salt", "tank/top")
	want := "tank/top\tpool\ntank/top/a\tpool\ntank/top/b\tpool\ntank/top/c\tpool\ntank/top/other\tpool\ntank/top/own\trandom\n"
	if got != want {
		t.Fatalf("pbkdf2salt:\n%s\nwant:\n%s", got, want)
	}
	d.failIn(pass(pw), 1, "'pbkdf2salt' must be one of", "create", "-o", "encryption=on", "-o", "keyformat=passphrase", "-o", "pbkdf2salt=shared", "tank/bad")
	d.ok("unload-key", "-r", "tank/top")
	r := d.run(pass(pw), "unlock", "-r", "tank/top")
	if r.code != 0 || !strings.Contains(r.stderr, "tank/top/other") {
		t.Fatalf("unlock -r: %s", r)
	}
	for ds, want := range map[string]string{"tank/top/a": "available", "tank/top/c": "available", "tank/top/own": "available", "tank/top/other": "unavailable"} {
		if ks := keystatus(d, ds); ks != want {
			t.Errorf("keystatus %s = %s, want %s", ds, ks, want)
		}
	}
	if n := len(auditLines(t, d, map[string]any{"op": "unlock", "outcome": "ok", "user": "root", "transport": "unix"})); n != 5 {
		t.Errorf("%d audit lines for unlocked roots, want 5", n)
	}
}
