package keysrc

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// secret is key material that must never appear in an error.
const secret = "S3cr3t-M4t3r14l-0123456789abcdef"

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// noMaterial fails when err's text contains any of the material (as is, or
// hex-encoded, or a long enough piece of it).
func noMaterial(t *testing.T, err error, material []byte) {
	t.Helper()
	if err == nil || len(material) == 0 {
		return
	}
	msg := err.Error()
	m := bytes.TrimRight(material, "\r\n")
	if len(m) < 6 {
		return
	}
	if strings.Contains(msg, string(m)) || strings.Contains(msg, hex.EncodeToString(m)) {
		t.Errorf("error %q contains key material", msg)
	}
	for i := 0; i+8 <= len(m); i++ {
		if strings.Contains(msg, string(m[i:i+8])) {
			t.Errorf("error %q contains a piece of key material %q", msg, m[i:i+8])
			return
		}
	}
}

func TestParse(t *testing.T) {
	t.Parallel()
	raw := []byte(secret) // 32 bytes
	if len(raw) != 32 {
		t.Fatal("secret must be 32 bytes")
	}
	hx := hex.EncodeToString(raw)
	for _, tc := range []struct {
		format   string
		material string
		want     string // expected result; "" for error
		err      string
	}{
		{"raw", secret, secret, ""},
		{"raw", secret[:31], "", "Raw key too short (expected 32)."},
		{"raw", "", "", "Raw key too short (expected 32)."},
		{"raw", secret + "\n", "", "Raw key too long (expected 32)."}, // raw is never trimmed
		{"raw", secret + secret, "", "Raw key too long (expected 32)."},
		{"raw", secret[:30] + "\r\n", secret[:30] + "\r\n", ""},
		{"hex", hx, secret, ""},
		{"hex", hx + "\n", secret, ""},
		{"hex", hx + "\r\n", secret, ""},
		{"hex", strings.ToUpper(hx), secret, ""},
		{"hex", hx + "\n\n", "", "Hex key too long (expected 64)."},
		{"hex", hx[:63], "", "Hex key too short (expected 64)."},
		{"hex", hx[:62] + "\n", "", "Hex key too short (expected 64)."},
		{"hex", "", "", "Hex key too short (expected 64)."},
		{"hex", hx + "00", "", "Hex key too long (expected 64)."},
		{"hex", hx[:63] + "g", "", "Invalid hex key provided."},
		{"hex", "zz" + hx[2:], "", "Invalid hex key provided."},
		{"hex", hx[:63] + " ", "", "Invalid hex key provided."},
		{"hex", secret + secret, "", "Invalid hex key provided."},
		{"passphrase", "password", "password", ""},
		{"passphrase", "password\n", "password", ""},
		{"passphrase", "password\r\n", "password", ""},
		{"passphrase", "password\n\n", "password\n", ""},
		{"passphrase", " spaces are fine ", " spaces are fine ", ""},
		{"passphrase", "passwor", "", "Passphrase too short (min 8)."},
		{"passphrase", "passwor\n", "", "Passphrase too short (min 8)."},
		{"passphrase", "", "", "Passphrase too short (min 8)."},
		{"passphrase", strings.Repeat("p", 512), strings.Repeat("p", 512), ""},
		{"passphrase", strings.Repeat("p", 512) + "\n", strings.Repeat("p", 512), ""},
		{"passphrase", strings.Repeat("p", 513), "", "Passphrase too long (max 512)."},
		{"passphrase", secret + strings.Repeat("p", 600), "", "Passphrase too long (max 512)."},
		{"none", secret, "", "keyformat must be one of 'raw | hex | passphrase'"},
		{"", secret, "", "keyformat must be one of 'raw | hex | passphrase'"},
		{"Raw", secret, "", "keyformat must be one of 'raw | hex | passphrase'"},
	} {
		in := []byte(tc.material)
		orig := bytes.Clone(in)
		got, err := Parse(tc.format, in)
		if errText(err) != tc.err {
			t.Errorf("Parse(%q, %d bytes) error %q, want %q", tc.format, len(tc.material), errText(err), tc.err)
		}
		if err == nil && string(got) != tc.want {
			t.Errorf("Parse(%q, %d bytes) = %q, want %q", tc.format, len(tc.material), got, tc.want)
		}
		if err != nil && got != nil {
			t.Errorf("Parse(%q) returned material with an error", tc.format)
		}
		noMaterial(t, err, in)
		if !bytes.Equal(in, orig) {
			t.Errorf("Parse(%q) modified its input", tc.format)
		}
		// The result never aliases the input.
		if len(got) > 0 && len(in) > 0 && &got[0] == &in[0] {
			t.Errorf("Parse(%q) aliases its input", tc.format)
		}
	}
}

