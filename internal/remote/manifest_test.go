package remote

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
)

func entry(name string, guid, from uint64) Entry {
	return Entry{Name: "tank/media@" + name, GUID: guid, FromGUID: from, Object: "p/tank/media/x.cfs", Bytes: 1, SHA256: strings.Repeat("0", 64)}
}

func names(es []Entry) string {
	var s []string
	for _, e := range es {
		s = append(s, e.Snap())
	}
	return strings.Join(s, ",")
}

func TestChain(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		streams []Entry
		snap    string
		want    string // snapshots in receive order
		wantErr string
	}{
		{"full only", []Entry{entry("a", 1, 0)}, "a", "a", ""},
		{"linear", []Entry{entry("a", 1, 0), entry("b", 2, 1), entry("c", 3, 2)}, "c", "a,b,c", ""},
		{"stops early", []Entry{entry("a", 1, 0), entry("b", 2, 1), entry("c", 3, 2)}, "tank/media@b", "a,b", ""},
		{"at sign", []Entry{entry("a", 1, 0), entry("b", 2, 1)}, "@b", "a,b", ""},
		{"second full resets", []Entry{entry("a", 1, 0), entry("b", 2, 1), entry("c", 3, 0), entry("d", 4, 3)}, "d", "c,d", ""},
		// Two incrementals from the same base: each chain takes its own branch.
		{"fork left", []Entry{entry("a", 1, 0), entry("b", 2, 1), entry("x", 5, 1)}, "b", "a,b", ""},
		{"fork right", []Entry{entry("a", 1, 0), entry("b", 2, 1), entry("x", 5, 1), entry("y", 6, 5)}, "y", "a,x,y", ""},
		{"gap", []Entry{entry("a", 1, 0), entry("c", 3, 2)}, "c", "", "the base of 'tank/media@c' (snapshot guid 2) is missing"},
		{"missing base", []Entry{entry("b", 2, 1), entry("c", 3, 2)}, "c", "", "the base of 'tank/media@b' (snapshot guid 1) is missing"},
		{"loop", []Entry{entry("a", 1, 2), entry("b", 2, 1)}, "b", "", "loops"},
		{"unknown", []Entry{entry("a", 1, 0)}, "zz", "", "no such backup of 'tank/media@zz'"},
		{"empty", nil, "a", "", "no such backup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := &Manifest{Version: 1, Dataset: "tank/media", Streams: tt.streams}
			got, err := m.Chain(tt.snap)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Chain(%q) = %v, %v; want error with %q", tt.snap, names(got), err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Chain(%q): %v", tt.snap, err)
			}
			if names(got) != tt.want {
				t.Fatalf("Chain(%q) = %s, want %s", tt.snap, names(got), tt.want)
			}
			if !got[0].Full() {
				t.Fatalf("chain does not start with a full stream")
			}
		})
	}
	m := &Manifest{Version: 1, Dataset: "tank/media", Streams: nil}
	if _, err := m.Chain("a"); !errors.Is(err, ErrNoBackup) {
		t.Errorf("want ErrNoBackup, got %v", err)
	}
}

func TestAfter(t *testing.T) {
	t.Parallel()
	chain := []Entry{entry("a", 1, 0), entry("b", 2, 1), entry("c", 3, 2)}
	if rest, ok := After(chain, 2); !ok || names(rest) != "c" {
		t.Errorf("After b = %s, %v", names(rest), ok)
	}
	if rest, ok := After(chain, 3); !ok || len(rest) != 0 {
		t.Errorf("After c = %s, %v", names(rest), ok)
	}
	if _, ok := After(chain, 9); ok {
		t.Errorf("After unknown guid found it")
	}
}

func TestManifestAddNewest(t *testing.T) {
	t.Parallel()
	m := NewManifest("tank/media")
	if _, ok := m.Newest(); ok {
		t.Fatal("empty manifest has a newest entry")
	}
	if err := m.Add(entry("b", 2, 1)); err == nil || !strings.Contains(err.Error(), "no backup of the base") {
		t.Fatalf("incremental without its base added: %v", err)
	}
	if err := m.Add(entry("a", 1, 0)); err != nil {
		t.Fatal(err)
	}
	if err := m.Add(entry("a2", 1, 0)); err == nil || !strings.Contains(err.Error(), "already has") {
		t.Fatalf("second stream of one snapshot added: %v", err)
	}
	if err := m.Add(entry("b", 2, 1)); err != nil {
		t.Fatal(err)
	}
	if n, _ := m.Newest(); n.Snap() != "b" {
		t.Fatalf("newest = %s", n.Name)
	}
	b, err := m.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := ParseManifest(b, "tank/media")
	if err != nil {
		t.Fatal(err)
	}
	if names(back.Streams) != "a,b" || back.Streams[1].FromGUID != 1 {
		t.Fatalf("round trip: %+v", back)
	}
}

