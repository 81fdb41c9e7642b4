package main

import (
	"bytes"
	"image/png"
	"math"
	"strings"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{0.9, 1.1, 0.2, 7, 1.0}, 1.0},
	} {
		in := append([]float64(nil), c.in...)
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
		for i := range in {
			if in[i] != c.in[i] {
				t.Fatalf("median reordered its input: %v", c.in)
			}
		}
	}
	if !math.IsNaN(median(nil)) {
		t.Error("median of nothing must be NaN, not a number that could pass a target")
	}
}

func TestFinishMedianOfPerPairRatios(t *testing.T) {
	// The median of the per-pair ratios differs from the ratio of the
	// medians: pair 3's outlier peer must not move the figure.
	f := &Figure{Subj: []float64{100, 200, 300}, PeerV: []float64{100, 100, 1}, Dir: AtLeast, Target: 1.5}
	f.finish()
	want := []float64{1, 2, 300}
	for i := range want {
		if f.Ratios[i] != want[i] {
			t.Fatalf("ratios %v, want %v", f.Ratios, want)
		}
	}
	if f.Median != 2 || f.Min != 1 || f.Max != 300 || !f.Pass {
		t.Fatalf("median %v min %v max %v pass %v", f.Median, f.Min, f.Max, f.Pass)
	}
	// Ratio of medians would be 200/100 = 2 here too; make them differ.
	g := &Figure{Subj: []float64{10, 10, 10}, PeerV: []float64{5, 20, 20}, Dir: AtLeast, Target: 1}
	g.finish()
	if g.Median != 0.5 || g.Pass {
		t.Fatalf("median %v pass %v, want 0.5 and missed", g.Median, g.Pass)
	}
}

func TestPassByDirection(t *testing.T) {
	for _, c := range []struct {
		ratio, target float64
		dir           Direction
		want          bool
	}{
		{1.6, 1.5, AtLeast, true},
		{1.5, 1.5, AtLeast, true},
		{1.49, 1.5, AtLeast, false},
		{0.4, 0.5, AtMost, true},
		{0.5, 0.5, AtMost, true},
		{0.51, 0.5, AtMost, false},
		{math.NaN(), 1, AtLeast, false},
		{math.NaN(), 1, AtMost, false},
		{math.Inf(1), 1, AtLeast, false},
	} {
		if got := pass(c.ratio, c.target, c.dir); got != c.want {
			t.Errorf("pass(%v %s %v) = %v, want %v", c.ratio, c.dir, c.target, got, c.want)
		}
	}
}

func sample() *Result {
	r := &Result{Date: time.Date(2026, 12, 2, 23, 0, 0, 0, time.UTC), CPU: "test cpu", Cores: 2, Pairs: 3, SeqPairs: 7,
		SeqBytes: 1 << 30, BigBytes: 4 << 30, LoadStart: [3]float64{1.5, 1, 1}, LoadEnd: [3]float64{2.25, 1, 1}, LoadMax: 7.5,
		Crypto: "aes-256-gcm      900 MB/s\n"}
	a := &Figure{ID: "P1", Name: "sequential write + fsync", Subject: "coffer aes-256-gcm", Peer: "gocryptfs", Unit: "MB/s",
		Subj: []float64{200, 210, 190}, PeerV: []float64{100, 100, 100}, Dir: AtLeast, Target: 1.5}
	m := &Figure{ID: "P3", Name: "untar (time)", Subject: "coffer aes-256-gcm", Peer: "gocryptfs", Unit: "s",
		Subj: []float64{8, 9, 10}, PeerV: []float64{10, 10, 10}, Dir: AtMost, Target: 0.5, Profile: "flat  flat%\n 1s 50% main.slow\n"}
	a.finish()
	m.finish()
	r.Figures = []*Figure{a, m}
	return r
}

func TestMarkdown(t *testing.T) {
	md := Markdown(sample())
	for _, want := range []string{
		"| P1 | sequential write + fsync | coffer aes-256-gcm | gocryptfs | 200 MB/s | 100 MB/s | 2.00x (1.90–2.10) | ≥ 1.50x | met |",
		"| P3 | untar (time) | coffer aes-256-gcm | gocryptfs | 9.00 s | 10.0 s | 0.900x (0.800–1.00) | ≤ 0.500x | **missed** |",
		"load average 1.50 at the start, 2.25 at the end, 7.50 at most",
		"3 interleaved pairs per figure (P1 and P2: 7);",
		"P3 untar (time) (missed): where coffer's CPU time went",
		"main.slow",
		"aes-256-gcm      900 MB/s",
		"![ratio against target per figure](benchmarks.png)",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "quick") {
		t.Error("a full run must not say quick")
	}
	r := sample()
	r.Quick = true
	if !strings.Contains(Markdown(r), "quick run") {
		t.Error("a quick run must say so")
	}
	// A met figure's profile is not shown.
	r.Figures[0].Profile = "should not appear"
	if strings.Contains(Markdown(r), "should not appear") {
		t.Error("profile of a met figure shown")
	}
	// Two missed figures of one operation show its profile once.
	m2 := *r.Figures[1]
	m2.Peer = "the disk"
	r.Figures = append(r.Figures, &m2)
	if n := strings.Count(Markdown(r), "main.slow"); n != 1 {
		t.Errorf("shared profile shown %d times, want once", n)
	}
}