func TestValidLocation(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		loc string
		ok  bool
	}{
		{"prompt", true},
		{"file:///etc/coffer/key", true},
		{"file:///k", true},
		{"file:///with space/k", true},
		{"https://kms.example.com/keys/tank", true},
		{"https://kms.example.com:8443/k?id=1", true},
		{"https://[2001:db8::1]/k", true},
		{"http://127.0.0.1/k", true},
		{"http://127.1.2.3:8080/k", true},
		{"http://localhost:9000/k", true},
		{"http://LOCALHOST/k", true},
		{"http://[::1]:80/k", true},
		{"http://[::ffff:127.0.0.1]/k", true},
		{"http://[::2]/k", false},
		{"http://0.0.0.0/k", false},
		{"none", false},
		{"", false},
		{"Prompt", false},
		{"prompt ", false},
		{"file://", false},
		{"file://relative/key", false},
		{"file:/etc/key", false},
		{"/etc/key", false},
		{"https://", false},
		{"https:///path", false},
		{"http://kms.example.com/k", false},
		{"http://10.0.0.1/k", false},
		{"http://localhost.evil.com/k", false},
		{"http://127.0.0.1.evil.com/k", false},
		{"ftp://host/k", false},
		{"tpm2", false},
	} {
		err := ValidLocation(tc.loc)
		if (err == nil) != tc.ok {
			t.Errorf("ValidLocation(%q) = %v, want ok=%v", tc.loc, err, tc.ok)
		}
		if err != nil && err.Error() != fmt.Sprintf("invalid keylocation '%s'", tc.loc) {
			t.Errorf("ValidLocation(%q) error %q", tc.loc, err)
		}
	}
}

func TestFetchPrompt(t *testing.T) {
	t.Parallel()
	if _, err := Fetch(context.Background(), "prompt", nil); !errors.Is(err, ErrPrompt) {
		t.Errorf("Fetch(prompt) = %v, want ErrPrompt", err)
	}
	for _, loc := range []string{"none", "http://192.0.2.1/k", "file://rel"} {
		_, err := Fetch(context.Background(), loc, nil)
		if errText(err) != "invalid keylocation '"+loc+"'" {
			t.Errorf("Fetch(%q) = %v", loc, err)
		}
	}
}

func TestFetchFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return "file://" + p
	}
	loc := write("key", []byte(secret+"\n"))
	got, err := Fetch(context.Background(), loc, nil)
	if err != nil || string(got) != secret+"\n" {
		t.Fatalf("Fetch(file) = %q, %v", got, err)
	}
	if key, err := Parse("passphrase", got); err != nil || string(key) != secret {
		t.Errorf("Parse(Fetch) = %q, %v", key, err)
	}

	exact := bytes.Repeat([]byte(secret), MaxKeyFile/len(secret))
	if got, err := Fetch(context.Background(), write("max", exact), nil); err != nil || len(got) != MaxKeyFile {
		t.Errorf("Fetch(1 MiB file) = %d bytes, %v", len(got), err)
	}
	big := append(bytes.Clone(exact), 'x')
	bigLoc := write("big", big)
	_, err = Fetch(context.Background(), bigLoc, nil)
	if want := fmt.Sprintf("fetch key from '%s': key material larger than 1048576 bytes", bigLoc); errText(err) != want {
		t.Errorf("Fetch(big) = %v, want %q", err, want)
	}
	noMaterial(t, err, []byte(secret))

	missing := "file://" + filepath.Join(dir, "missing")
	_, err = Fetch(context.Background(), missing, nil)
	if want := "fetch key from '" + missing + "': no such file or directory"; errText(err) != want || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Fetch(missing) = %v, want %q", err, want)
	}
	_, err = Fetch(context.Background(), "file://"+dir, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "fetch key from 'file://"+dir+"': ") {
		t.Errorf("Fetch(dir) = %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Fetch(ctx, loc, nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Fetch(cancelled) = %v", err)
	}
}

