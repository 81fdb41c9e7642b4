package e2e

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"coffer/internal/kmip/kmiptest"
)

// TestKMIPCredentialInKeystore: a KMIP client identity kept in the system
// keystore (coffer keystore credential add kmip NAME) lets a kmip://…?cred=NAME
// root unlock with no PEM file on the host; it waits, saying why, while
// the keystore is locked and unlocks with 'coffer keystore unlock'. Bad
// inputs change nothing, and the client key never shows in the audit log,
// the daemon log, credential list -j or the state directory.
func TestKMIPCredentialInKeystore(t *testing.T) {
	srv := kmiptest.Start(t)
	otherCA, otherCert, otherKey := kmiptest.OtherPKI(t)
	dir := t.TempDir()
	write := func(name string, b []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, b, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ca, cert, key, other := write("ca.pem", srv.CA), write("host.pem", srv.Cert), write("host.key", srv.Key), write("other.key", otherKey)
	oca, ocert := write("other-ca.pem", otherCA), write("other.pem", otherCert)
	d := startDaemon(t)
	d.newPool("tank")
	list := func() []map[string]any {
		t.Helper()
		var js struct {
			Credentials []map[string]any `json:"credentials"`
		}
		out := d.ok("keystore", "credential", "list", "-j")
		if err := json.Unmarshal([]byte(out), &js); err != nil {
			t.Fatalf("credential list -j: %v\n%s", err, out)
		}
		return js.Credentials
	}
	loc := "kmip://" + srv.Addr + "?cred=kms1"

	d.unchanged("bad credential requests", func() {
		cannot(t, d.fail(1, "cannot add kmip credential 'bad': the certificate and key do not form a pair", "keystore", "credential", "add", "kmip", "bad", "--ca", ca, "--cert", cert, "--key", other))
		cannot(t, d.fail(1, "cannot add kmip credential 'bad': the CA file holds no PEM certificate", "keystore", "credential", "add", "kmip", "bad", "--ca", key, "--cert", cert, "--key", key))
		cannot(t, d.fail(1, "invalid credential name 'a.b/c'", "keystore", "credential", "add", "kmip", "a.b/c", "--ca", ca, "--cert", cert, "--key", key))
		cannot(t, d.fail(1, "no such file", "keystore", "credential", "add", "kmip", "bad", "--ca", ca, "--cert", cert, "--key", filepath.Join(dir, "nothere")))
		cannot(t, d.fail(1, "larger than 65536 bytes", "keystore", "credential", "add", "kmip", "bad", "--ca", write("big.pem", bytes.Repeat([]byte("A"), 65<<10)), "--cert", cert, "--key", key))
		d.fail(2, "needs --ca, --cert and --key", "keystore", "credential", "add", "kmip", "bad", "--ca", ca, "--cert", cert)
		d.fail(2, "unknown credential kind 'ssh'", "keystore", "credential", "add", "ssh", "bad", "--ca", ca, "--cert", cert, "--key", key)
		cannot(t, d.fail(1, "cannot remove kmip credential 'kms1': no such credential", "keystore", "credential", "remove", "kmip", "kms1"))
		cannot(t, d.fail(1, "no kmip credential 'kms1' in the keystore", "create", "-o", "keyformat=raw", "-o", "keylocation="+loc, "tank/x"))
		cannot(t, d.fail(1, "invalid keylocation", "create", "-o", "keyformat=raw", "-o", "keylocation="+loc+"&ca="+ca, "tank/x"))
		cannot(t, d.fail(1, "cannot protect the keystore with kmip: cred= names a credential kept in the keystore", "keystore", "protect", "kmip", loc))
	})
	if c := list(); len(c) != 0 {
		t.Fatalf("refused adds stored something: %v", c)
	}
	if st := d.ok("keystore", "status"); !strings.Contains(st, "protection: file") {
		t.Fatalf("a refused protect changed the protection:\n%s", st)
	}

	d.ok("keystore", "credential", "add", "kmip", "kms1", "--ca", ca, "--cert", cert, "--key", key)
	cannot(t, d.fail(1, "cannot add kmip credential 'kms1': it exists", "keystore", "credential", "add", "kmip", "kms1", "--ca", ca, "--cert", cert, "--key", key))
	cannot(t, d.fail(1, "cannot add kmip credential 'kms9': --replace: no such credential", "keystore", "credential", "add", "kmip", "kms9", "--replace", "--ca", ca, "--cert", cert, "--key", key))
	// --replace takes effect: an identity the server does not trust is
	// refused at the handshake; the trusted one again works.
	d.ok("keystore", "credential", "add", "kmip", "kms1", "--replace", "--ca", oca, "--cert", ocert, "--key", other)
	d.unchanged("create with an untrusted identity", func() {
		cannot(t, d.fail(1, "cannot create 'tank/x': kmip", "create", "-o", "keyformat=raw", "-o", "keylocation="+loc, "tank/x"))
	})
	d.ok("keystore", "credential", "add", "kmip", "kms1", "--replace", "--ca", ca, "--cert", cert, "--key", key)
	// From here on no PEM file is left on the host.
	os.RemoveAll(dir)
	if out := d.ok("keystore", "credential", "list"); !strings.Contains(out, "kmip") || !strings.Contains(out, "kms1") || !strings.Contains(out, "CN=coffer-host") {
		t.Fatalf("credential list:\n%s", out)
	}

	d.ok("create", "-o", "keyformat=raw", "-o", "keylocation="+loc, "tank/vault")
	d.ok("mount", "-a")
	data := bytes.Repeat([]byte("client identity kept in the keystore "), 500)
	d.writeIn("tank/vault", "f", data)
	c := list()
	if len(c) != 1 || c[0]["name"] != "kms1" || c[0]["kind"] != "kmip" || !strings.Contains(c[0]["subject"].(string), "coffer-host") || c[0]["not_after"] == "" {
		t.Fatalf("credential list -j: %v", c)
	}
	if u, _ := c[0]["used_by"].([]any); len(u) != 1 || u[0] != "tank/vault" {
		t.Fatalf("credential list -j used_by: %v", c[0])
	}
	cannot(t, d.fail(1, "cannot remove kmip credential 'kms1': the keylocation of tank/vault names it", "keystore", "credential", "remove", "kmip", "kms1"))
	if len(list()) != 1 {
		t.Fatal("refused remove dropped the credential")
	}

	// Restart with the keystore opening by itself: unlocked at start.
	d.restart()
	if d.ks("tank/vault") != "available" {
		t.Fatal("cred= root not unlocked at start")
	}
	if b, err := os.ReadFile(filepath.Join(d.prop("tank/vault", "mountpoint"), "f")); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("read back after restart: %v", err)
	}
	d.ok("change-key", "tank/vault") // a new wrapping key through the same credential

	// A passphrase keystore is locked at start: the root waits and says why.
	d.okIn(pass("the admin passphrase"), "keystore", "protect", "passphrase")
	d.restart()
	if d.ks("tank/vault") != "unavailable" {
		t.Fatal("cred= root unlocked while the keystore is locked")
	}
	const why = "keystore is locked: the kmip credential kms1 is kept in it"
	if st := d.ok("keystore", "status"); !strings.Contains(st, "waiting:    tank/vault: "+why) {
		t.Fatalf("keystore status does not say why tank/vault waits:\n%s", st)
	}
	if h := d.health(1); !strings.Contains(h, "tank/vault: locked: "+why) {
		t.Fatalf("health does not say why tank/vault waits:\n%s", h)
	}
	cannot(t, d.fail(1, why, "load-key", "tank/vault"))
	// Adding while locked: refused with the keystore's locked wording.
	dir2 := t.TempDir()
	p2 := func(name string, b []byte) string {
		p := filepath.Join(dir2, name)
		os.WriteFile(p, b, 0o600)
		return p
	}
	cannot(t, d.fail(1, "cannot add kmip credential 'kms2': keystore is locked: run 'coffer keystore unlock'", "keystore", "credential", "add", "kmip", "kms2",
		"--ca", p2("ca.pem", srv.CA), "--cert", p2("host.pem", srv.Cert), "--key", p2("host.key", srv.Key)))
	os.RemoveAll(dir2)
	d.okIn(pass("the admin passphrase"), "keystore", "unlock")
	if d.ks("tank/vault") != "available" {
		t.Fatal("cred= root not unlocked after keystore unlock")
	}
	if b, err := os.ReadFile(filepath.Join(d.prop("tank/vault", "mountpoint"), "f")); err != nil || !bytes.Equal(b, data) {
		t.Fatalf("read back after keystore unlock: %v", err)
	}
	if st := d.ok("keystore", "status"); strings.Contains(st, "waiting:") {
		t.Fatalf("still waiting after keystore unlock:\n%s", st)
	}
	if names := list(); len(names) != 1 || names[0]["name"] != "kms1" {
		t.Fatalf("list after unlock: %v", names)
	}

	// Once no dataset names it, the credential can go.
	d.ok("destroy", "tank/vault")
	d.ok("keystore", "credential", "remove", "kmip", "kms1")
	if c := list(); len(c) != 0 {
		t.Fatalf("credential still listed after remove: %v", c)
	}
	auditHas(t, d, "keystore-credential-add kmip:kms1", "", true)
	auditHas(t, d, "keystore-credential-add kmip:bad", "", false)
	auditHas(t, d, "keystore-credential-add kmip:kms2", "", false)
	auditHas(t, d, "keystore-credential-replace kmip:kms1", "", true)
	auditHas(t, d, "keystore-credential-replace kmip:kms9", "", false)
	auditHas(t, d, "keystore-credential-remove kmip:kms1", "", false)
	auditHas(t, d, "keystore-credential-remove kmip:kms1", "", true)

	// The client key never shows: not in the logs, not in list -j, not
	// in plain anywhere in the state directory.
	body, otherBody := pemBody(t, srv.Key), pemBody(t, otherKey)
	audit, _ := os.ReadFile(filepath.Join(d.state, "audit.log"))
	for what, s := range map[string]string{"audit log": string(audit), "daemon log": d.log.String(), "credential list -j": d.ok("keystore", "credential", "list", "-j")} {
		if strings.Contains(s, body) || strings.Contains(s, otherBody) {
			t.Errorf("the client key shows in the %s", what)
		}
	}
	filepath.Walk(d.state, func(p string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			if b, _ := os.ReadFile(p); bytes.Contains(b, []byte(body)) || bytes.Contains(b, []byte(otherBody)) {
				t.Errorf("%s holds the client key in plain", p)
			}
		}
		return nil
	})
}

// pemBody is the first base64 line of a PEM block: a piece of the key
// that any leak of it would carry.
func pemBody(t *testing.T, b []byte) string {
	t.Helper()
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			return l
		}
	}
	t.Fatal("no PEM body")
	return ""
}
