package keysrc

import (
	"strings"
	"testing"
)

var parseErrors = map[string]bool{
	"Raw key too short (expected 32).":                  true,
	"Raw key too long (expected 32).":                   true,
	"Hex key too short (expected 64).":                  true,
	"Hex key too long (expected 64).":                   true,
	"Invalid hex key provided.":                         true,
	"Passphrase too short (min 8).":                     true,
	"Passphrase too long (max 512).":                    true,
	"keyformat must be one of 'raw | hex | passphrase'": true,
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "password", "password\r\n", strings.Repeat("ab", 32), strings.Repeat("ab", 32) + "\n", strings.Repeat("x", 32)} {
		for _, format := range []string{"raw", "hex", "passphrase", "none"} {
			f.Add(format, []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, format string, material []byte) {
		key, err := Parse(format, material)
		if err != nil {
			if key != nil {
				t.Fatal("key with error")
			}
			// Parse's errors are fixed texts, so they cannot carry material.
			if !parseErrors[err.Error()] {
				t.Fatalf("unexpected error text %q", err)
			}
			return
		}
		switch format {
		case "raw", "hex":
			if len(key) != WrappingKeyLen {
				t.Fatalf("%s key of %d bytes", format, len(key))
			}
		case "passphrase":
			if len(key) < MinPassphrase || len(key) > MaxPassphrase {
				t.Fatalf("passphrase of %d bytes", len(key))
			}
		default:
			t.Fatalf("format %q accepted", format)
		}
	})
}

func FuzzValidLocation(f *testing.F) {
	for _, s := range []string{"prompt", "none", "file:///k", "https://h/k", "http://127.0.0.1/k", "http://h/k", "https://[::1", "http://u:p@localhost/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, loc string) {
		if ValidLocation(loc) != nil {
			return
		}
		if loc != "prompt" && !strings.HasPrefix(loc, "file:///") && !strings.HasPrefix(loc, "https://") && !strings.HasPrefix(loc, "http://") {
			t.Fatalf("accepted %q", loc)
		}
	})
}