func TestFetchHTTPS(t *testing.T) {
	t.Parallel()
	hexKey := hex.EncodeToString([]byte(secret))
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/key":
			fmt.Fprintln(w, hexKey)
		case "/big":
			w.Write(bytes.Repeat([]byte(secret), MaxKeyFile/len(secret)+1))
		case "/denied":
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprint(w, secret) // a body must never surface in the error
		case "/created":
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, hexKey)
		case "/downgrade":
			http.Redirect(w, r, "http://192.0.2.1/key", http.StatusFound)
		case "/moved":
			http.Redirect(w, r, "/key", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	ctx := context.Background()

	got, err := Fetch(ctx, srv.URL+"/key", srv.Client())
	if err != nil {
		t.Fatalf("Fetch(https) = %v", err)
	}
	if key, err := Parse("hex", got); err != nil || string(key) != secret {
		t.Errorf("Parse(hex, Fetch) = %q, %v", key, err)
	}
	if got, err := Fetch(ctx, srv.URL+"/moved", srv.Client()); err != nil || strings.TrimSpace(string(got)) != hexKey {
		t.Errorf("Fetch(redirect within https) = %q, %v", got, err)
	}

	for _, tc := range []struct {
		path, want string
	}{
		{"/big", "key material larger than 1048576 bytes"},
		{"/denied", "HTTP status 403 Forbidden"},
		{"/created", "HTTP status 201 Created"},
		{"/nope", "HTTP status 404 Not Found"},
		{"/downgrade", "redirect to 'http://192.0.2.1/key' refused"},
	} {
		loc := srv.URL + tc.path
		_, err := Fetch(ctx, loc, srv.Client())
		if want := "fetch key from '" + loc + "': " + tc.want; errText(err) != want {
			t.Errorf("Fetch(%s) = %v, want %q", tc.path, err, want)
		}
		noMaterial(t, err, []byte(secret))
		noMaterial(t, err, []byte(hexKey))
	}

	// Without the test server's CA, TLS verification fails.
	_, err = Fetch(ctx, srv.URL+"/key", nil)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("Fetch(untrusted TLS) = %v, want a certificate error", err)
	}
	noMaterial(t, err, []byte(hexKey))

	// The caller's client keeps its own redirect policy.
	c := srv.Client()
	if c.CheckRedirect != nil {
		t.Fatal("test client has a redirect policy")
	}
	Fetch(ctx, srv.URL+"/moved", c)
	if c.CheckRedirect != nil {
		t.Error("Fetch changed the caller's client")
	}
}

func TestFetchHTTPLoopback(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, secret)
	}))
	t.Cleanup(srv.Close)
	got, err := Fetch(context.Background(), srv.URL+"/k", nil)
	if err != nil || string(got) != secret {
		t.Errorf("Fetch(http loopback) = %q, %v", got, err)
	}
	// The same server by a non-loopback name is refused before any request.
	loc := strings.Replace(srv.URL, "127.0.0.1", "coffer-test.invalid", 1) + "/k"
	if _, err := Fetch(context.Background(), loc, nil); errText(err) != "invalid keylocation '"+loc+"'" {
		t.Errorf("Fetch(http non-loopback) = %v", err)
	}
}

func TestFetchRedactsPassword(t *testing.T) {
	t.Parallel()
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	loc := strings.Replace(srv.URL, "https://", "https://user:hunter2hunter2@", 1) + "/k"
	_, err := Fetch(context.Background(), loc, srv.Client())
	if err == nil || strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), "404") {
		t.Errorf("Fetch = %v", err)
	}
}
