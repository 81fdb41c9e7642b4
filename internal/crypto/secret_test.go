package crypto

import (
	"bytes"
	"encoding/gob"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := Secret("hunter2-hunter2-hunter2-hunter2!")
	leaks := func(out string) bool {
		return strings.Contains(out, "hunter2") ||
			strings.Contains(out, "68756e74657232") || // hex
			strings.Contains(out, "104 117 110") || // decimal bytes
			strings.Contains(out, "0x68")
	}
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%20s", "%-x"} {
		if out := fmt.Sprintf(f, s); leaks(out) || !strings.Contains(out, "[redacted]") {
			t.Errorf("Sprintf(%q) = %q", f, out)
		}
	}
	// Nested in structs, slices, maps, pointers, errors and panics.
	type holder struct {
		Name string
		Key  Secret
	}
	h := holder{"x", s}
	for _, v := range []any{h, &h, []Secret{s}, map[string]Secret{"k": s}, fmt.Errorf("wrap: %v", s)} {
		for _, f := range []string{"%v", "%+v", "%#v"} {
			if out := fmt.Sprintf(f, v); leaks(out) {
				t.Errorf("Sprintf(%q, %T) leaks: %s", f, v, out)
			}
		}
	}
	func() {
		defer func() {
			if out := fmt.Sprint(recover()); leaks(out) {
				t.Errorf("panic value leaks: %s", out)
			}
		}()
		panic(s)
	}()
	if s.String() != "[redacted]" || s.GoString() != "[redacted]" {
		t.Error("String/GoString")
	}
	// JSON, also nested.
	j, err := json.Marshal(h)
	if err != nil || leaks(string(j)) || string(j) != `{"Name":"x","Key":"[redacted]"}` {
		t.Errorf("json = %s, %v", j, err)
	}
	if j, _ := json.Marshal(s); string(j) != `"[redacted]"` {
		t.Errorf("json = %s", j)
	}
	// log/slog, text and JSON handlers (text uses TextMarshaler; without it a
	// []byte would print as a string).
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("m", "key", s, "h", h)
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("m", "key", s, "h", h)
	if leaks(buf.String()) {
		t.Errorf("slog leaks: %s", buf.String())
	}
	if x, err := xml.Marshal(h); err != nil || leaks(string(x)) {
		t.Errorf("xml = %s, %v", x, err)
	}
	if err := gob.NewEncoder(&buf).Encode(h); err == nil {
		t.Error("gob encoded a Secret")
	}
}

func TestSecretWipeEqual(t *testing.T) {
	t.Parallel()
	s := Secret{1, 2, 3}
	if !s.Equal(Secret{1, 2, 3}) || s.Equal(Secret{1, 2}) || s.Equal(Secret{1, 2, 4}) {
		t.Error("Equal")
	}
	s.Wipe()
	if !allZero(s) || len(s) != 3 {
		t.Error("Wipe")
	}
	Secret(nil).Wipe()
}

func TestRandomBytes(t *testing.T) {
	t.Parallel()
	a, err := RandomBytes(32)
	b, _ := RandomBytes(32)
	if err != nil || len(a) != 32 || bytes.Equal(a, b) {
		t.Fatal("RandomBytes")
	}
	if _, err := RandomBytes(-1); err == nil {
		t.Fatal("negative length accepted")
	}
	if z, err := RandomBytes(0); err != nil || len(z) != 0 {
		t.Fatal("zero length")
	}
	if err := readRandom(failingReader{}, make([]byte, 4)); err == nil {
		t.Fatal("reader error swallowed")
	}
	if _, err := newDatasetKey(AES256GCM, keyOptions{rand: failingReader{}}); err == nil {
		t.Fatal("key from failing random source")
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }
