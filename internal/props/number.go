package props

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
)

var sizeUnits = [...]string{"B", "K", "M", "G", "T", "P", "E"}

// FormatSize formats a byte count as zfs does (zfs_nicebytes): powers of
// 1024, exact multiples without decimals ("128K"), otherwise the most
// decimals (2, 1 or 0) that fit in 5 characters ("1.50K", "10.5M", "123M").
func FormatSize(n uint64) string {
	idx := 0
	for v := n; v >= 1024 && idx < len(sizeUnits)-1; v /= 1024 {
		idx++
	}
	div := uint64(1) << (10 * idx)
	u := sizeUnits[idx]
	if idx == 0 || n%div == 0 {
		return strconv.FormatUint(n/div, 10) + u
	}
	val := float64(n) / float64(div)
	var s string
	for prec := 2; prec >= 0; prec-- {
		s = strconv.FormatFloat(val, 'f', prec, 64) + u
		if len(s) <= 5 {
			break
		}
	}
	return s
}

// ParseSize parses a zfs number (zfs_nicestrtonum): decimal digits with an
// optional fraction, then an optional suffix B, K, M, G, T, P or E (powers
// of 1024, any case, also as "KB" or "KiB"). A fraction is truncated to
// whole bytes: "1.5K" is 1536, "0.5" is 0.
func ParseSize(s string) (uint64, error) {
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9') {
		i++
	}
	intEnd := i
	frac := false
	if i < len(s) && s[i] == '.' {
		frac = true
		i++
		for i < len(s) && (s[i] >= '0' && s[i] <= '9') {
			i++
		}
	}
	num, suffix := s[:i], s[i:]
	if strings.Trim(num, ".") == "" || (intEnd == 0 && !frac) {
		return 0, fmt.Errorf("bad numeric value '%s'", s)
	}
	shift, err := sizeShift(suffix)
	if err != nil {
		return 0, err
	}
	if !frac {
		n, err := strconv.ParseUint(num, 10, 64)
		if err != nil || (shift > 0 && n > math.MaxUint64>>shift) {
			return 0, errTooLarge
		}
		return n << shift, nil
	}
	if len(num) > 64 { // keep big.Rat work bounded; any such value is absurd
		return 0, errTooLarge
	}
	r, ok := new(big.Rat).SetString(num)
	if !ok {
		return 0, fmt.Errorf("bad numeric value '%s'", s)
	}
	r.Mul(r, new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), shift)))
	q := new(big.Int).Quo(r.Num(), r.Denom())
	if !q.IsUint64() {
		return 0, errTooLarge
	}
	return q.Uint64(), nil
}

var errTooLarge = errors.New("numeric value is too large")

func sizeShift(suffix string) (uint, error) {
	if suffix == "" {
		return 0, nil
	}
	up := strings.ToUpper(suffix)
	idx := strings.IndexByte("BKMGTPE", up[0])
	if idx < 0 {
		if up[0] == 'Z' {
			return 0, errTooLarge
		}
		return 0, fmt.Errorf("invalid numeric suffix '%s'", suffix)
	}
	rest := up[1:]
	if rest == "" || (up[0] != 'B' && (rest == "B" || rest == "IB")) {
		return uint(10 * idx), nil
	}
	return 0, fmt.Errorf("invalid numeric suffix '%s'", suffix)
}

// FormatRatio formats a compression ratio as zfs does: truncated to two
// decimals, with an "x" ("1.00x", "2.37x"). Values below 1 or not finite
// show as "1.00x", because zfs never reports less.
func FormatRatio(x float64) string {
	return formatRatio(x) + "x"
}

func formatRatio(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) || x < 1 {
		x = 1
	}
	h := math.Floor(x*100 + 1e-9)
	return fmt.Sprintf("%d.%02d", int64(h)/100, int64(h)%100)
}

// creationLayout is zfs's strftime "%a %b %e %H:%M %Y".
const creationLayout = "Mon Jan _2 15:04 2006"

// FormatTime formats a Unix time in the local time zone the way zfs shows
// creation: "Sun Nov 22 10:04 2026".
func FormatTime(unix int64) string {
	return FormatTimeIn(unix, time.Local)
}

// FormatTimeIn is FormatTime in the given location.
func FormatTimeIn(unix int64, loc *time.Location) string {
	return time.Unix(unix, 0).In(loc).Format(creationLayout)
}
