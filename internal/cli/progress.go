package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/term"

	"coffer/internal/api"
)

// Progress of send and receive: bytes are counted here, on the client side,
// as they pass through stdout or stdin, and reported on stderr.

// progressInterval is how often `send -v` prints a progress line.
const progressInterval = time.Second

// countingWriter counts the bytes written through it; n may be read while
// writes are going on.
type countingWriter struct {
	w io.Writer
	n atomic.Int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// progress prints one line per tick while a stream moves:
//
//	TIME        SENT  RATE       ETA       SNAPSHOT
//	12:34:56   11.8M  5.90M/s    00:00:12  tank/a@s
//
// (receive: RECEIVED and DATASET, the target),
// or, parsable (-P), zfs's "12:34:56<TAB>12345678<TAB>tank/a@s".
type progress struct {
	w        io.Writer
	loc      *time.Location
	now      func() time.Time
	label    string // the snapshot being sent (receive: the target)
	receive  bool   // the columns say RECEIVED and DATASET; header with the first line
	total    uint64 // estimated stream size; 0 when unknown
	parsable bool
	count    func() int64 // bytes so far
	start    time.Time

	stopOnce sync.Once
	done     chan struct{}
	stopped  chan struct{}
}

func newProgress(w io.Writer, loc *time.Location, label string, total uint64, parsable bool, count func() int64) *progress {
	if loc == nil {
		loc = time.Local
	}
	return &progress{w: w, loc: loc, now: time.Now, label: label, total: total, parsable: parsable, count: count}
}

func (p *progress) header() string {
	if p.parsable {
		return ""
	}
	if p.receive {
		return fmt.Sprintf("%-8s  %8s  %-9s  %-8s  %s\n", "TIME", "RECEIVED", "RATE", "ETA", "DATASET")
	}
	return fmt.Sprintf("%-8s  %6s  %-9s  %-8s  %s\n", "TIME", "SENT", "RATE", "ETA", "SNAPSHOT")
}

// line is the progress line at now.
func (p *progress) line(now time.Time) string {
	n := max(p.count(), 0)
	clock := now.In(p.loc).Format("15:04:05")
	if p.parsable {
		return fmt.Sprintf("%s\t%d\t%s\n", clock, n, p.label)
	}
	rate, eta := "-", "-"
	if el := now.Sub(p.start).Seconds(); el > 0 {
		r := float64(n) / el
		rate = nicenum(uint64(r), niceBytes) + "/s"
		if p.total > uint64(n) && r >= 1 {
			eta = hhmmss(time.Duration(float64(p.total-uint64(n)) / r * float64(time.Second)))
		}
	}
	width := 6
	if p.receive {
		width = 8
	}
	return fmt.Sprintf("%s  %*s  %-9s  %-8s  %s\n", clock, width, nicenum(uint64(n), niceBytes), rate, eta, p.label)
}

// hhmmss formats d as HH:MM:SS (hours may exceed 99).
func hhmmss(d time.Duration) string {
	s := int64(d.Round(time.Second) / time.Second)
	return fmt.Sprintf("%02d:%02d:%02d", s/3600, s/60%60, s%60)
}

// run prints the header now and a line every interval until stop. A
// receive prints its header with its first line, so that a short receive
// or a refused stream prints none.
func (p *progress) run(interval time.Duration) {
	p.start = p.now()
	p.done, p.stopped = make(chan struct{}), make(chan struct{})
	header := p.header()
	if !p.receive {
		fmt.Fprint(p.w, header)
		header = ""
	}
	go func() {
		defer close(p.stopped)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-t.C:
				fmt.Fprint(p.w, header+p.line(p.now()))
				header = ""
			}
		}
	}()
}

// stop ends the ticking; no line is printed after it returns. A nil
// progress (no -v) has nothing to stop.
func (p *progress) stop() {
	if p == nil || p.done == nil {
		return
	}
	p.stopOnce.Do(func() { close(p.done) })
	<-p.stopped
}

// summary is zfs's closing line: "sent 11.8M stream in 2.00 seconds (5.90M/sec)".
func summary(verb string, n int64, elapsed time.Duration) string {
	secs := elapsed.Seconds()
	rate := float64(n)
	if secs > 0 {
		rate = float64(n) / secs
	}
	return fmt.Sprintf("%s %s stream in %.2f seconds (%s/sec)\n",
		verb, nicenum(uint64(max(n, 0)), niceBytes), secs, nicenum(uint64(rate), niceBytes))
}

// estimateLines are the -v (human) or -P (parsable) lines of a send estimate.
func estimateLines(est api.SendEstimate, parsable bool) string {
	var out string
	for _, s := range est.Streams {
		switch {
		case parsable && s.From == "":
			out += fmt.Sprintf("full\t%s\t%d\n", s.To, s.Bytes)
		case parsable:
			out += fmt.Sprintf("incremental\t%s\t%s\t%d\n", s.From, s.To, s.Bytes)
		case s.From == "":
			out += fmt.Sprintf("full send of %s estimated size is %s\n", s.To, nicenum(s.Bytes, niceBytes))
		default:
			out += fmt.Sprintf("incremental send from %s to %s estimated size is %s\n", s.From, s.To, nicenum(s.Bytes, niceBytes))
		}
	}
	if parsable {
		return out + fmt.Sprintf("size\t%d\n", est.Bytes)
	}
	return out + fmt.Sprintf("total estimated size is %s\n", nicenum(est.Bytes, niceBytes))
}

// isTerminal reports whether the stream v (Env.Stdin, Env.Stdout) is a
// terminal: an *os.File on a tty, or a value with an IsTerminal() bool
// method that says so (how tests stand in for a tty).
func isTerminal(v any) bool {
	switch f := v.(type) {
	case interface{ IsTerminal() bool }:
		return f.IsTerminal()
	case *os.File:
		return term.IsTerminal(int(f.Fd()))
	}
	return false
}
