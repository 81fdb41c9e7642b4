package cli

import (
	"bytes"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"coffer/internal/api"
)

func TestProgressLines(t *testing.T) {
	t.Parallel()
	start := time.Date(2024, 6, 1, 12, 34, 50, 0, time.UTC)
	var n int64
	p := newProgress(nil, time.UTC, "tank/media@second", 10<<20, false, func() int64 { return n })
	p.start = start
	if got, want := p.header(), "TIME        SENT  RATE       ETA       SNAPSHOT\n"; got != want {
		t.Errorf("header %q, want %q", got, want)
	}
	tests := []struct {
		n       int64
		at      time.Duration
		total   uint64
		want    string
		wantTab string
	}{
		{0, 0, 10 << 20, "12:34:50      0B  -          -         tank/media@second\n", "12:34:50\t0\ttank/media@second\n"},
		{0, time.Second, 10 << 20, "12:34:51      0B  0B/s       -         tank/media@second\n", "12:34:51\t0\ttank/media@second\n"},
		{1 << 20, 2 * time.Second, 10 << 20, "12:34:52      1M  512K/s     00:00:18  tank/media@second\n", "12:34:52\t1048576\ttank/media@second\n"},
		{12345678, 4 * time.Second, 0, "12:34:54   11.8M  2.94M/s    -         tank/media@second\n", "12:34:54\t12345678\ttank/media@second\n"},
		// Past the estimate: no ETA.
		{11 << 20, 5 * time.Second, 10 << 20, "12:34:55     11M  2.20M/s    -         tank/media@second\n", "12:34:55\t11534336\ttank/media@second\n"},
		{1, 10 * time.Second, 1 << 40, "12:35:00      1B  0B/s       -         tank/media@second\n", "12:35:00\t1\ttank/media@second\n"},
		{1 << 30, 100 * time.Second, 1 << 40, "12:36:30      1G  10.2M/s    28:25:00  tank/media@second\n", "12:36:30\t1073741824\ttank/media@second\n"},
	}
	for _, tt := range tests {
		n = tt.n
		p.total = tt.total
		p.parsable = false
		if got := p.line(start.Add(tt.at)); got != tt.want {
			t.Errorf("n=%d at %v: %q, want %q", tt.n, tt.at, got, tt.want)
		}
		p.parsable = true
		if got := p.line(start.Add(tt.at)); got != tt.wantTab {
			t.Errorf("parsable n=%d at %v: %q, want %q", tt.n, tt.at, got, tt.wantTab)
		}
	}
	if p.header() != "" {
		t.Error("parsable progress has a header")
	}
}

func TestProgressRunStop(t *testing.T) {
	t.Parallel()
	var buf syncWriter
	var n int64 = 4096
	p := newProgress(&buf, time.UTC, "tank/a@s", 0, true, func() int64 { return n })
	p.run(5 * time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	p.stop()
	p.stop() // idempotent
	after := buf.String()
	time.Sleep(20 * time.Millisecond)
	if buf.String() != after {
		t.Error("progress printed after stop")
	}
	lines := strings.Split(strings.TrimSuffix(after, "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("lines %q", lines)
	}
	for _, l := range lines {
		if f := strings.Split(l, "\t"); len(f) != 3 || len(f[0]) != 8 || f[1] != "4096" || f[2] != "tank/a@s" {
			t.Errorf("line %q", l)
		}
	}
	(&progress{}).stop() // never started
}

func TestSummary(t *testing.T) {
	t.Parallel()
	tests := []struct {
		verb string
		n    int64
		d    time.Duration
		want string
	}{
		{"sent", 1288490188, 10400 * time.Millisecond, "sent 1.20G stream in 10.40 seconds (118M/sec)\n"},
		{"received", 312, time.Second, "received 312B stream in 1.00 seconds (312B/sec)\n"},
		{"received", 0, 0, "received 0B stream in 0.00 seconds (0B/sec)\n"},
	}
	for _, tt := range tests {
		if got := summary(tt.verb, tt.n, tt.d); got != tt.want {
			t.Errorf("%q, want %q", got, tt.want)
		}
	}
}

func TestEstimateLines(t *testing.T) {
	t.Parallel()
	est := api.SendEstimate{Bytes: 1288494284, Streams: []api.StreamInfo{
		{To: "tank/media@first", Bytes: 1288490188},
		{From: "@first", To: "tank/media@second", Bytes: 4096},
	}}
	human := "full send of tank/media@first estimated size is 1.20G\n" +
		"incremental send from @first to tank/media@second estimated size is 4K\n" +
		"total estimated size is 1.20G\n"
	if got := estimateLines(est, false); got != human {
		t.Errorf("human:\n%s\nwant:\n%s", got, human)
	}
	parsable := "full\ttank/media@first\t1288490188\n" +
		"incremental\t@first\ttank/media@second\t4096\n" +
		"size\t1288494284\n"
	if got := estimateLines(est, true); got != parsable {
		t.Errorf("parsable:\n%s\nwant:\n%s", got, parsable)
	}
}

func TestCounting(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	w := &countingWriter{w: &b}
	w.Write([]byte("hello"))
	w.Write(nil)
	r := &countingReader{r: strings.NewReader("stream bytes")}
	_, _ = r.Read(make([]byte, 6))
	if w.n.Load() != 5 || r.n.Load() != 6 {
		t.Errorf("counted %d, %d", w.n.Load(), r.n.Load())
	}
}

type ttyFake struct{ bytes.Buffer }

func (*ttyFake) IsTerminal() bool { return true }

func TestIsTerminal(t *testing.T) {
	t.Parallel()
	if isTerminal(&bytes.Buffer{}) || isTerminal(nil) || !isTerminal(&ttyFake{}) {
		t.Error("isTerminal")
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// remaining is the size left to read of a regular file, from its offset;
// 0 (unknown) for anything else.
func TestRemaining(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "stream")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(make([]byte, 10000)); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Seek(2500, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if n := remaining(f); n != 7500 {
		t.Errorf("file at 2500 of 10000: %d", n)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	pw.Write([]byte("abc"))
	if n := remaining(pr); n != 0 {
		t.Errorf("pipe: %d", n)
	}
}

// The receive header and line: RECEIVED and DATASET, the target as label.
func TestReceiveProgressLine(t *testing.T) {
	p := newProgress(io.Discard, time.UTC, "backup/a", 4<<20, false, func() int64 { return 1 << 20 })
	p.receive = true
	p.start = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	if h := p.header(); h != "TIME      RECEIVED  RATE       ETA       DATASET\n" {
		t.Errorf("header %q", h)
	}
	if l := p.line(p.start.Add(time.Second)); l != "03:04:06        1M  1M/s       00:00:03  backup/a\n" {
		t.Errorf("line %q", l)
	}
}
