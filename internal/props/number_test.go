package props

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestFormatSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		n    uint64
		want string
	}{
		{0, "0B"},
		{1, "1B"},
		{512, "512B"},
		{1023, "1023B"},
		{1024, "1K"},
		{1536, "1.50K"},
		{1025, "1.00K"},
		{10239, "10.0K"},   // 9.999K needs one decimal less
		{1048575, "1024K"}, // 1023.999K
		{131072, "128K"},
		{16 << 20, "16M"},
		{10*1024*1024 + 512*1024, "10.5M"},
		{129394278, "123M"},
		{3 << 29, "1.50G"},
		{1 << 40, "1T"},
		{5 << 50, "5P"},
		{1 << 60, "1E"},
		{math.MaxUint64, "16.0E"},
		{100 * 1024, "100K"},
		{100*1024 + 1, "100K"},
		{102389, "100K"},
		{uint64(2.25 * 1024 * 1024 * 1024), "2.25G"},
	} {
		if got := FormatSize(tc.n); got != tc.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tc.n, got, tc.want)
		}
		if got := FormatSize(tc.n); len(got) > 5 {
			t.Errorf("FormatSize(%d) = %q, longer than 5", tc.n, got)
		}
	}
}

func TestParseSize(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in   string
		want uint64
	}{
		{"0", 0},
		{"512", 512},
		{"512B", 512},
		{"512b", 512},
		{"128K", 131072},
		{"128k", 131072},
		{"128KB", 131072},
		{"128KiB", 131072},
		{"128kib", 131072},
		{"1m", 1 << 20},
		{"16M", 16 << 20},
		{"1.5G", 3 << 29},
		{"1.5K", 1536},
		{".5K", 512},
		{"1.K", 1024},
		{"0.5", 0},
		{"1.9", 1},
		{"1T", 1 << 40},
		{"1P", 1 << 50},
		{"15E", 15 << 60},
		{"15.5E", 31 << 59}, {"0.001K", 1},
		{"18446744073709551615", math.MaxUint64},
		{"007", 7},
	} {
		got, err := ParseSize(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestParseSizeErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
	}{
		{"", "bad numeric value ''"},
		{"-1", "bad numeric value '-1'"},
		{"+1", "bad numeric value '+1'"},
		{"abc", "bad numeric value 'abc'"},
		{" 1", "bad numeric value ' 1'"},
		{".", "bad numeric value '.'"},
		{"K", "bad numeric value 'K'"},
		{"1 K", "invalid numeric suffix ' K'"},
		{"1X", "invalid numeric suffix 'X'"},
		{"1BB", "invalid numeric suffix 'BB'"},
		{"1BiB", "invalid numeric suffix 'BiB'"},
		{"1KBB", "invalid numeric suffix 'KBB'"},
		{"1e5", "invalid numeric suffix 'e5'"},
		{"1.2.3", "invalid numeric suffix '.3'"},
		{"0x10", "invalid numeric suffix 'x10'"},
		{"1Z", "numeric value is too large"},
		{"16E", "numeric value is too large"},
		{"16.0E", "numeric value is too large"},
		{"18446744073709551616", "numeric value is too large"},
		{"99999999999999999999999", "numeric value is too large"},
		{"17179869184G", "numeric value is too large"},
	} {
		got, err := ParseSize(tc.in)
		if err == nil {
			t.Errorf("ParseSize(%q) = %d, want error %q", tc.in, got, tc.want)
			continue
		}
		if err.Error() != tc.want {
			t.Errorf("ParseSize(%q) error %q, want %q", tc.in, err, tc.want)
		}
	}
}

func TestSizeRoundTrip(t *testing.T) {
	t.Parallel()
	vals := []uint64{0, 1, 511, 512, 1000, 1024, 1536, 4097, 99999, 131072, 1 << 20, 123456789,
		3 << 29, 1<<40 + 12345, 7 << 50, math.MaxUint64 / 3, math.MaxUint64 - 1<<58}
	for x := uint64(1); x < math.MaxUint64/7; x = x*7 + 3 {
		vals = append(vals, x)
	}
	for _, x := range vals {
		s := FormatSize(x)
		got, err := ParseSize(s)
		if err != nil {
			t.Errorf("ParseSize(FormatSize(%d) = %q): %v", x, s, err)
			continue
		}
		// Three significant digits: within 1% (rounding of 2 decimals, or
		// the last integer digit of "123M").
		diff := math.Abs(float64(got) - float64(x))
		if diff > float64(x)/100+1 {
			t.Errorf("ParseSize(FormatSize(%d) = %q) = %d, off by %.0f", x, s, got, diff)
		}
	}
}

func TestFormatRatio(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		x    float64
		want string
	}{
		{1, "1.00x"},
		{1.5, "1.50x"},
		{2.379, "2.37x"}, // zfs truncates
		{1.1, "1.10x"},
		{10, "10.00x"},
		{123.456, "123.45x"},
		{0.5, "1.00x"},
		{math.NaN(), "1.00x"},
		{math.Inf(1), "1.00x"},
	} {
		if got := FormatRatio(tc.x); got != tc.want {
			t.Errorf("FormatRatio(%v) = %q, want %q", tc.x, got, tc.want)
		}
	}
}

func TestFormatTime(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		unix int64
		want string
	}{
		{1795341840, "Sun Nov 22 10:04 2026"},
		{0, "Thu Jan  1 00:00 1970"},
		{1795341840 - 21*86400, "Sun Nov  1 10:04 2026"},
		{1709251199, "Thu Feb 29 23:59 2024"},
	} {
		if got := FormatTimeIn(tc.unix, time.UTC); got != tc.want {
			t.Errorf("FormatTimeIn(%d, UTC) = %q, want %q", tc.unix, got, tc.want)
		}
	}
	berlin := time.FixedZone("CET", 3600)
	if got, want := FormatTimeIn(1795341840, berlin), "Sun Nov 22 11:04 2026"; got != want {
		t.Errorf("FormatTimeIn CET = %q, want %q", got, want)
	}
	// FormatTime uses the local zone; same shape whatever it is.
	if got := FormatTime(1795341840); len(strings.Fields(got)) != 5 {
		t.Errorf("FormatTime = %q", got)
	}
}
