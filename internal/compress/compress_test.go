package compress

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
)

func randomData(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// textData is text-like: words drawn from a small vocabulary, so it has both
// repeats (for LZ) and a skewed byte distribution (for entropy coding).
func textData(n int, seed uint64) []byte {
	words := strings.Fields(`the pool writes every block at an offset chosen by
		its allocator and a mirror keeps each copy on every child while scrub
		reads them all and repairs what does not verify snapshot dataset volume
		encryption key passphrase compression checksum uberblock label txg`)
	r := rand.New(rand.NewPCG(seed, 1))
	var b bytes.Buffer
	for b.Len() < n {
		b.WriteString(words[r.IntN(len(words))])
		if r.IntN(12) == 0 {
			fmt.Fprintf(&b, " %d.\n", r.IntN(100000))
		} else {
			b.WriteByte(' ')
		}
	}
	return b.Bytes()[:n]
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    Alg
		wantErr bool
	}{
		{"on", LZ4, false},
		{"off", Off, false},
		{"lz4", LZ4, false},
		{"zstd", ZSTD, false},
		{"gzip", 0, true},
		{"", 0, true},
		{"ON", 0, true},
	}
	for _, tt := range tests {
		got, err := Parse(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v; want %v, err=%v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.Contains(err.Error(), "must be one of on, off, lz4, zstd") {
			t.Errorf("Parse(%q) error %q lacks the valid values", tt.in, err)
		}
	}
	if _, err := Parse("x"); err == nil || err.Error() != `invalid compression "x": must be one of on, off, lz4, zstd` {
		t.Errorf("Parse(x) error = %v", err)
	}
}

// TestFrozenValues guards the on-disk numbering of Alg.
func TestFrozenValues(t *testing.T) {
	t.Parallel()
	want := map[Alg]struct {
		v    uint8
		name string
	}{Off: {0, "off"}, LZ4: {1, "lz4"}, ZSTD: {2, "zstd"}}
	for _, a := range Supported() {
		w := want[a]
		if uint8(a) != w.v || a.String() != w.name {
			t.Errorf("%v = %d, want %s = %d: changing this breaks the on-disk format", a, uint8(a), w.name, w.v)
		}
		if p, err := Parse(a.String()); err != nil || p != a {
			t.Errorf("Parse(%v.String()) = %v, %v", a, p, err)
		}
	}
	if s := Alg(9).String(); s != "Alg(9)" {
		t.Errorf("Alg(9).String() = %q", s)
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	inputs := map[string][]byte{
		"zeros-128k": make([]byte, 128<<10),
		"text-128k":  textData(128<<10, 1),
		"text-4k":    textData(4096, 2),
		"text-1m":    textData(1<<20, 3),
		"repeat-100": bytes.Repeat([]byte("abcd"), 25),
		"repeat-512": bytes.Repeat([]byte("ab"), 256),
	}
	for _, a := range []Alg{LZ4, ZSTD} {
		for name, src := range inputs {
			t.Run(a.String()+"/"+name, func(t *testing.T) {
				t.Parallel()
				prefix := []byte("prefix")
				c, ok := Compress(a, append([]byte(nil), prefix...), src)
				if !ok {
					t.Fatalf("Compress: ok=false for compressible input")
				}
				if !bytes.HasPrefix(c, prefix) {
					t.Fatalf("Compress did not append to dst")
				}
				body := c[len(prefix):]
				if len(body) > len(src)-len(src)/8 {
					t.Fatalf("compressed %d > 7/8 of %d", len(body), len(src))
				}
				d, err := Decompress(a, []byte("xy"), body, len(src))
				if err != nil {
					t.Fatalf("Decompress: %v", err)
				}
				if !bytes.Equal(d[:2], []byte("xy")) || !bytes.Equal(d[2:], src) {
					t.Fatalf("round trip mismatch")
				}
				// A wrong expected size is an error, both ways.
				for _, n := range []int{len(src) - 1, len(src) + 1} {
					if _, err := Decompress(a, nil, body, n); !errors.Is(err, ErrCorrupt) {
						t.Errorf("Decompress with n=%d (real %d): err = %v, want ErrCorrupt", n, len(src), err)
					}
				}
			})
		}
	}
}

func TestIncompressible(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  []byte
	}{
		{"random-128k", randomData(128<<10, 1)},
		{"random-4k", randomData(4096, 2)},
		{"random-1", randomData(1, 3)},
		{"empty", nil},
		// Below the 1/8 threshold: zeros are ~9% of the input.
		{"mostly-random", append(randomData(100<<10, 4), make([]byte, 10<<10)...)},
	}
	for _, a := range []Alg{Off, LZ4, ZSTD, Alg(7)} {
		for _, tt := range tests {
			dst := []byte("keep")
			out, ok := Compress(a, dst, tt.src)
			if ok {
				t.Errorf("Compress(%v, %s): ok=true with %d bytes for %d input", a, tt.name, len(out)-4, len(tt.src))
			}
			if string(out) != "keep" {
				t.Errorf("Compress(%v, %s): dst changed to %q", a, tt.name, out)
			}
		}
	}
}

func TestDecompressOffAndErrors(t *testing.T) {
	t.Parallel()
	src := textData(1000, 5)
	d, err := Decompress(Off, nil, src, len(src))
	if err != nil || !bytes.Equal(d, src) {
		t.Fatalf("Decompress(Off) = %v", err)
	}
	lz, _ := Compress(LZ4, nil, src)
	zs, _ := Compress(ZSTD, nil, src)
	tests := []struct {
		name string
		a    Alg
		src  []byte
		n    int
	}{
		{"off-size", Off, src, len(src) + 1},
		{"lz4-truncated", LZ4, lz[:len(lz)/2], len(src)},
		{"zstd-truncated", ZSTD, zs[:len(zs)/2], len(src)},
		{"zstd-garbage", ZSTD, []byte("not a zstd frame at all"), 10},
		{"lz4-empty-for-data", LZ4, nil, 10},
		{"lz4-data-for-empty", LZ4, lz, 0},
		{"zstd-empty-for-data", ZSTD, nil, 10},
		{"zstd-data-for-empty", ZSTD, zs, 0},
		{"lz4-swapped", LZ4, zs, len(src)},
	}
	for _, tt := range tests {
		if _, err := Decompress(tt.a, nil, tt.src, tt.n); err == nil {
			t.Errorf("%s: Decompress succeeded", tt.name)
		}
	}
	if _, err := Decompress(LZ4, nil, lz, -1); err == nil {
		t.Errorf("negative n: no error")
	}
	if _, err := Decompress(Alg(9), nil, src, len(src)); err == nil {
		t.Errorf("unknown alg: no error")
	}
	for _, a := range Supported() {
		if d, err := Decompress(a, []byte("a"), nil, 0); err != nil || string(d) != "a" {
			t.Errorf("Decompress(%v, empty) = %q, %v", a, d, err)
		}
	}
}

func TestConcurrent(t *testing.T) {
	t.Parallel()
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 20 {
				src := textData(32<<10, uint64(g*100+i))
				a := []Alg{LZ4, ZSTD}[i%2]
				c, ok := Compress(a, nil, src)
				if !ok {
					t.Errorf("Compress(%v) ok=false", a)
					return
				}
				d, err := Decompress(a, nil, c, len(src))
				if err != nil || !bytes.Equal(d, src) {
					t.Errorf("round trip %v: %v", a, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func FuzzDecompress(f *testing.F) {
	for _, a := range []Alg{LZ4, ZSTD} {
		src := textData(3000, 7)
		c, _ := Compress(a, nil, src)
		f.Add(uint8(a), c, uint32(len(src)))
		f.Add(uint8(a), c[:len(c)/3], uint32(len(src)))
	}
	f.Add(uint8(Off), []byte("abc"), uint32(3))
	f.Add(uint8(ZSTD), []byte{0x28, 0xb5, 0x2f, 0xfd, 0, 0x58, 0, 0, 0}, uint32(0))
	f.Fuzz(func(t *testing.T, alg uint8, src []byte, n uint32) {
		size := int(n % (1 << 20))
		out, err := Decompress(Alg(alg%4), []byte("p"), src, size)
		if err == nil && len(out) != 1+size {
			t.Fatalf("Decompress returned %d bytes, want %d", len(out)-1, size)
		}
		// Whatever decoded must re-encode and decode to the same bytes.
		if err == nil && Alg(alg%4) != Off {
			a := Alg(alg % 4)
			if c, ok := Compress(a, nil, out[1:]); ok {
				d, err := Decompress(a, nil, c, size)
				if err != nil || !bytes.Equal(d, out[1:]) {
					t.Fatalf("re-encode round trip: %v", err)
				}
			}
		}
	})
}

func benchmark(b *testing.B, a Alg, src []byte) {
	b.Run("compress", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		b.ReportAllocs()
		var dst []byte
		var ok bool
		for b.Loop() {
			dst, ok = Compress(a, dst[:0], src)
		}
		if ok {
			b.ReportMetric(float64(len(src))/float64(len(dst)), "ratio")
		} else {
			b.ReportMetric(1, "ratio")
		}
	})
	c, ok := Compress(a, nil, src)
	if !ok {
		return
	}
	b.Run("decompress", func(b *testing.B) {
		b.SetBytes(int64(len(src)))
		b.ReportAllocs()
		var dst []byte
		for b.Loop() {
			var err error
			if dst, err = Decompress(a, dst[:0], c, len(src)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCompress(b *testing.B) {
	inputs := []struct {
		name string
		src  []byte
	}{
		{"random-128k", randomData(128<<10, 1)},
		{"text-128k", textData(128<<10, 1)},
	}
	for _, a := range []Alg{LZ4, ZSTD} {
		for _, in := range inputs {
			b.Run(a.String()+"/"+in.name, func(b *testing.B) { benchmark(b, a, in.src) })
		}
	}
}

func TestEntropyBits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		src    []byte
		lo, hi float64
	}{
		{"zeros", make([]byte, 1000), 0, 0},
		{"two-symbols", bytes.Repeat([]byte("ab"), 500), 0.99, 1.01},
		{"random", randomData(1<<16, 9), 7.99, 8},
		{"text", textData(1<<16, 9), 3, 5},
	}
	for _, tt := range tests {
		if e := entropyBits(tt.src); e < tt.lo || e > tt.hi {
			t.Errorf("entropyBits(%s) = %v, want [%v, %v]", tt.name, e, tt.lo, tt.hi)
		}
	}
}

// TestZstdBeatsLZ4 covers the path where LZ4 fails but zstd's entropy
// coding saves enough: random letters from a 16-symbol alphabet.
func TestZstdBeatsLZ4(t *testing.T) {
	t.Parallel()
	src := randomData(64<<10, 11)
	for i := range src {
		src[i] = 'a' + src[i]%16
	}
	if _, ok := Compress(LZ4, nil, src); ok {
		t.Skip("lz4 compressed the 4-bit input; the test needs it to fail")
	}
	c, ok := Compress(ZSTD, nil, src)
	if !ok {
		t.Fatal("zstd: ok=false for 4-bit-entropy input")
	}
	if d, err := Decompress(ZSTD, nil, c, len(src)); err != nil || !bytes.Equal(d, src) {
		t.Fatalf("round trip: %v", err)
	}
}

// TestLZ4Probe: lz4 runs on a large block only when a sample of it
// compresses; blocks that are random all through are refused by the sample
// alone, and blocks that are compressible in part still compress.
func TestLZ4Probe(t *testing.T) {
	t.Parallel()
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	promising := map[string][]byte{
		"zeros-128k":         make([]byte, 128<<10),
		"text-128k":          textData(128<<10, 1),
		"text-32k":           textData(32<<10, 2),
		"zeros-then-random":  cat(make([]byte, 64<<10), randomData(64<<10, 3)),
		"random-then-zeros":  cat(randomData(96<<10, 4), make([]byte, 32<<10)),
		"text-header-random": cat(textData(32<<10, 5), randomData(96<<10, 6)),
		"repeated-4k-random": bytes.Repeat(randomData(4096, 7), 32),
	}
	for name, src := range promising {
		if !lz4Promising(src) {
			t.Errorf("%s: probe refuses a compressible block", name)
		}
		c, ok := Compress(LZ4, nil, src)
		if !ok || len(c) > len(src)-len(src)/8 {
			t.Errorf("%s: not compressed (ok=%v, %d of %d bytes)", name, ok, len(c), len(src))
			continue
		}
		if d, err := Decompress(LZ4, nil, c, len(src)); err != nil || !bytes.Equal(d, src) {
			t.Errorf("%s: round trip: %v", name, err)
		}
	}
	for _, n := range []int{32 << 10, 128 << 10, 1 << 20} {
		if lz4Promising(randomData(n, uint64(n))) {
			t.Errorf("random %d bytes: probe says compressible", n)
		}
	}
	// Below probeMin the probe does not decide: lz4 itself does.
	if !lz4Promising(randomData(probeMin-1, 8)) {
		t.Error("a small block is refused without a full lz4 pass")
	}
}
