package cli

import (
	"bytes"
	"strings"
	"testing"
)

func TestNicenum(t *testing.T) {
	t.Parallel()
	tests := []struct {
		n      uint64
		format int
		want   string
	}{
		{0, niceNum, "0"},
		{0, niceBytes, "0B"},
		{512, niceBytes, "512B"},
		{1023, niceNum, "1023"},
		{1024, niceBytes, "1K"},
		{1536, niceBytes, "1.50K"},
		{98304, niceBytes, "96K"},
		{12345678, niceBytes, "11.8M"},
		{10200547328, niceBytes, "9.50G"},
		{437 << 30, niceBytes, "437G"},
		{469_762_048_000, niceBytes, "438G"},
		{1<<40 - 1536, niceBytes, "1024G"},
		{1 << 60, niceBytes, "1E"},
		{^uint64(0), niceBytes, "16.0E"},
	}
	for _, tt := range tests {
		if got := nicenum(tt.n, tt.format); got != tt.want {
			t.Errorf("nicenum(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"1048576", 1 << 20, true},
		{"512K", 512 << 10, true},
		{"512k", 512 << 10, true},
		{"10G", 10 << 30, true},
		{"10GB", 10 << 30, true},
		{"2TiB", 2 << 40, true},
		{"1.5G", 3 << 29, true},
		{"0", 0, true},
		{"G", 0, false},
		{"12Q", 0, false},
		{"-1G", 0, false},
		{"1.5.5G", 0, false},
		{"20E", 0, false},
	}
	for _, tt := range tests {
		got, err := parseSize(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestParseVdevs(t *testing.T) {
	t.Parallel()
	v, err := parseVdevs([]string{"mirror", "/a", "/b", "/c", "mirror", "/d", "/e"}, false)
	if err != nil || len(v) != 2 || len(v[0].Paths) != 3 || !v[1].Mirror {
		t.Errorf("got %+v, %v", v, err)
	}
	if _, err := parseVdevs([]string{"/a", "mirror", "/b", "/c"}, false); err == nil || !strings.Contains(err.Error(), "mismatched replication level") {
		t.Errorf("mixed vdevs: %v", err)
	}
	if v, err := parseVdevs([]string{"/a", "mirror", "/b", "/c"}, true); err != nil || len(v) != 2 {
		t.Errorf("mixed vdevs with -f: %+v %v", v, err)
	}
}

func TestKeyReaderPipe(t *testing.T) {
	t.Parallel()
	raw1, raw2 := strings.Repeat("a", 32), strings.Repeat("b", 32)
	a := &app{env: Env{Stdin: strings.NewReader("line one\nline two\n" + raw1 + raw2)}}
	kr := newKeyReader(a)
	defer kr.wipe()
	for _, want := range []string{"line one", "line two"} {
		k, err := kr.existingKey("passphrase", "tank")
		if err != nil || string(k) != want {
			t.Fatalf("got %q %v, want %q", k, err, want)
		}
	}
	kr.many = true
	for _, want := range []string{raw1, raw2} {
		k, err := kr.existingKey("raw", "tank")
		if err != nil || string(k) != want {
			t.Fatalf("got %q %v, want %q", k, err, want)
		}
	}
	if _, err := kr.existingKey("raw", "tank"); err == nil {
		t.Error("read past the end")
	}

	// A single raw key is all of stdin, for the daemon to check its length.
	long := bytes.Repeat([]byte{0xff, '\n'}, 40)
	kr2 := newKeyReader(&app{env: Env{Stdin: bytes.NewReader(long)}})
	if k, err := kr2.newKey("raw", ""); err != nil || !bytes.Equal(k, long) {
		t.Errorf("raw: %q %v", k, err)
	}
	// Unterminated last line.
	kr3 := newKeyReader(&app{env: Env{Stdin: strings.NewReader("no newline")}})
	if k, err := kr3.newKey("passphrase", ""); err != nil || string(k) != "no newline" {
		t.Errorf("unterminated: %q %v", k, err)
	}
	// Too much input.
	kr4 := newKeyReader(&app{env: Env{Stdin: bytes.NewReader(make([]byte, maxKeyBytes+10))}})
	if _, err := kr4.newKey("passphrase", ""); err == nil {
		t.Error("unbounded read")
	}
}

func TestTable(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	printer{w: &b}.table([]string{"A", "LONGER"}, [][]string{{"xyz", "1"}, {"", "22"}})
	if want := "A    LONGER\nxyz  1\n     22\n"; b.String() != want {
		t.Errorf("got %q want %q", b.String(), want)
	}
}
