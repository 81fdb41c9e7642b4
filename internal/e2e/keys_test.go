package e2e

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

func randKey(t *testing.T) []byte {
	t.Helper()
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return k
}

func (d *daemon) keystatus(names ...string) map[string]string {
	d.t.Helper()
	m := map[string]string{}
	for _, n := range names {
		m[n] = d.prop(n, "keystatus")
	}
	return m
}

func (d *daemon) wantKeystatus(when, status string, names ...string) {
	d.t.Helper()
	for n, s := range d.keystatus(names...) {
		if s != status {
			d.t.Errorf("%s: %s keystatus = %q, want %q", when, n, s, status)
		}
	}
}

// TestFileKeys: raw (32 bytes) and hex key files, -L, -n, and every
// encryption algorithm.
func TestFileKeys(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.newPool("tank")
	rawKey := randKey(t)
	rawURL := writeKey(t, "raw.key", rawKey)
	hexURL := writeKey(t, "hex.key", []byte(hex.EncodeToString(randKey(t))+"\n"))

	d.ok("create", "-o", "encryption=on", "-o", "keyformat=raw", "-o", "keylocation="+rawURL, "tank/raw")
	d.ok("create", "-o", "encryption=aes-128-ccm", "-o", "keyformat=hex", "-o", "keylocation="+hexURL, "tank/hex")
	if got := d.props("tank/raw", "encryption", "keyformat", "keylocation", "keystatus", "encryptionroot", "pbkdf2iters"); got["encryption"] != "aes-256-gcm" || got["keyformat"] != "raw" ||
		got["keylocation"] != rawURL || got["keystatus"] != "available" || got["encryptionroot"] != "tank/raw" || got["pbkdf2iters"] != "0" {
		t.Errorf("tank/raw: %v", got)
	}
	if got := d.props("tank/hex", "encryption", "keyformat", "keylocation"); got["encryption"] != "aes-128-ccm" || got["keyformat"] != "hex" || got["keylocation"] != hexURL {
		t.Errorf("tank/hex: %v", got)
	}
	if got := d.sources("tank/raw", "keylocation"); got["keylocation"] != "local" {
		t.Errorf("keylocation source %v", got)
	}
	for _, alg := range []string{"aes-128-gcm", "aes-192-gcm", "aes-256-gcm", "aes-192-ccm", "aes-256-ccm"} {
		d.ok("create", "-o", "encryption="+alg, "-o", "keyformat=raw", "-o", "keylocation="+rawURL, "tank/"+alg)
		if got := d.prop("tank/"+alg, "encryption"); got != alg {
			t.Errorf("encryption=%s gives %s", alg, got)
		}
		d.ok("destroy", "tank/"+alg)
	}
	// A raw key given on stdin (keylocation=prompt): all of stdin.
	d.okIn(randKey(t), "create", "-o", "encryption=on", "-o", "keyformat=raw", "tank/rawprompt")

	d.ok("unload-key", "tank/raw")
	d.ok("unload-key", "tank/hex")
	d.wantKeystatus("after unload-key", "unavailable", "tank/raw", "tank/hex")
	// -n checks without loading.
	d.ok("load-key", "-n", "tank/raw")
	d.wantKeystatus("after load-key -n", "unavailable", "tank/raw")
	// -L: another location for this load only.
	moved := writeKey(t, "moved.key", rawKey)
	d.ok("load-key", "-L", moved, "tank/raw")
	d.wantKeystatus("after load-key -L", "available", "tank/raw")
	if got := d.prop("tank/raw", "keylocation"); got != rawURL {
		t.Errorf("load-key -L changed keylocation to %q", got)
	}
	d.fail(1, "cannot load key for 'tank/raw': ", "load-key", "tank/raw") // already loaded
	d.ok("load-key", "tank/hex")
	// -L prompt: the raw key from stdin.
	d.ok("unload-key", "tank/raw")
	d.okIn(rawKey, "load-key", "-L", "prompt", "tank/raw")
	d.wantKeystatus("after load-key -L prompt", "available", "tank/raw")

	// The key file is read at load time: a lost file is a one-line error.
	d.ok("unload-key", "tank/hex")
	os.Remove(strings.TrimPrefix(hexURL, "file://"))
	d.unchanged("load-key with a missing key file", func() {
		r := d.fail(1, "cannot load key for 'tank/hex': ", "load-key", "tank/hex")
		if !strings.Contains(r.stderr, "no such file or directory") {
			t.Errorf("missing key file: %s", r)
		}
	})
}

// TestLoadUnloadRecursive: load-key -r/-a (keys in the daemon's order, from
// stdin and files), unload-key -r/-a, and the restart that locks the
// passphrase roots (key-format roots come back from the keystore).
func TestLoadUnloadRecursive(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.newPool("tank")
	d.newPool("zoo")
	fileURL := writeKey(t, "k", []byte(hex.EncodeToString(randKey(t))))
	d.okIn(pass("first passphrase"), createArgs(fastEnc, "tank/a")...)
	d.ok("create", "tank/a/inh")
	d.okIn(pass("second passphrase"), createArgs(fastEnc, "tank/a/b")...)
	d.ok("create", "-o", "encryption=on", "-o", "keyformat=hex", "-o", "keylocation="+fileURL, "tank/a/f")
	d.okIn(pass("third passphrase"), createArgs(fastEnc, "zoo/z")...)
	all := []string{"tank/a", "tank/a/inh", "tank/a/b", "tank/a/f", "zoo/z"}

	if out := d.ok("unload-key", "-r", "tank/a"); out != "3 / 3 key(s) successfully unloaded\n" {
		t.Errorf("unload-key -r: %q", out)
	}
	d.wantKeystatus("after unload-key -r", "unavailable", "tank/a", "tank/a/inh", "tank/a/b", "tank/a/f")
	d.wantKeystatus("after unload-key -r tank/a", "available", "zoo/z")

	// The daemon lists roots in name order: tank/a, tank/a/b, tank/a/f(file).
	if out := d.okIn([]byte("first passphrase\nsecond passphrase\n"), "load-key", "-r", "tank/a"); out != "3 / 3 key(s) successfully loaded\n" {
		t.Errorf("load-key -r: %q", out)
	}
	d.wantKeystatus("after load-key -r", "available", all...)

	if out := d.ok("unload-key", "-a"); out != "4 / 4 key(s) successfully unloaded\n" {
		t.Errorf("unload-key -a: %q", out)
	}
	d.wantKeystatus("after unload-key -a", "unavailable", all...)
	// -n -a checks every key, loads none.
	if out := d.okIn([]byte("first passphrase\nsecond passphrase\nthird passphrase\n"), "load-key", "-n", "-a"); !strings.Contains(out, "4 / 4") {
		t.Errorf("load-key -n -a: %q", out)
	}
	d.wantKeystatus("after load-key -n -a", "unavailable", all...)
	// One wrong passphrase: the others load, the failure is printed, exit 1.
	r := d.run([]byte("first passphrase\nwrong passphrase\nthird passphrase\n"), "load-key", "-a")
	if r.code != 1 || r.stdout != "3 / 4 key(s) successfully loaded\n" || len(lines(r.stderr)) != 1 || !strings.Contains(r.stderr, "'tank/a/b'") {
		t.Errorf("load-key -a with a wrong passphrase: %s", r)
	}
	d.wantKeystatus("after partial load-key -a", "available", "tank/a", "tank/a/f", "zoo/z")
	d.wantKeystatus("after partial load-key -a", "unavailable", "tank/a/b")
	// Loaded roots are skipped.
	if out := d.okIn(pass("second passphrase"), "load-key", "-a"); out != "1 / 1 key(s) successfully loaded\n" {
		t.Errorf("load-key -a skipping loaded roots: %q", out)
	}
	d.wantKeystatus("after load-key -a", "available", all...)

	// A restart locks the passphrase roots; the key-format root (hex, from a
	// file) comes back unlocked from the system keystore (SPEC §3, §6).
	d.restart()
	d.wantKeystatus("after restart", "unavailable", "tank/a", "tank/a/inh", "tank/a/b", "zoo/z")
	d.wantKeystatus("after restart (keystore)", "available", "tank/a/f")
	if out := d.okIn([]byte("first passphrase\nsecond passphrase\nthird passphrase\n"), "load-key", "-a"); out != "3 / 3 key(s) successfully loaded\n" {
		t.Errorf("load-key -a after restart: %q", out)
	}
	d.wantKeystatus("after load-key -a after restart", "available", all...)
	d.fail(1, "", "unload-key", "tank")
	d.fail(2, "", "unload-key")
	d.fail(2, "", "load-key")
}

