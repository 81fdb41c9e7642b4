package props

import (
	"fmt"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
)

// Validate checks a value a user sets for property name on a dataset of
// type t (create -o, receive -o, set) and returns its canonical stored form.
// t == 0 skips the type check. The error text is what zfs prints after
// "cannot set property for 'X': ".
//
// Validate accepts create-only properties (this is the create -o check); use
// ValidateSet for set on an existing dataset.
func Validate(name, value string, t Type) (string, error) {
	d, ok := Lookup(name)
	if !ok || d == nameDef {
		return "", fmt.Errorf("invalid property '%s'", name)
	}
	if d.ReadOnly {
		return "", fmt.Errorf("'%s' is readonly", d.Name)
	}
	if t != 0 && !d.Applies(t) {
		return "", fmt.Errorf("'%s' does not apply to datasets of this type", d.Name)
	}
	return d.validate(value)
}

// ValidateSet is Validate for set on an existing dataset: create-only
// properties (encryption, keyformat, pbkdf2iters, pbkdf2kdf, volblocksize)
// are refused as zfs refuses them, "'encryption' is readonly". Key
// properties change through change-key, which validates them with Validate.
func ValidateSet(name, value string, t Type) (string, error) {
	if d, ok := Lookup(name); ok && d.CreateOnly {
		return "", fmt.Errorf("'%s' is readonly", d.Name)
	}
	return Validate(name, value, t)
}

func (d *Def) validate(v string) (string, error) {
	switch d.Name {
	case "recordsize":
		return validPow2(d.Name, v, 512, 16<<20)
	case "volblocksize":
		return validPow2(d.Name, v, 512, 128<<10)
	case "volsize":
		n, err := ParseSize(v)
		if err != nil {
			return "", err
		}
		if n == 0 {
			return "", fmt.Errorf("volume size cannot be zero")
		}
		return strconv.FormatUint(n, 10), nil
	case "pbkdf2iters":
		n, err := ParseSize(v)
		if err != nil {
			return "", err
		}
		if n < MinPBKDF2Iters {
			return "", fmt.Errorf("'%s' must be at least %d", d.Name, MinPBKDF2Iters)
		}
		return strconv.FormatUint(n, 10), nil
	case "mountpoint":
		if v == "none" || v == "legacy" {
			return v, nil
		}
		if !strings.HasPrefix(v, "/") || strings.IndexByte(v, 0) >= 0 {
			return "", fmt.Errorf("'%s' must be an absolute path, 'none', or 'legacy'", d.Name)
		}
		return path.Clean(v), nil
	case "encryption":
		if v == "on" {
			return DefaultEncryption, nil
		}
	case "keylocation":
		if v == "none" {
			return v, nil
		}
		if err := ValidKeyLocation(v); err != nil {
			return "", err
		}
		return v, nil
	}
	switch d.Kind {
	case KindBool, KindIndex:
		for _, ok := range d.Values {
			if v == ok {
				return v, nil
			}
		}
		return "", fmt.Errorf("'%s' must be one of '%s'", d.Name, strings.Join(d.Values, " | "))
	case KindNumber:
		if d.NoneZero && v == "none" {
			return "0", nil
		}
		n, err := ParseSize(v)
		if err != nil {
			return "", err
		}
		return strconv.FormatUint(n, 10), nil
	}
	if len(v) > MaxUserPropValLen {
		return "", fmt.Errorf("property value is too long")
	}
	return v, nil
}

func validPow2(name, v string, lo, hi uint64) (string, error) {
	n, err := ParseSize(v)
	if err != nil {
		return "", err
	}
	if n < lo || n > hi || n&(n-1) != 0 {
		return "", fmt.Errorf("'%s' must be a power of 2 from %s to %s", name, FormatSize(lo), FormatSize(hi))
	}
	return strconv.FormatUint(n, 10), nil
}

// ValidKeyLocation checks the form of a keylocation that names a key:
// "prompt", "file:///absolute/path", "https://host/...", or
// "http://host/..." when host is loopback (localhost, 127.0.0.0/8, ::1).
// "none" is not accepted here: it is valid only for unencrypted datasets,
// which Validate allows. The error is "invalid keylocation 'x'".
func ValidKeyLocation(loc string) error {
	bad := fmt.Errorf("invalid keylocation '%s'", loc)
	switch {
	case loc == "prompt":
		return nil
	case strings.HasPrefix(loc, "file://"):
		// As in zfs, the rest is the path itself, not URL-decoded.
		p := loc[len("file://"):]
		if !strings.HasPrefix(p, "/") || strings.IndexByte(p, 0) >= 0 {
			return bad
		}
		return nil
	case strings.HasPrefix(loc, "https://"), strings.HasPrefix(loc, "http://"):
		u, err := url.Parse(loc)
		if err != nil || u.Host == "" || u.Hostname() == "" || u.Opaque != "" {
			return bad
		}
		if u.Scheme == "http" && !IsLoopbackHost(u.Hostname()) {
			return bad
		}
		return nil
	}
	return bad
}

// IsLoopbackHost reports whether host (no port) is "localhost" or a loopback
// IP address.
func IsLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(host)
	return err == nil && ip.Unmap().IsLoopback()
}

// Display formats a stored value for list and get: human-readable, or
// exact with -p. Empty values (and keystatus "none") show as "-".
func (d *Def) Display(stored string, exact bool) string {
	if stored == "" || (d.Name == "keystatus" && stored == "none") {
		return "-" // keystatus of an unencrypted dataset shows "-", as in zfs
	}
	if d.Kind != KindNumber {
		return stored
	}
	switch d.Unit {
	case UnitRatio:
		x, err := strconv.ParseFloat(stored, 64)
		if err != nil {
			return stored
		}
		if exact {
			return formatRatio(x)
		}
		return FormatRatio(x)
	}
	n, err := strconv.ParseUint(stored, 10, 64)
	if err != nil {
		return stored
	}
	switch {
	case d.NoneZero && n == 0 && !exact:
		return "none"
	case exact || d.Unit == UnitCount:
		return strconv.FormatUint(n, 10)
	case d.Unit == UnitTime:
		return FormatTime(int64(n))
	case d.Unit == UnitBytes:
		return FormatSize(n)
	}
	return stored
}