func TestSplice(t *testing.T) {
	doc := "# Benchmarks\n\nIntro.\n\n## Block pipeline\n\nold analysis\n"
	once := Splice(doc, "TABLE 1\n")
	if !strings.HasPrefix(once, "# Benchmarks\n\nIntro.\n\n## Latest run") ||
		!strings.Contains(once, beginMarker+"\nTABLE 1\n"+endMarker) ||
		!strings.HasSuffix(once, "## Block pipeline\n\nold analysis\n") {
		t.Fatalf("first splice:\n%s", once)
	}
	twice := Splice(once, "TABLE 2\n")
	if strings.Contains(twice, "TABLE 1") || !strings.Contains(twice, "TABLE 2") ||
		strings.Count(twice, beginMarker) != 1 || strings.Count(twice, "## Latest run") != 1 ||
		!strings.HasSuffix(twice, "## Block pipeline\n\nold analysis\n") {
		t.Fatalf("second splice:\n%s", twice)
	}
}

func TestChartIsPNGOfExpectedSize(t *testing.T) {
	r := sample()
	data, err := Chart(r)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("not a PNG: %v", err)
	}
	w, h := ChartSize(len(r.Figures))
	if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
		t.Fatalf("size %v, want %dx%d", b, w, h)
	}
	// The met figure's bar is green, the missed one's red, at the start
	// of the bar area.
	isColour := func(y int, rr, gg, bb uint32) bool {
		c1, c2, c3, _ := img.At(chartLeft+2, y).RGBA()
		return c1>>8 == rr && c2>>8 == gg && c3>>8 == bb
	}
	if !isColour(chartTop+chartRowH/2, 40, 160, 60) {
		t.Error("met figure's bar is not green")
	}
	if !isColour(chartTop+chartRowH+chartRowH/2, 210, 50, 40) {
		t.Error("missed figure's bar is not red")
	}
	more := append(r.Figures, r.Figures...)
	r.Figures = more
	data, _ = Chart(r)
	img, _ = png.Decode(bytes.NewReader(data))
	if _, h2 := ChartSize(4); img.Bounds().Dy() != h2 || h2 <= h {
		t.Fatalf("chart does not grow with figures: %d", img.Bounds().Dy())
	}
}

func TestFontGlyphsAreComplete(t *testing.T) {
	for r, g := range font {
		if len(g) != 15 {
			t.Errorf("glyph %q has %d cells, want 15", r, len(g))
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1G": 1 << 30, "4g": 4 << 30, "64M": 64 << 20, "256m": 256 << 20} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "0", "-1G", "10M", "1T", "abc"} {
		if _, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) accepted", bad)
		}
	}
}

func TestFioIOPS(t *testing.T) {
	out := "note: both iodepth >= 1 and synchronous I/O engine are selected\n" +
		`{"fio version":"fio-3.33","jobs":[{"jobname":"p4","read":{"iops":1234.5}}]}`
	if got := fioIOPS(out); got != 1234.5 {
		t.Fatalf("fioIOPS = %v", got)
	}
}

func TestOrderAlternatesWhoGoesFirst(t *testing.T) {
	if got := order(0, "coffer", "peer"); got[0] != "coffer" || got[1] != "peer" {
		t.Fatalf("pair 0: %v", got)
	}
	if got := order(1, "coffer", "peer"); got[0] != "peer" || got[1] != "coffer" {
		t.Fatalf("pair 1: %v", got)
	}
	in := []string{"a", "b", "c"}
	order(1, in...)
	if in[0] != "a" {
		t.Fatal("order changed its input")
	}
}

func TestOrderNoteSplitsPairsByWhoWentFirst(t *testing.T) {
	f := &Figure{Peer: "the disk", Unit: "MB/s",
		Subj:  []float64{800, 1200, 900, 1300, 700},
		PeerV: []float64{4000, 600, 3800, 700, 0}}
	got := f.orderNote()
	want := "2 pairs with coffer first: median 850 against 3900 MB/s, 0.218x; " +
		"2 pairs with the disk first: median 1250 against 650 MB/s, 1.93x."
	if got != want {
		t.Fatalf("orderNote:\n got %q\nwant %q", got, want)
	}
	// Recorded orders win over the parity rule.
	f.SubjFirst = []bool{false, true, false, true, true}
	got = f.orderNote()
	want = "2 pairs with coffer first: median 1250 against 650 MB/s, 1.93x; " +
		"2 pairs with the disk first: median 850 against 3900 MB/s, 0.218x."
	if got != want {
		t.Fatalf("orderNote with SubjFirst:\n got %q\nwant %q", got, want)
	}
	if got := (&Figure{Peer: "p", Unit: "s", Subj: []float64{1}, PeerV: []float64{2}}).orderNote(); !strings.Contains(got, "1 pair with coffer first") || !strings.Contains(got, "no pair with p first") {
		t.Fatalf("one pair: %q", got)
	}
}

// The six read orders of P1/P2 must be balanced: over six pairs every
// target runs twice in each position and every ordered pair of targets
// runs back to back twice, or the host's caching can favour one target.
func TestRotations3AreBalanced(t *testing.T) {
	var at [3][3]int   // target, position
	var next [3][3]int // target, target right after it
	for p := range 6 {
		o := balanced3(p, 0, 1, 2)
		for i, x := range o {
			at[x][i]++
			if i > 0 {
				next[o[i-1]][x]++
			}
		}
	}
	for x := range 3 {
		for y := range 3 {
			if at[x][y] != 2 {
				t.Errorf("target %d in position %d: %d times, want 2", x, y, at[x][y])
			}
			if want := map[bool]int{true: 0, false: 2}[x == y]; next[x][y] != want {
				t.Errorf("target %d right before %d: %d times, want %d", x, y, next[x][y], want)
			}
		}
	}
	if got := balanced3(7, "a", "b", "c"); strings.Join(got, "") != "cba" {
		t.Errorf("pair 7 (second cycle) = %v, want the order of pair 1", got)
	}
}
