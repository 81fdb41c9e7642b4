package pkcs11

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	t.Parallel()
	const mod = "module-path=/usr/lib/softhsm/libsofthsm2.so"
	pinFile := filepath.Join(t.TempDir(), "pin")
	if err := os.WriteFile(pinFile, []byte("s3cr3t-pin\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	emptyPIN := filepath.Join(t.TempDir(), "empty")
	if err := os.WriteFile(emptyPIN, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	good := []struct {
		in   string
		want URI
	}{
		{"pkcs11:token=coffer;object=coffer-kek?" + mod + "&pin-value=1234",
			URI{ModulePath: "/usr/lib/softhsm/libsofthsm2.so", Token: "coffer", Object: "coffer-kek", PIN: []byte("1234")}},
		{"pkcs11:token=my%20token;object=k%3B1;id=%01%ff;type=secret-key?" + mod,
			URI{ModulePath: "/usr/lib/softhsm/libsofthsm2.so", Token: "my token", Object: "k;1", ID: []byte{1, 0xff}}},
		{"pkcs11:token=coffer;id=%00?" + mod + "&pin-source=file://" + pinFile,
			URI{ModulePath: "/usr/lib/softhsm/libsofthsm2.so", Token: "coffer", ID: []byte{0}, PIN: []byte("s3cr3t-pin"), PINSource: "file://" + pinFile}},
		{"pkcs11:token=coffer;object=k?" + mod + "&pin-source=" + pinFile,
			URI{ModulePath: "/usr/lib/softhsm/libsofthsm2.so", Token: "coffer", Object: "k", PIN: []byte("s3cr3t-pin"), PINSource: pinFile}},
		{"pkcs11:object=k;token=coffer?pin-value=a%26b&" + mod,
			URI{ModulePath: "/usr/lib/softhsm/libsofthsm2.so", Token: "coffer", Object: "k", PIN: []byte("a&b")}},
	}
	for _, c := range good {
		got, err := ParseURI(c.in)
		if err != nil {
			t.Errorf("ParseURI(%q): %v", c.in, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(c.want) || !bytes.Equal(got.PIN, c.want.PIN) || !bytes.Equal(got.ID, c.want.ID) {
			t.Errorf("ParseURI(%q) = %s pin %q, want %s pin %q", c.in, got, got.PIN, c.want, c.want.PIN)
		}
		// String drops the PIN and parses back to the same key.
		s := got.String()
		if len(got.PIN) > 0 && strings.Contains(s, string(got.PIN)) {
			t.Errorf("String() carries the PIN: %s", s)
		}
		for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
			if out := fmt.Sprintf(f, got); strings.Contains(out, "pin-value") || (len(got.PIN) > 0 && strings.Contains(out, string(got.PIN))) {
				t.Errorf("Sprintf(%s) carries the PIN: %s", f, out)
			}
		}
		back, err := ParseURI(s)
		if err != nil {
			t.Errorf("ParseURI(String()) %s: %v", s, err)
			continue
		}
		if back.String() != s || (got.PINSource == "" && back.PIN != nil) {
			t.Errorf("round trip %s -> %s", s, back)
		}
	}

	bad := []struct{ in, want string }{
		{"", `must start with "pkcs11:"`},
		{"pkcs12:token=a;object=b?" + mod, `must start with "pkcs11:"`},
		{"pkcs11:object=b?" + mod, "token= is required"},
		{"pkcs11:token=a?" + mod, "object= or id= is required"},
		{"pkcs11:token=a;object=b", "module-path= is required"},
		{"pkcs11:token=a;object=b?module-path=lib.so", "must be absolute"},
		{"pkcs11:token=a;object=b;slot-id=1?" + mod, `unsupported path attribute "slot-id"`},
		{"pkcs11:token=a;object=b;type=private?" + mod, "only secret-key"},
		{"pkcs11:token=a;object=b?" + mod + "&module-name=x", `unsupported query attribute "module-name"`},
		{"pkcs11:token=a;token=b;object=b?" + mod, `"token" given twice`},
		{"pkcs11:token=a;object=%zz?" + mod, "bad percent-encoding"},
		{"pkcs11:token=a;object=b?" + mod + "&pin-value=99887766&pin-source=/x", "exclusive"},
		{"pkcs11:token=a;object=b?" + mod + "&pin-value99887766", "query attribute 2 is not name=value"},
		{"pkcs11:token=a;object=b?" + mod + "&pin-value=99887766%zz", "bad percent-encoding"},
		{"pkcs11:token=a;object=b?" + mod + "&pin-source=relative/pin", "must be absolute"},
		{"pkcs11:token=a;object=b?" + mod + "&pin-source=file://host/pin", "want file:///absolute/path"},
		{"pkcs11:token=a;object=b?" + mod + "&pin-source=/nonexistent/pin", "no such file"},
		{"pkcs11:token=a;object=b?" + mod + "&pin-source=" + emptyPIN, "empty"},
	}
	for _, c := range bad {
		_, err := ParseURI(c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseURI(%q) = %v, want %q", c.in, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "99887766") || strings.ContainsAny(err.Error(), "\n") {
			t.Errorf("ParseURI(%q): error leaks the PIN or spans lines: %v", c.in, err)
		}
	}
}

func FuzzParseURI(f *testing.F) {
	f.Add("pkcs11:token=coffer;object=coffer-kek?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234")
	f.Add("pkcs11:token=a%20b;id=%01%02;type=secret-key?module-path=/l.so")
	f.Add("pkcs11:token=a;object=b?module-path=/l.so&pin-value=x&pin-value=y")
	f.Fuzz(func(t *testing.T, s string) {
		if strings.Contains(s, "pin-source") {
			return // reads files; covered by TestParseURI
		}
		u, err := ParseURI(s)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("error spans lines: %q", err)
			}
			return
		}
		back, err := ParseURI(u.String())
		if err != nil {
			t.Fatalf("ParseURI(%q) fails on its own String %q: %v", s, u.String(), err)
		}
		if back.String() != u.String() || back.Token != u.Token || back.Object != u.Object ||
			!bytes.Equal(back.ID, u.ID) || back.ModulePath != u.ModulePath {
			t.Fatalf("round trip %q: %#v != %#v", s, back, u)
		}
		// Formatting goes through String, which has no PIN.
		if fmt.Sprintf("%v|%+v|%s", u, u, u) != u.String()+"|"+u.String()+"|"+u.String() ||
			fmt.Sprintf("%#v", u) != u.GoString() || strings.Contains(u.String(), "&pin-value=") {
			t.Fatalf("formatting bypasses String")
		}
	})
}
