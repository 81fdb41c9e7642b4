package hangwatch

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv("HANGWATCH_HANG") == "1" {
		// The hung test binary of TestReportBeforeTimeout.
		Start(func(w io.Writer) { fmt.Fprintln(w, "extra: the caller's part") })
	}
	os.Exit(m.Run())
}

// TestHang is the test that hangs, in the binary TestReportBeforeTimeout
// starts.
func TestHang(t *testing.T) {
	if os.Getenv("HANGWATCH_HANG") != "1" {
		t.Skip("only in the hung binary")
	}
	time.Sleep(time.Hour)
}

// TestReportBeforeTimeout runs a test binary that hangs and checks that the
// report comes out before Go's timeout panic ends it.
func TestReportBeforeTimeout(t *testing.T) {
	cmd := exec.Command(os.Args[0], "-test.timeout=3s", "-test.run=^TestHang$")
	cmd.Env = append(os.Environ(), "HANGWATCH_HANG=1")
	start := time.Now()
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("the hung binary exited 0:\n%s", out)
	}
	s := string(out)
	report := strings.Index(s, "=== hangwatch: the test binary is about to time out")
	extra := strings.Index(s, "extra: the caller's part")
	panicAt := strings.Index(s, "panic: test timed out")
	if report < 0 || extra < report || panicAt < extra || !strings.Contains(s, "=== hangwatch: end") {
		t.Fatalf("want the report, then the caller's part, then the timeout panic; got:\n%s", s)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Fatalf("the hung binary ran %v", d)
	}
}

func TestStartWithoutTimeout(t *testing.T) {
	// -test.timeout=0 (no timeout): nothing is armed, stop is harmless.
	f := flag.Lookup("test.timeout")
	old := f.Value.String()
	if err := f.Value.Set("0"); err != nil {
		t.Fatal(err)
	}
	defer f.Value.Set(old)
	Start(func(io.Writer) { t.Error("armed without a timeout") })()
}

func TestParseStat(t *testing.T) {
	for _, c := range []struct{ in, comm, state string }{
		{"123 (go) S 1 2 3", "go", "S"},
		{"9 (a) b (c)) D 1 2", "a) b (c)", "D"},
		{"garbage", "?", "?"},
		{"1 (x)", "?", "?"},
	} {
		comm, state := parseStat(c.in)
		if comm != c.comm || state != c.state {
			t.Errorf("parseStat(%q) = %q, %q; want %q, %q", c.in, comm, state, c.comm, c.state)
		}
	}
}

func TestInteresting(t *testing.T) {
	for _, c := range []struct {
		state, wchan, stack string
		want                bool
	}{
		{"D", "", "", true},
		{"S", "request_wait_answer", "", true},
		{"S", "0", "[<0>] folio_wait_bit_common+0x1/0x2\n", true},
		{"S", "do_epoll_wait", "[<0>] do_epoll_wait+0x1/0x2\n", false},
		{"R", "0", "", false},
	} {
		if got := interesting(c.state, c.wchan, c.stack); got != c.want {
			t.Errorf("interesting(%q, %q, %q) = %v", c.state, c.wchan, c.stack, got)
		}
	}
}
