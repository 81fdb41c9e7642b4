package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"sort"
	"strings"
	"time"
)

// Direction says which side of the target a ratio must fall on.
type Direction string

const (
	AtLeast Direction = ">=" // ratio >= target (throughput, speed)
	AtMost  Direction = "<=" // ratio <= target (time, size, memory)
)

// Figure is one measured ratio: subject against a peer or a physical
// ceiling, one value of each per pair.
type Figure struct {
	ID      string    `json:"id"`   // P1 … P8
	Name    string    `json:"name"` // what is measured
	Subject string    `json:"subject"`
	Peer    string    `json:"peer"`
	Unit    string    `json:"unit"` // unit of the per-pair values
	Subj    []float64 `json:"subject_values"`
	PeerV   []float64 `json:"peer_values"`
	Ratios  []float64 `json:"ratios"` // subject / peer, per pair
	Median  float64   `json:"median_ratio"`
	Min     float64   `json:"min_ratio"`
	Max     float64   `json:"max_ratio"`
	Dir     Direction `json:"direction"`
	Target  float64   `json:"target"`
	Pass    bool      `json:"pass"`
	Note    string    `json:"note,omitempty"`
	Profile string    `json:"profile,omitempty"` // go tool pprof -top of the daemon, when missed
	// SubjFirst says per pair whether the subject ran before the peer,
	// where the runner recorded it (P1, P2); without it, orderNote takes
	// order()'s rule: the subject first in the pairs with an even index.
	SubjFirst []bool `json:"subject_first,omitempty"`

	profileOp string // which profiled operation of coffer's this figure times
}

// Result is one run of the benchmark runner.
type Result struct {
	Date      time.Time  `json:"date"`
	Quick     bool       `json:"quick"`
	Host      string     `json:"host"`
	CPU       string     `json:"cpu"`
	Cores     int        `json:"cores"`
	Pairs     int        `json:"pairs"`
	SeqPairs  int        `json:"seq_pairs,omitempty"` // pairs of P1 and P2 (0 in older results: Pairs)
	SeqBytes  int64      `json:"seq_bytes"`           // P1, P2, P4 file size
	BigBytes  int64      `json:"big_bytes"`           // P6, P7, P8 data set size
	LoadStart [3]float64 `json:"loadavg_start"`
	LoadEnd   [3]float64 `json:"loadavg_end"`
	LoadMax   float64    `json:"loadavg_max"` // highest 1-minute load average seen during the run
	Crypto    string     `json:"coffer_benchmark_crypto"`
	Figures   []*Figure  `json:"figures"`
	Notes     []string   `json:"notes,omitempty"`
}

// median of xs (the mean of the two middle values for an even count).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// pass tells whether ratio meets target in direction d.
func pass(ratio, target float64, d Direction) bool {
	if math.IsNaN(ratio) || math.IsInf(ratio, 0) {
		return false
	}
	if d == AtMost {
		return ratio <= target
	}
	return ratio >= target
}

// finish computes the per-pair ratios, their median, min and max, and the
// verdict.
func (f *Figure) finish() {
	f.Ratios = f.Ratios[:0]
	for i := range min(len(f.Subj), len(f.PeerV)) {
		if f.PeerV[i] == 0 {
			continue
		}
		f.Ratios = append(f.Ratios, f.Subj[i]/f.PeerV[i])
	}
	f.Median = median(f.Ratios)
	if len(f.Ratios) > 0 {
		f.Min, f.Max = f.Ratios[0], f.Ratios[0]
		for _, r := range f.Ratios {
			f.Min, f.Max = min(f.Min, r), max(f.Max, r)
		}
	}
	f.Pass = pass(f.Median, f.Target, f.Dir)
}

// orderNote describes a figure's pairs split by which of subject and peer
// was measured first: as recorded in SubjFirst, or else by order()'s rule,
// the subject first in the pairs with an even index and the peer first in
// the others. Where the position in a
// pair changes a value more than the code under test does, the two halves
// differ widely and the median is set by whichever half holds the middle
// pair; the note shows both halves so that a reader can see it.
func (f *Figure) orderNote() string {
	var sFirst, pFirst [3][]float64 // subject values, peer values, ratios
	for i := range min(len(f.Subj), len(f.PeerV)) {
		if f.PeerV[i] == 0 {
			continue
		}
		first := i%2 == 0
		if i < len(f.SubjFirst) {
			first = f.SubjFirst[i]
		}
		h := &sFirst
		if !first {
			h = &pFirst
		}
		h[0] = append(h[0], f.Subj[i])
		h[1] = append(h[1], f.PeerV[i])
		h[2] = append(h[2], f.Subj[i]/f.PeerV[i])
	}
	half := func(who string, h [3][]float64) string {
		if len(h[2]) == 0 {
			return fmt.Sprintf("no pair with %s first", who)
		}
		pairs := "pairs"
		if len(h[2]) == 1 {
			pairs = "pair"
		}
		return fmt.Sprintf("%d %s with %s first: median %s against %s %s, %sx", len(h[2]), pairs, who,
			fmtNum(median(h[0])), fmtNum(median(h[1])), f.Unit, fmtNum(median(h[2])))
	}
	return half("coffer", sFirst) + "; " + half(f.Peer, pFirst) + "."
}

