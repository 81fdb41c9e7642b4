package props

import (
	"strings"
	"testing"
)

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestValidPoolName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
	}{
		{"tank", ""},
		{"Tank", ""},
		{"t", ""},
		{"tank-1_a.b:c", ""},
		{"backup2", ""},
		{"logs", ""},   // only "log" itself is reserved
		{"caches", ""}, // only "cache" itself is reserved
		{"c", ""},      // not disk-like without a digit
		{"cx0", ""},    //
		{strings.Repeat("p", 239), ""},
		{strings.Repeat("p", 240), "name is too long"},
		{"", "pool name must begin with a letter"},
		{"1tank", "pool name must begin with a letter"},
		{"_tank", "pool name must begin with a letter"},
		{".tank", "pool name must begin with a letter"},
		{"-tank", "pool name must begin with a letter"},
		{"ta$nk", "invalid character '$' in name"},
		{"ta nk", "invalid character ' ' in name"},
		{"tank/a", "invalid character '/' in name"},
		{"tank@s", "invalid character '@' in name"},
		{"tank%", "invalid character '%' in name"},
		{"tänk", "invalid character 'ä' in name"},
		{"ta\x00nk", `invalid character '\x00' in name`},
		{"ta\xffnk", `invalid character '\xff' in name`},
		{"ta\tnk", `invalid character '\t' in name`},
		{"mirror", "name is reserved"},
		{"mirror1", "name is reserved"},
		{"raidz", "name is reserved"},
		{"raidz2", "name is reserved"},
		{"draid", "name is reserved"},
		{"spare", "name is reserved"},
		{"spares", "name is reserved"},
		{"log", "name is reserved"},
		{"cache", "name is reserved"},
		{"special", "name is reserved"},
		{"c0", "pool name is reserved"},
		{"c1t0d0", "pool name is reserved"},
	} {
		if got := errText(ValidPoolName(tc.in)); got != tc.want {
			t.Errorf("ValidPoolName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestValidDatasetName(t *testing.T) {
	t.Parallel()
	long := "tank/" + strings.Repeat("a", 250)
	for _, tc := range []struct {
		in, want string
	}{
		{"tank", ""},
		{"tank/a", ""},
		{"tank/a/b/c", ""},
		{"tank/a.b-c_d:e", ""},
		{"tank/...", ""},
		{"tank/.a", ""},
		{"tank/a..b", ""},
		{"tank/" + strings.Repeat("a", 250), ""},
		{long + "x", "name is too long"},
		{"", "empty component or misplaced '@' or '#' delimiter in name"},
		{"/tank", "leading slash in name"},
		{"tank/", "trailing slash in name"},
		{"tank/a/", "trailing slash in name"},
		{"tank//a", "empty component or misplaced '@' or '#' delimiter in name"},
		{"tank/a$b", "invalid character '$' in name"},
		{"tank/a b", "invalid character ' ' in name"},
		{"tank/a%b", "invalid character '%' in name"},
		{"tank/a\nb", `invalid character '\n' in name`},
		{"tank/./a", "self reference, '.' is found in name"},
		{"tank/.", "self reference, '.' is found in name"},
		{"tank/../a", "parent reference, '..' is found in name"},
		{"tank/..", "parent reference, '..' is found in name"},
		{"tank@s", "snapshot delimiter '@' is not expected here"},
		{"tank/a@s", "snapshot delimiter '@' is not expected here"},
		{"tank#b", "bookmark delimiter '#' is not expected here"},
		{"tank/a@", "empty component or misplaced '@' or '#' delimiter in name"},
		{"1tank/a", "pool name must begin with a letter"},
		{"mirror/a", "name is reserved"},
		{"c0d0/a", "pool name is reserved"},
		{"tank/mirror", ""}, // reserved words are for pools only
	} {
		if got := errText(ValidDatasetName(tc.in)); got != tc.want {
			t.Errorf("ValidDatasetName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestValidSnapshotName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, want string
	}{
		{"tank@s", ""},
		{"tank/a@s", ""},
		{"tank/a/b@2026-11-22_10:04.x", ""},
		{"tank/a@.", "self reference, '.' is found in name"},
		{"tank/a@..", "parent reference, '..' is found in name"},
		{"tank/a@.x", ""},
		{"tank/" + strings.Repeat("a", 240) + "@" + strings.Repeat("s", 9), ""},
		{"tank/" + strings.Repeat("a", 240) + "@" + strings.Repeat("s", 10), "name is too long"},
		{"tank", "missing '@' delimiter in snapshot name"},
		{"tank/a", "missing '@' delimiter in snapshot name"},
		{"tank@", "empty component or misplaced '@' or '#' delimiter in name"},
		{"@s", "empty component or misplaced '@' or '#' delimiter in name"},
		{"tank/@s", "empty component or misplaced '@' or '#' delimiter in name"},
		{"tank@a@b", "multiple '@' and/or '#' delimiters in name"},
		{"tank@a/b", "trailing slash in name"},
		{"tank@a b", "invalid character ' ' in name"},
		{"tank@a$", "invalid character '$' in name"},
		{"tank@a#b", "bookmark delimiter '#' is not expected here"},
		{"/tank@s", "leading slash in name"},
		{"9tank@s", "pool name must begin with a letter"},
		{"tank/../x@s", "parent reference, '..' is found in name"},
		{"tank/.@s", "self reference, '.' is found in name"},
		{"tank/..@s", "parent reference, '..' is found in name"},
	} {
		if got := errText(ValidSnapshotName(tc.in)); got != tc.want {
			t.Errorf("ValidSnapshotName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestSplitParent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in, ds, snap, parent string
	}{
		{"tank", "tank", "", ""},
		{"tank/a", "tank/a", "", "tank"},
		{"tank/a/b", "tank/a/b", "", "tank/a"},
		{"tank@s", "tank", "s", "tank"},
		{"tank/a/b@s", "tank/a/b", "s", "tank/a/b"},
		{"tank/a@", "tank/a", "", "tank/a"},
		{"", "", "", ""},
	} {
		ds, snap := Split(tc.in)
		if ds != tc.ds || snap != tc.snap {
			t.Errorf("Split(%q) = %q, %q; want %q, %q", tc.in, ds, snap, tc.ds, tc.snap)
		}
		if got := Parent(tc.in); got != tc.parent {
			t.Errorf("Parent(%q) = %q, want %q", tc.in, got, tc.parent)
		}
	}
}