func TestParseManifestRefuses(t *testing.T) {
	t.Parallel()
	good := `{"version":1,"dataset":"tank/media","streams":[{"name":"tank/media@a","guid":1,"from_guid":0,"object":"o","bytes":5,"sha256":"` + strings.Repeat("a", 64) + `","created":1}]}`
	if _, err := ParseManifest([]byte(good), "tank/media"); err != nil {
		t.Fatalf("good manifest: %v", err)
	}
	for name, tc := range map[string]struct{ doc, ds, want string }{
		"not json":   {"{", "tank/media", "not valid JSON"},
		"version":    {strings.Replace(good, `"version":1`, `"version":2`, 1), "tank/media", "version 2"},
		"dataset":    {good, "tank/other", "of dataset 'tank/media'"},
		"no sha":     {strings.Replace(good, strings.Repeat("a", 64), "ab", 1), "tank/media", "incomplete"},
		"no guid":    {strings.Replace(good, `"guid":1`, `"guid":0`, 1), "tank/media", "incomplete"},
		"duplicates": {strings.Replace(good, `}]}`, `},`+good[strings.Index(good, `[`)+1:], 1), "tank/media", "twice"},
	} {
		if _, err := ParseManifest([]byte(tc.doc), tc.ds); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want error with %q", name, err, tc.want)
		}
	}
}

func TestVerifier(t *testing.T) {
	t.Parallel()
	data := bytes.Repeat([]byte("coffer stream "), 10000)
	sum := sha256.Sum256(data)
	e := Entry{Name: "tank/a@s", Object: "x.cfs", Bytes: int64(len(data)), SHA256: hex.EncodeToString(sum[:])}
	got, err := io.ReadAll(NewVerifier(bytes.NewReader(data), e))
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("intact object: %v", err)
	}
	flipped := bytes.Clone(data)
	flipped[len(flipped)-3] ^= 1
	for name, tc := range map[string]struct {
		in   []byte
		want string
	}{
		"flipped":   {flipped, "SHA-256 differs"},
		"truncated": {data[:len(data)-1], "not"},
		"longer":    {append(bytes.Clone(data), 'x'), "longer"},
	} {
		// The last byte of the object is never delivered when it does not match.
		got, err := io.ReadAll(NewVerifier(bytes.NewReader(tc.in), e))
		if err == nil || !errors.Is(err, ErrMismatch) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want %q", name, err, tc.want)
		}
		if name != "longer" && len(got) >= len(data) {
			t.Errorf("%s: all %d bytes delivered before the error", name, len(got))
		}
	}
}

func TestParseURLAndEndpoint(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][2]string{
		"s3://bucket":          {"bucket", ""},
		"s3://bucket/":         {"bucket", ""},
		"s3://bucket/a/b/":     {"bucket", "a/b"},
		"s3://my-backups/host": {"my-backups", "host"},
	} {
		b, p, err := ParseURL(in)
		if err != nil || b != want[0] || p != want[1] {
			t.Errorf("ParseURL(%q) = %q, %q, %v", in, b, p, err)
		}
	}
	for _, bad := range []string{"bucket", "http://bucket", "s3://", "s3://B_ad", "s3://b/a//c", "s3://bkt/../x"} {
		if _, _, err := ParseURL(bad); err == nil {
			t.Errorf("ParseURL(%q) accepted", bad)
		}
	}
	for _, tc := range []struct {
		in       string
		insecure bool
		want     string
	}{
		{"", false, DefaultEndpoint},
		{"s3.example.com", false, "https://s3.example.com"},
		{"127.0.0.1:9000", true, "http://127.0.0.1:9000"},
		{"http://127.0.0.1:9000/", true, "http://127.0.0.1:9000"},
		{"https://s3.example.com:8443", false, "https://s3.example.com:8443"},
		{"http://127.0.0.1:9000", false, ""},
		{"https://s3.example.com", true, ""},
		{"ftp://x", false, ""},
		{"https://x/path", false, ""},
	} {
		got, err := ParseEndpoint(tc.in, tc.insecure)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseEndpoint(%q, %v) accepted: %s", tc.in, tc.insecure, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParseEndpoint(%q, %v) = %q, %v; want %q", tc.in, tc.insecure, got, err, tc.want)
		}
	}
}
