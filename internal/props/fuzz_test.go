package props

import (
	"strconv"
	"strings"
	"testing"
)

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "128K", "1.5G", "16E", "1.K", ".5", "-1", "1KiB", "1BB", "99999999999999999999", "1." + strings.Repeat("9", 80) + "E"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if n != 0 {
				t.Fatalf("ParseSize(%q) = %d with error %v", s, n, err)
			}
			return
		}
		// Whatever parses, its canonical decimal form parses to itself.
		if m, err := ParseSize(strconv.FormatUint(n, 10)); err != nil || m != n {
			t.Fatalf("ParseSize(%q) = %d, but decimal round trip gave %d, %v", s, n, m, err)
		}
		if FormatSize(n) == "" {
			t.Fatal("empty FormatSize")
		}
	})
}

func FuzzValidDatasetName(f *testing.F) {
	for _, s := range []string{"tank", "tank/a/b", "tank@s", "/x", "x/", "a//b", "tank/./a", "mirror/x", "tänk/ä", "tank/a@b@c", "tank#b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidDatasetName(s)
		serr := ValidSnapshotName(s)
		if err == nil {
			if serr == nil {
				t.Fatalf("%q valid as both dataset and snapshot", s)
			}
			if len(s) > MaxNameLen || strings.ContainsAny(s, "@# $%") {
				t.Fatalf("ValidDatasetName(%q) accepted a bad name", s)
			}
			if p := Parent(s); p != "" && ValidDatasetName(p) != nil {
				t.Fatalf("parent %q of valid %q is invalid", p, s)
			}
		}
		if serr == nil {
			ds, snap := Split(s)
			if snap == "" || ValidDatasetName(ds) != nil {
				t.Fatalf("valid snapshot %q splits into %q, %q", s, ds, snap)
			}
		}
	})
}
