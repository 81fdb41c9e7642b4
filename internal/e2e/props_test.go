package e2e

import (
	"regexp"
	"strings"
	"testing"
)

func TestGetSetInherit(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	d.newPoolDefaultMountpoint("tank")
	d.ok("create", "-p", "tank/a/b/c")

	// set several at once; the value is everything after the first '='.
	d.ok("set", "compression=off", "recordsize=64K", "tank/a")
	d.ok("set", "mountpoint=/mnt/x", "tank/a")
	d.ok("set", "com.example:note=a=b c", "tank/a")
	for ds, want := range map[string]map[string]string{
		"tank/a":     {"compression": "off\tlocal", "recordsize": "65536\tlocal", "mountpoint": "/mnt/x\tlocal", "com.example:note": "a=b c\tlocal"},
		"tank/a/b":   {"compression": "off\tinherited from tank/a", "recordsize": "65536\tinherited from tank/a", "mountpoint": "/mnt/x/b\tinherited from tank/a", "com.example:note": "a=b c\tinherited from tank/a"},
		"tank/a/b/c": {"compression": "off\tinherited from tank/a", "mountpoint": "/mnt/x/b/c\tinherited from tank/a"},
		"tank":       {"compression": "on\tdefault", "recordsize": "131072\tdefault", "mountpoint": "/tank\tdefault", "com.example:note": "-\t-"},
	} {
		for p, w := range want {
			if got := strings.TrimSuffix(d.ok("get", "-H", "-p", "-o", "value,source", p, ds), "\n"); got != w {
				t.Errorf("%s %s = %q, want %q", ds, p, got, w)
			}
		}
	}
	// A closer local value wins.
	d.ok("set", "compression=zstd", "tank/a/b")
	if got := d.sources("tank/a/b/c", "compression"); got["compression"] != "inherited from tank/a/b" {
		t.Errorf("tank/a/b/c compression source %v", got)
	}

	// get: default table, all, -s, -o, -H, -p, -j.
	out := d.ok("get", "compression", "tank/a")
	if out != "NAME    PROPERTY     VALUE  SOURCE\ntank/a  compression  off    local\n" {
		t.Errorf("get compression:\n%q", out)
	}
	all := lines(d.ok("get", "-H", "all", "tank/a"))
	var order []string
	for _, l := range all {
		f := strings.Split(l, "\t")
		if len(f) != 4 || f[0] != "tank/a" {
			t.Fatalf("get -H all line %q", l)
		}
		order = append(order, f[1])
	}
	joined := "," + strings.Join(order, ",") + ","
	for _, p := range []string{"type", "creation", "used", "available", "referenced", "compressratio", "recordsize", "mountpoint", "guid", "encryption", "keystatus", "com.example:note"} {
		if !strings.Contains(joined, ","+p+",") {
			t.Errorf("get all lacks %s: %v", p, order)
		}
	}
	if order[0] != "type" || order[len(order)-1] != "com.example:note" {
		t.Errorf("get all order (type first, user properties last): %v", order)
	}
	if out := d.ok("get", "-H", "-s", "local", "-o", "property,value", "all", "tank/a"); out != "recordsize\t64K\nmountpoint\t/mnt/x\ncompression\toff\ncom.example:note\ta=b c\n" &&
		!sameSet(lines(out), []string{"recordsize\t64K", "mountpoint\t/mnt/x", "compression\toff", "com.example:note\ta=b c"}) {
		t.Errorf("get -s local all:\n%s", out)
	}
	if out := d.ok("get", "-H", "-s", "inherited", "-o", "property", "all", "tank/a/b"); !sameSet(lines(out), []string{"recordsize", "mountpoint", "com.example:note"}) {
		t.Errorf("get -s inherited all tank/a/b:\n%s", out)
	}
	if out := d.ok("get", "-H", "-o", "name,value", "-r", "compression", "tank/a"); out != "tank/a\toff\ntank/a/b\tzstd\ntank/a/b/c\tzstd\n" {
		t.Errorf("get -r:\n%s", out)
	}
	if out := d.ok("get", "-H", "-o", "value", "-p", "recordsize", "tank/a"); out != "65536\n" {
		t.Errorf("get -p recordsize = %q", out)
	}
	if out := d.ok("get", "-H", "-o", "value", "recordsize", "tank/a"); out != "64K\n" {
		t.Errorf("get recordsize = %q", out)
	}
	if out := d.ok("get", "-H", "-o", "value,received", "compression", "tank/a"); out != "off\t-\n" {
		t.Errorf("get -o value,received = %q", out)
	}
	v := d.listJSON("coffer get", "get", "-j", "-p", "compression,recordsize,com.example:note,used", "tank/a/b")
	ds := v.Datasets["tank/a/b"]
	if len(v.Datasets) != 1 || len(ds.Properties) != 4 ||
		ds.Properties["compression"] != (jsonProp{"zstd", jsonSource{"LOCAL", "-"}}) && ds.Properties["compression"].Source.Type != "LOCAL" ||
		ds.Properties["recordsize"] != (jsonProp{"65536", jsonSource{"INHERITED", "tank/a"}}) ||
		ds.Properties["com.example:note"] != (jsonProp{"a=b c", jsonSource{"INHERITED", "tank/a"}}) ||
		ds.Properties["used"].Source.Type != "NONE" {
		t.Errorf("get -j: %+v", ds)
	}
	if v := d.listJSON("coffer get", "get", "-j", "-s", "local", "all", "tank/a"); len(v.Datasets["tank/a"].Properties) != 4 {
		t.Errorf("get -j -s local all: %+v", v)
	}
	if v := d.listJSON("coffer get", "get", "-j", "-r", "type", "tank"); len(v.Datasets) != 4 {
		t.Errorf("get -j -r: %+v", v)
	}
	if out := d.ok("get", "-H", "-o", "value,source", "com.example:absent", "tank/a"); out != "-\t-\n" {
		t.Errorf("absent user property = %q", out)
	}

	// inherit.
	d.ok("inherit", "compression", "tank/a/b")
	if got := d.sources("tank/a/b", "compression"); got["compression"] != "inherited from tank/a" {
		t.Errorf("after inherit: %v", got)
	}
	d.ok("inherit", "com.example:note", "tank/a")
	if out := d.ok("get", "-H", "-o", "value,source", "com.example:note", "tank/a/b"); out != "-\t-\n" {
		t.Errorf("user property after inherit = %q", out)
	}
	d.ok("set", "compression=lz4", "tank/a/b")
	d.ok("inherit", "-r", "compression", "tank/a")
	for _, ds := range []string{"tank/a", "tank/a/b", "tank/a/b/c"} {
		if got := d.props(ds, "compression"); got["compression"] != "on" {
			t.Errorf("%s compression after inherit -r = %v", ds, got)
		}
	}
	d.ok("inherit", "mountpoint", "tank/a")
	if got := d.prop("tank/a/b", "mountpoint"); got != "/tank/a/b" {
		t.Errorf("mountpoint after inherit = %q", got)
	}
	// Several datasets: each error printed, exit 1 at the end.
	r := d.run(nil, "inherit", "recordsize", "tank/nope", "tank/a")
	if r.code != 1 || !regexp.MustCompile(`^cannot [^\n]*'tank/nope'[^\n]*\n$`).MatchString(r.stderr) {
		t.Errorf("inherit with one bad dataset: %s", r)
	}
	if got := d.sources("tank/a", "recordsize"); got["recordsize"] != "default" {
		t.Errorf("recordsize of tank/a after inherit: %v", got)
	}
	d.fail(1, "'type' property is read-only", "inherit", "type", "tank/a") // zfs's wording
	// Every property get all shows is a valid column (objsetid, pbkdf2kdf).
	for _, p := range order {
		d.ok("list", "-H", "-o", "name,"+p, "tank/a")
	}

	// Properties survive a restart.
	d.ok("set", "com.example:note=kept", "recordsize=1M", "tank/a/b")
	d.restart()
	if got := d.props("tank/a/b", "com.example:note", "recordsize"); got["com.example:note"] != "kept" || got["recordsize"] != "1048576" {
		t.Errorf("after restart: %v", got)
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	m := map[string]int{}
	for _, x := range a {
		m[x]++
	}
	for _, x := range b {
		m[x]--
	}
	for _, n := range m {
		if n != 0 {
			return false
		}
	}
	return true
}