// score is how far a figure is from its target, > 1 when met: ratio/target
// for AtLeast, target/ratio for AtMost.
func (f *Figure) score() float64 {
	if f.Dir == AtMost {
		if f.Median <= 0 {
			return math.Inf(1)
		}
		return f.Target / f.Median
	}
	return f.Median / f.Target
}

func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case math.IsNaN(v):
		return "n/a"
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	case a >= 1:
		return fmt.Sprintf("%.2f", v)
	case a >= 0.01:
		return fmt.Sprintf("%.3f", v)
	default:
		return fmt.Sprintf("%.4f", v)
	}
}

// Markdown renders the result as the table that goes into
// docs/benchmarks.md, followed by the profiles of missed targets.
func Markdown(r *Result) string {
	var b strings.Builder
	kind := "full run"
	if r.Quick {
		kind = "quick run (small sizes, few pairs: not the figures of record)"
	}
	pairs := fmt.Sprintf("%d interleaved pairs per figure", r.Pairs)
	if r.SeqPairs > 0 && r.SeqPairs != r.Pairs {
		pairs += fmt.Sprintf(" (P1 and P2: %d)", r.SeqPairs)
	}
	fmt.Fprintf(&b, "Generated by `bench/run.sh` on %s, %s: %s, %d cores; %s; "+
		"sequential file %s, send/RSS data set %s; load average %.2f at the start, %.2f at the end, %.2f at most.\n\n",
		r.Date.UTC().Format("2006-01-02 15:04 UTC"), kind, r.CPU, r.Cores, pairs,
		sizeStr(r.SeqBytes), sizeStr(r.BigBytes), r.LoadStart[0], r.LoadEnd[0], r.LoadMax)
	b.WriteString("| | figure | subject | peer / ceiling | subject (median) | peer (median) | ratio: median (min–max) | target | |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|\n")
	for _, f := range r.Figures {
		verdict := "met"
		if !f.Pass {
			verdict = "**missed**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s %s | %s %s | %sx (%s–%s) | %s %sx | %s |\n",
			f.ID, f.Name, f.Subject, f.Peer,
			fmtNum(median(f.Subj)), f.Unit, fmtNum(median(f.PeerV)), f.Unit,
			fmtNum(f.Median), fmtNum(f.Min), fmtNum(f.Max),
			strings.NewReplacer(">=", "≥", "<=", "≤").Replace(string(f.Dir)), fmtNum(f.Target), verdict)
	}
	b.WriteString("\n![ratio against target per figure](benchmarks.png)\n")
	for _, f := range r.Figures {
		if f.Note != "" {
			fmt.Fprintf(&b, "\n- %s %s: %s", f.ID, f.Name, f.Note)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n- %s", n)
	}
	b.WriteString("\n")
	if r.Crypto != "" {
		fmt.Fprintf(&b, "\n`coffer benchmark crypto` (one core, 128 KiB blocks):\n\n```\n%s```\n", r.Crypto)
	}
	// Figures of one operation share its profile: it is printed once,
	// under the first of them that missed.
	shown := map[string]bool{}
	for _, f := range r.Figures {
		if !f.Pass && f.Profile != "" && !shown[f.ID+" "+f.Profile] {
			shown[f.ID+" "+f.Profile] = true
			fmt.Fprintf(&b, "\n%s %s (missed): where coffer's CPU time went (`go tool pprof -top`):\n\n```\n%s```\n",
				f.ID, f.Name, f.Profile)
		}
	}
	return b.String()
}

func sizeStr(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	default:
		return fmt.Sprintf("%d B", n)
	}
}

// Markers delimit the generated part of docs/benchmarks.md.
const (
	beginMarker = "<!-- bench/run.sh: begin -->"
	endMarker   = "<!-- bench/run.sh: end -->"
)

// Splice puts gen between the markers in doc; without markers it goes
// after the first paragraph (the title and introduction), and the rest of
// the document is kept.
func Splice(doc, gen string) string {
	block := beginMarker + "\n" + gen + endMarker + "\n"
	if i := strings.Index(doc, beginMarker); i >= 0 {
		if j := strings.Index(doc[i:], endMarker); j >= 0 {
			rest := strings.TrimPrefix(doc[i+j+len(endMarker):], "\n")
			return doc[:i] + block + rest
		}
	}
	// After the introduction: before the first "## " section.
	if i := strings.Index(doc, "\n## "); i >= 0 {
		return doc[:i+1] + "## Latest run (`bench/run.sh`)\n\n" + block + "\n" + doc[i+1:]
	}
	return doc + "\n" + block
}

// Chart geometry.
const (
	chartW     = 1120
	chartRowH  = 22
	chartTop   = 34
	chartLeft  = 450
	chartRight = 160
	chartMinS  = 0.01 // log scale of the score: 0.01 … 100
	chartMaxS  = 100.0
)

