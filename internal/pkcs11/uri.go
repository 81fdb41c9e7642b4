package pkcs11

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
)

// URI names a key in a PKCS#11 token: an RFC 7512 "pkcs11:" URI, subset.
//
// Supported path attributes: token (the token label, required), object
// (the key's CKA_LABEL), id (the key's CKA_ID, percent-encoded bytes) —
// object or id is required — and type, which must be "secret-key" when
// present. Supported query attributes: module-path (absolute path of the
// PKCS#11 library, required), pin-value (the user PIN) and pin-source (a
// file holding the user PIN, "file:///path" or an absolute path; a single
// trailing newline is dropped). Any other attribute is refused, so a URI
// never silently matches more than it says.
type URI struct {
	ModulePath string
	Token      string
	Object     string
	ID         []byte
	// PIN is the user PIN, from pin-value or read from PINSource.
	PIN []byte
	// PINSource is the pin-source attribute as given, kept so String can
	// write the URI back without the PIN itself.
	PINSource string
}

const maxPINFile = 1024

// ParseURI parses s. Errors are one line and never contain the PIN.
func ParseURI(s string) (URI, error) {
	var u URI
	rest, ok := strings.CutPrefix(s, "pkcs11:")
	if !ok {
		return URI{}, errors.New(`pkcs11 uri: must start with "pkcs11:"`)
	}
	path, query, _ := strings.Cut(rest, "?")
	seen := map[string]bool{}
	attrs := func(where, part, sep string, set func(name, value string) error) error {
		if part == "" {
			return nil
		}
		for i, kv := range strings.Split(part, sep) {
			name, raw, ok := strings.Cut(kv, "=")
			if !ok || name == "" {
				// Do not echo it: it may be a mistyped pin-value.
				return fmt.Errorf("pkcs11 uri: %s attribute %d is not name=value", where, i+1)
			}
			if seen[name] {
				return fmt.Errorf("pkcs11 uri: attribute %q given twice", name)
			}
			seen[name] = true
			value, err := url.PathUnescape(raw)
			if err != nil {
				return fmt.Errorf("pkcs11 uri: attribute %q: bad percent-encoding", name)
			}
			if err := set(name, value); err != nil {
				return err
			}
		}
		return nil
	}
	err := attrs("path", path, ";", func(name, value string) error {
		switch name {
		case "token":
			u.Token = value
		case "object":
			u.Object = value
		case "id":
			u.ID = []byte(value)
		case "type":
			if value != "secret-key" {
				return fmt.Errorf("pkcs11 uri: type %q: only secret-key is supported", clip(value))
			}
		default:
			return fmt.Errorf("pkcs11 uri: unsupported path attribute %q", clip(name))
		}
		return nil
	})
	if err != nil {
		return URI{}, err
	}
	err = attrs("query", query, "&", func(name, value string) error {
		switch name {
		case "module-path":
			u.ModulePath = value
		case "pin-value":
			u.PIN = []byte(value)
		case "pin-source":
			u.PINSource = value
		default:
			return fmt.Errorf("pkcs11 uri: unsupported query attribute %q", clip(name))
		}
		return nil
	})
	if err != nil {
		wipe(u.PIN)
		return URI{}, err
	}
	switch {
	case u.Token == "":
		err = errors.New("pkcs11 uri: token= is required")
	case u.Object == "" && len(u.ID) == 0:
		err = errors.New("pkcs11 uri: object= or id= is required")
	case u.ModulePath == "":
		err = errors.New("pkcs11 uri: module-path= is required")
	case !filepath.IsAbs(u.ModulePath):
		err = errors.New("pkcs11 uri: module-path must be absolute")
	case u.PIN != nil && u.PINSource != "":
		err = errors.New("pkcs11 uri: pin-value and pin-source are exclusive")
	}
	if err != nil {
		wipe(u.PIN)
		return URI{}, err
	}
	if u.PINSource != "" {
		if u.PIN, err = readPIN(u.PINSource); err != nil {
			return URI{}, err
		}
	}
	return u, nil
}

// readPIN reads a pin-source file; its errors name the file, never its
// content.
func readPIN(src string) ([]byte, error) {
	name := src
	if strings.HasPrefix(src, "file:") {
		fu, err := url.Parse(src)
		if err != nil || (fu.Host != "" && fu.Host != "localhost") || fu.Path == "" {
			return nil, fmt.Errorf("pkcs11 uri: pin-source %q: want file:///absolute/path", clip(src))
		}
		name = fu.Path
	}
	if !filepath.IsAbs(name) {
		return nil, fmt.Errorf("pkcs11 uri: pin-source %q: path must be absolute", clip(src))
	}
	f, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("pkcs11 uri: pin-source: %w", err)
	}
	defer f.Close()
	pin, err := io.ReadAll(io.LimitReader(f, maxPINFile+1))
	if err != nil {
		wipe(pin)
		return nil, fmt.Errorf("pkcs11 uri: pin-source %s: %w", name, err)
	}
	if len(pin) > maxPINFile {
		wipe(pin)
		return nil, fmt.Errorf("pkcs11 uri: pin-source %s: longer than %d bytes", name, maxPINFile)
	}
	pin = bytes.TrimSuffix(pin, []byte("\n"))
	pin = bytes.TrimSuffix(pin, []byte("\r"))
	if len(pin) == 0 {
		return nil, fmt.Errorf("pkcs11 uri: pin-source %s: empty", name)
	}
	return pin, nil
}

// String returns the URI in RFC 7512 form without the PIN: pin-source is
// kept, pin-value never written. This is what a host stores.
func (u URI) String() string {
	var b strings.Builder
	b.WriteString("pkcs11:token=")
	b.WriteString(escape(u.Token))
	if u.Object != "" {
		b.WriteString(";object=")
		b.WriteString(escape(u.Object))
	}
	if len(u.ID) > 0 {
		b.WriteString(";id=")
		for _, c := range u.ID {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	b.WriteString("?module-path=")
	b.WriteString(escape(u.ModulePath))
	if u.PINSource != "" {
		b.WriteString("&pin-source=")
		b.WriteString(escape(u.PINSource))
	}
	return b.String()
}

// GoString keeps %#v from printing the PIN.
func (u URI) GoString() string { return "pkcs11.URI(" + u.String() + ")" }

// escape percent-encodes everything but RFC 3986 unreserved characters
// and the few a path needs to stay readable.
func escape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9',
			c == '-', c == '.', c == '_', c == '~', c == '/', c == ':':
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// clip keeps attacker- or typo-controlled text in errors short and on one
// line.
func clip(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, s)
}

func wipe(b []byte) {
	clear(b)
}
