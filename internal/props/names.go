package props

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Name errors with fixed text (zfs's reasons).
var (
	errTooLong        = errors.New("name is too long")
	errLeadingSlash   = errors.New("leading slash in name")
	errTrailingSlash  = errors.New("trailing slash in name")
	errEmptyComponent = errors.New("empty component or misplaced '@' or '#' delimiter in name")
	errMultipleDelims = errors.New("multiple '@' and/or '#' delimiters in name")
	errSelfRef        = errors.New("self reference, '.' is found in name")
	errParentRef      = errors.New("parent reference, '..' is found in name")
	errNoLetter       = errors.New("pool name must begin with a letter")
	errReserved       = errors.New("name is reserved")
	errDiskLike       = errors.New("pool name is reserved")
	errUnexpectedAt   = errors.New("snapshot delimiter '@' is not expected here")
	errUnexpectedHash = errors.New("bookmark delimiter '#' is not expected here")
	errMissingAt      = errors.New("missing '@' delimiter in snapshot name")
)

// validChar is zfs's set of name characters, without the space zfs allows.
func validChar(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		c == '-' || c == '_' || c == '.' || c == ':'
}

// invalidChar reports the first character of s at byte i, printably.
func invalidChar(s string, i int) error {
	r, size := utf8.DecodeRuneInString(s[i:])
	var shown string
	switch {
	case r == utf8.RuneError && size <= 1:
		shown = fmt.Sprintf(`\x%02x`, s[i])
	case strconv.IsPrint(r):
		shown = string(r)
	default:
		q := strconv.QuoteRune(r)
		shown = q[1 : len(q)-1]
	}
	return fmt.Errorf("invalid character '%s' in name", shown)
}

// ValidPoolName checks a pool name: name characters only, begins with a
// letter, shorter than 240 bytes, not a vdev keyword (names beginning with
// mirror, raidz, draid or spare; log, cache, special) and not like a Solaris
// disk name (c0…c9…).
func ValidPoolName(s string) error {
	if len(s) > MaxPoolNameLen {
		return errTooLong
	}
	for i := 0; i < len(s); i++ {
		if !validChar(s[i]) {
			return invalidChar(s, i)
		}
	}
	if s == "" || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z')) {
		return errNoLetter
	}
	for _, p := range []string{"mirror", "raidz", "draid", "spare"} {
		if strings.HasPrefix(s, p) {
			return errReserved
		}
	}
	switch s {
	case "log", "cache", "special":
		return errReserved
	}
	if len(s) >= 2 && s[0] == 'c' && s[1] >= '0' && s[1] <= '9' {
		return errDiskLike
	}
	return nil
}

// ValidDatasetName checks a file system or volume name "pool/a/b": its
// first component a valid pool name, every component made of name
// characters and neither "." nor "..", total length under 256 bytes.
func ValidDatasetName(s string) error {
	if err := checkEntity(s); err != nil {
		return err
	}
	if strings.IndexByte(s, '@') >= 0 {
		return errUnexpectedAt
	}
	return nil
}

// ValidSnapshotName checks a snapshot name "pool/a@snap".
func ValidSnapshotName(s string) error {
	if err := checkEntity(s); err != nil {
		return err
	}
	if strings.IndexByte(s, '@') < 0 {
		return errMissingAt
	}
	return nil
}

// checkEntity is zfs's entity_namecheck for a dataset or snapshot name
// (bookmarks do not exist in coffer), plus the pool rules for the first
// component.
func checkEntity(s string) error {
	if len(s) > MaxNameLen {
		return errTooLong
	}
	if strings.HasPrefix(s, "/") {
		return errLeadingSlash
	}
	if s == "" {
		return errEmptyComponent
	}
	delim := false
	start := 0
	for {
		end := start
		for end < len(s) && s[end] != '/' && s[end] != '@' && s[end] != '#' {
			end++
		}
		if end == len(s) && s[end-1] == '/' {
			return errTrailingSlash
		}
		for i := start; i < end; i++ {
			if !validChar(s[i]) {
				return invalidChar(s, i)
			}
		}
		comp := s[start:end]
		// zfs checks this only before '/' and at the end, which lets
		// "tank/.@s" through; coffer checks every component.
		switch comp {
		case ".":
			return errSelfRef
		case "..":
			return errParentRef
		}
		if end < len(s) && s[end] == '#' {
			return errUnexpectedHash
		}
		if end < len(s) && s[end] == '@' {
			if delim {
				return errMultipleDelims
			}
			delim = true
		}
		if comp == "" {
			return errEmptyComponent
		}
		if start == 0 {
			if err := ValidPoolName(comp); err != nil {
				return err
			}
		}
		if end == len(s) {
			return nil
		}
		if s[end] == '/' && delim {
			return errTrailingSlash
		}
		start = end + 1
	}
}

// Split splits "pool/a@snap" into "pool/a" and "snap"; a name without '@'
// is all dataset.
func Split(name string) (dataset, snap string) {
	if i := strings.IndexByte(name, '@'); i >= 0 {
		return name[:i], name[i+1:]
	}
	return name, ""
}

// Parent returns the parent of a dataset ("pool/a" for "pool/a/b"), "" for
// the pool's root dataset. The parent of a snapshot is its dataset.
func Parent(ds string) string {
	if i := strings.IndexByte(ds, '@'); i >= 0 {
		return ds[:i]
	}
	if i := strings.LastIndexByte(ds, '/'); i >= 0 {
		return ds[:i]
	}
	return ""
}

// Split1 is the dataset part of a snapshot name (Split without the snapshot).
func Split1(name string) string {
	ds, _ := Split(name)
	return ds
}