func TestChangeKey(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.newPool("tank")
	d.okIn(pass("parent passphrase"), createArgs(fastEnc, "tank/p")...)
	d.okIn(pass("child passphrase"), createArgs(fastEnc, "tank/p/c")...)
	d.ok("create", "tank/p/c/g")
	guid := d.prop("tank/p/c", "guid")

	// To hex in a file.
	newHex := writeKey(t, "new.hex", []byte(hex.EncodeToString(randKey(t))+"\n"))
	d.ok("change-key", "-o", "keyformat=hex", "-o", "keylocation="+newHex, "tank/p")
	if got := d.props("tank/p", "keyformat", "keylocation", "keystatus", "pbkdf2iters"); got["keyformat"] != "hex" || got["keylocation"] != newHex || got["keystatus"] != "available" || got["pbkdf2iters"] != "0" {
		t.Errorf("after change-key to hex: %v", got)
	}
	d.ok("unload-key", "tank/p")
	d.failIn(pass("parent passphrase"), 1, "", "load-key", "-L", "prompt", "tank/p") // the old key no longer works
	d.ok("load-key", "tank/p")

	// New passphrase through stdin, with pbkdf2iters.
	d.okIn(pass("child passphrase 2"), "change-key", "-o", "pbkdf2iters=200000", "tank/p/c")
	if got := d.props("tank/p/c", "pbkdf2iters", "keyformat", "keylocation"); got["pbkdf2iters"] != "200000" || got["keyformat"] != "passphrase" || got["keylocation"] != "prompt" {
		t.Errorf("after change-key -o pbkdf2iters: %v", got)
	}
	d.ok("unload-key", "tank/p/c")
	d.failIn(pass("child passphrase"), 1, "", "load-key", "tank/p/c")
	// -l: the current key first, then the new one.
	d.okIn([]byte("child passphrase 2\nchild passphrase 3\n"), "change-key", "-l", "tank/p/c")
	d.wantKeystatus("after change-key -l", "available", "tank/p/c", "tank/p/c/g")
	d.ok("unload-key", "tank/p/c")
	d.okIn(pass("child passphrase 3"), "load-key", "tank/p/c")
	d.ok("unload-key", "tank/p/c")
	d.fail(1, "", "change-key", "-i", "tank/p/c") // key not loaded, no -l
	// -i -l: load the current key, then inherit the parent's.
	d.okIn(pass("child passphrase 3"), "change-key", "-i", "-l", "tank/p/c")
	if got := d.props("tank/p/c", "encryptionroot", "keyformat", "keystatus"); got["encryptionroot"] != "tank/p" || got["keyformat"] != "hex" || got["keystatus"] != "available" {
		t.Errorf("after change-key -i: %v", got)
	}
	if got := d.prop("tank/p/c/g", "encryptionroot"); got != "tank/p" {
		t.Errorf("grandchild encryptionroot after change-key -i = %q", got)
	}
	if d.prop("tank/p/c", "guid") != guid {
		t.Errorf("change-key -i changed the guid")
	}
	d.fail(1, "", "change-key", "-i", "tank/p/c") // already inherits
	// Unloading the parent now locks the child too.
	if out := d.ok("unload-key", "-r", "tank/p"); out != "1 / 1 key(s) successfully unloaded\n" {
		t.Errorf("unload-key -r after change-key -i: %q", out)
	}
	d.wantKeystatus("after unload of the parent", "unavailable", "tank/p", "tank/p/c", "tank/p/c/g")
	d.ok("load-key", "tank/p")
	d.wantKeystatus("after load of the parent", "available", "tank/p", "tank/p/c", "tank/p/c/g")
	// tank/p has a hex key: the system keystore unlocks it at start.
	d.restart()
	d.wantKeystatus("after restart (keystore)", "available", "tank/p", "tank/p/c", "tank/p/c/g")
	d.ok("lock", "tank/p") // mounted at start: lock unmounts, then unloads
	d.ok("load-key", "-r", "tank/p")
	d.wantKeystatus("after unload and load-key -r", "available", "tank/p", "tank/p/c", "tank/p/c/g")
	d.fail(2, "-i and -o are mutually exclusive", "change-key", "-i", "-o", "keyformat=hex", "tank/p")
	d.fail(2, "", "change-key", "-o", "compression=off", "tank/p")
}