// ChartSize is the size of the PNG for n figures.
func ChartSize(n int) (int, int) { return chartW, chartTop + n*chartRowH + 24 }

// Chart draws one bar per figure: its score (ratio against target, > 1
// when met) on a log scale, green when met, red when missed, with the
// target at 1 as a vertical line.
func Chart(r *Result) ([]byte, error) {
	w, h := ChartSize(len(r.Figures))
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), color.RGBA{255, 255, 255, 255})
	black := color.RGBA{0, 0, 0, 255}
	grey := color.RGBA{200, 200, 200, 255}
	title := "COFFER: RATIO AGAINST TARGET (LOG SCALE, RIGHT OF THE LINE = MET)"
	if r.Quick {
		title = "QUICK RUN - " + title
	}
	drawText(img, 8, 8, title, black)
	x0, x1 := chartLeft, w-chartRight
	xOf := func(s float64) int {
		s = math.Max(chartMinS, math.Min(chartMaxS, s))
		t := (math.Log10(s) - math.Log10(chartMinS)) / (math.Log10(chartMaxS) - math.Log10(chartMinS))
		return x0 + int(t*float64(x1-x0))
	}
	bottom := chartTop + len(r.Figures)*chartRowH
	for _, s := range []float64{0.01, 0.1, 1, 10, 100} {
		x := xOf(s)
		fill(img, image.Rect(x, chartTop-4, x+1, bottom), grey)
		drawText(img, x-8, bottom+6, fmtNum(s), black)
	}
	for i, f := range r.Figures {
		y := chartTop + i*chartRowH
		label := f.ID + " " + f.Name + " / " + f.Peer
		if len(label) > 54 {
			label = label[:54]
		}
		drawText(img, 8, y+6, strings.ToUpper(label), black)
		c := color.RGBA{40, 160, 60, 255}
		if !f.Pass {
			c = color.RGBA{210, 50, 40, 255}
		}
		s := f.score()
		if math.IsNaN(s) {
			s = chartMinS
		}
		fill(img, image.Rect(x0, y+3, max(x0+1, xOf(s)), y+chartRowH-3), c)
		drawText(img, x1+6, y+6, strings.ToUpper(fmtNum(f.Median)+"x "+string(f.Dir)+" "+fmtNum(f.Target)), black)
	}
	one := xOf(1)
	fill(img, image.Rect(one-1, chartTop-4, one+1, bottom), black)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// font is a 3x5 bitmap font, one string of 15 bits ('#' set) per glyph,
// row by row.
var font = map[rune]string{
	'A': ".#.#.#####.##.#", 'B': "##.#.###.#.###.", 'C': ".###..#..#...##",
	'D': "##.#.##.##.###.", 'E': "####..##.#..###", 'F': "####..##.#..#..",
	'G': ".###..#.##.#.##", 'H': "#.##.#####.##.#", 'I': "###.#..#..#.###",
	'J': "..#..#..##.#.#.", 'K': "#.##.###.#.##.#", 'L': "#..#..#..#..###",
	'M': "#.########.##.#", 'N': "##.#.##.##.##.#", 'O': ".#.#.##.##.#.#.",
	'P': "##.#.###.#..#..", 'Q': ".#.#.##.###..##", 'R': "##.#.###.#.##.#",
	'S': ".###...#...###.", 'T': "###.#..#..#..#.", 'U': "#.##.##.##.####",
	'V': "#.##.##.##.#.#.", 'W': "#.##.########.#", 'X': "#.##.#.#.#.##.#",
	'Y': "#.##.#.#..#..#.", 'Z': "###..#.#.#..###", '0': "####.##.##.####",
	'1': ".#.##..#..#.###", '2': "###..#####..###", '3': "###..####..####",
	'4': "#.##.####..#..#", '5': "####..###..####", '6': "####..####.####",
	'7': "###..#..#..#..#", '8': "####.#####.####", '9': "####.####..####",
	'.': ".............#.", ',': "..........#.#..", '-': "......###......",
	'/': "..#..#.#.#..#..", ':': "....#.....#....", '>': "#...#...#.#.#..",
	'<': "..#.#.#...#...#", '=': "...###...###...", '(': ".#.#..#..#...#.",
	')': ".#...#..#..#.#.", '%': "#.#..#.#.#..#.#", '+': "....#.###.#....",
	'&': ".#.#.#.#.#.#.##", '*': "#.#.#.#.#......",
}

// drawText writes s at (x, y) in the 3x5 font, scaled 2x.
func drawText(img *image.RGBA, x, y int, s string, c color.RGBA) {
	for _, ch := range s {
		g := font[ch]
		for i := 0; i < 15 && i < len(g); i++ {
			if g[i] == '#' {
				px, py := x+(i%3)*2, y+(i/3)*2
				fill(img, image.Rect(px, py, px+2, py+2), c)
			}
		}
		x += 8
	}
}