// TestHTTPSKeyLocation serves a hex key over TLS from httptest. The daemon
// trusts the test server's certificate through SSL_CERT_FILE (Go's system
// roots on Linux), so no daemon option is needed.
func TestHTTPSKeyLocation(t *testing.T) {
	t.Parallel()
	key := []byte(hex.EncodeToString(randKey(t)) + "\n")
	var hits atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		switch r.URL.Path {
		case "/key":
			w.Write(key)
		default:
			http.NotFound(w, r)
		}
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the untrusting daemon's handshake errors
	srv.StartTLS()
	t.Cleanup(srv.Close)
	certFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, "SSL_CERT_FILE="+certFile, "SSL_CERT_DIR=/nonexistent")
	d.newPool("tank")
	url := srv.URL + "/key"

	d.ok("create", "-o", "encryption=on", "-o", "keyformat=hex", "-o", "keylocation="+url, "tank/web")
	if got := d.props("tank/web", "keylocation", "keystatus", "keyformat"); got["keylocation"] != url || got["keystatus"] != "available" || got["keyformat"] != "hex" {
		t.Errorf("tank/web: %v", got)
	}
	if hits.Load() == 0 {
		t.Errorf("the daemon did not fetch the key from %s", url)
	}
	d.ok("unload-key", "tank/web")
	d.restart()
	// A key-format root comes back from the system keystore at start.
	d.wantKeystatus("after restart (keystore)", "available", "tank/web")
	d.ok("lock", "tank/web") // mounted at start: lock unmounts, then unloads
	d.ok("load-key", "tank/web")
	d.wantKeystatus("after load-key over https", "available", "tank/web")

	// A location that does not answer 200 and a changed key are refused.
	d.ok("unload-key", "tank/web")
	d.unchanged("load-key -L https 404", func() {
		r := d.fail(1, "cannot load key for 'tank/web': ", "load-key", "-L", srv.URL+"/nope", "tank/web")
		if !strings.Contains(r.stderr, "404") {
			t.Errorf("404: %s", r)
		}
	})
	good := bytes.Clone(key)
	copy(key, []byte(hex.EncodeToString(randKey(t))))
	d.unchanged("load-key with a changed https key", func() {
		d.fail(1, "cannot load key for 'tank/web': ", "load-key", "tank/web")
	})
	copy(key, good)
	d.ok("load-key", "tank/web")

	// A daemon that does not trust the certificate refuses, in one line.
	d2 := startDaemon(t, "SSL_CERT_FILE=/nonexistent", "SSL_CERT_DIR=/nonexistent")
	d2.newPool("tank")
	d2.unchanged("https key from an untrusted server", func() {
		r := d2.fail(1, "cannot create 'tank/web': ", "create", "-o", "encryption=on", "-o", "keyformat=hex", "-o", "keylocation="+url, "tank/web")
		if !strings.Contains(r.stderr, "certificate") {
			t.Errorf("untrusted certificate: %s", r)
		}
	})
}

// TestPassphraseBounds: 8 and 512 bytes are accepted (7 and 513 are refused
// in TestBadInput); a trailing CRLF is not part of the passphrase.
func TestPassphraseBounds(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.newPool("tank")
	p512 := strings.Repeat("x", 512)
	d.okIn(pass("12345678"), createArgs(fastEnc, "tank/p8")...)
	d.okIn(pass(p512), createArgs(fastEnc, "tank/p512")...)
	d.okIn([]byte("crlf passphrase\r\n"), createArgs(fastEnc, "tank/crlf")...)
	d.ok("unload-key", "-a")
	d.okIn([]byte("12345678"), "load-key", "tank/p8") // unterminated last line
	d.okIn(pass(p512), "load-key", "tank/p512")
	d.okIn(pass("crlf passphrase"), "load-key", "tank/crlf")
	d.wantKeystatus("after load-key", "available", "tank/p8", "tank/p512", "tank/crlf")
	// The same CRLF line at a file:// location and piped is the same key.
	d.ok("create", "-o", "encryption=on", "-o", "keyformat=passphrase", "-o", "pbkdf2iters=100000",
		"-o", "keylocation="+writeKey(t, "pp", []byte("file passphrase\r\n")), "tank/file")
	d.ok("unload-key", "tank/file")
	d.okIn([]byte("file passphrase\r\n"), "load-key", "-L", "prompt", "tank/file")
}
