package e2e

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestBadInput is SPEC §8 from the command line: every wrong input is
// refused with the documented exit code, one line in zfs style (exit 1) or
// a reason and the usage (exit 2), and changes nothing.
func TestBadInput(t *testing.T) {
	t.Parallel()
	d := startDaemon(t)
	base := t.TempDir()
	tankDir := filepath.Join(base, "tank")
	d.ok("pool", "create", "tank", tankDir)
	// An exported pool whose directory is then removed: its vdev is missing.
	goneDir := filepath.Join(base, "gone")
	d.ok("pool", "create", "gone", goneDir)
	d.ok("pool", "export", "gone")
	if err := os.RemoveAll(goneDir); err != nil {
		t.Fatal(err)
	}
	// An exported pool whose directory is still there.
	expDir := filepath.Join(base, "exp")
	d.ok("pool", "create", "exp", expDir)
	d.ok("pool", "export", "exp")

	d.ok("create", "tank/plain")
	d.ok("snapshot", "tank/plain@s1")
	d.ok("snapshot", "tank/plain@s2")
	d.okIn(pass("locked passphrase"), createArgs(fastEnc, "tank/locked")...)
	d.ok("unload-key", "tank/locked")
	d.okIn(pass("loaded passphrase"), createArgs(fastEnc, "tank/enc")...)
	d.ok("create", "tank/enc/child")
	hexKey := hex.EncodeToString(randKey(t))
	d.okIn([]byte(hexKey+"\n"), "create", "-o", "encryption=on", "-o", "keyformat=hex", "tank/hexk")
	d.ok("unload-key", "tank/hexk")
	rawURL := writeKey(t, "raw.key", randKey(t))
	d.ok("create", "-o", "encryption=on", "-o", "keyformat=raw", "-o", "keylocation="+rawURL, "tank/rawk")
	d.ok("unload-key", "tank/rawk")

	wrongRaw := writeKey(t, "wrong.key", randKey(t))
	raw31 := writeKey(t, "raw31.key", randKey(t)[:31])
	raw33 := writeKey(t, "raw33.key", append(randKey(t), 'x'))
	badHex := strings.Repeat("a", 63) + "g"
	long := strings.Repeat("a", 300)
	hexOpts := []string{"-o", "encryption=on", "-o", "keyformat=hex"}
	rawOpts := []string{"-o", "encryption=on", "-o", "keyformat=raw"}

	cases := []struct {
		name  string
		stdin string
		code  int
		want  string // in the (first) line of stderr
		args  []string
	}{
		// Wrong key or passphrase.
		{"wrong passphrase", "wrong passphrase\n", 1, "cannot load key for 'tank/locked': incorrect key or passphrase", []string{"load-key", "tank/locked"}},
		{"wrong passphrase -n", "wrong passphrase\n", 1, "cannot load key for 'tank/locked': incorrect key or passphrase", []string{"load-key", "-n", "tank/locked"}},
		{"wrong hex key", hex.EncodeToString(randKey(t)) + "\n", 1, "cannot load key for 'tank/hexk': incorrect key or passphrase", []string{"load-key", "tank/hexk"}},
		{"wrong raw key file", "", 1, "cannot load key for 'tank/rawk': incorrect key or passphrase", []string{"load-key", "-L", wrongRaw, "tank/rawk"}},
		{"wrong current key change-key -l", "wrong passphrase\nnew passphrase\n", 1, "'tank/locked'", []string{"change-key", "-l", "tank/locked"}},
		{"no key on stdin", "", 1, "cannot read key material: no data on standard input", []string{"load-key", "tank/locked"}},
		{"key not loaded change-key", "new passphrase\n", 1, "'tank/locked'", []string{"change-key", "tank/locked"}},
		// Passphrase length.
		{"passphrase 7 bytes", "1234567\n", 1, "cannot create 'tank/x': Passphrase too short (min 8).", createArgs(fastEnc, "tank/x")},
		{"passphrase 513 bytes", strings.Repeat("p", 513) + "\n", 1, "cannot create 'tank/x': Passphrase too long (max 512).", createArgs(fastEnc, "tank/x")},
		{"passphrase too short change-key", "short\n", 1, "Passphrase too short (min 8).", []string{"change-key", "tank/enc"}},
		{"passphrase too short pool create", "short\n", 1, "Passphrase too short (min 8).", []string{"pool", "create", "-O", "encryption=on", "-O", "keyformat=passphrase", "p2", filepath.Join(base, "p2")}},
		// pbkdf2iters.
		{"pbkdf2iters 99999", "good passphrase\n", 1, "cannot create 'tank/x': 'pbkdf2iters' must be at least 100000", []string{"create", "-o", "encryption=on", "-o", "keyformat=passphrase", "-o", "pbkdf2iters=99999", "tank/x"}},
		{"pbkdf2iters 99999 change-key", "good passphrase\n", 1, "'pbkdf2iters' must be at least 100000", []string{"change-key", "-o", "pbkdf2iters=99999", "tank/enc"}},
		{"pbkdf2iters not a number", "good passphrase\n", 1, "cannot create 'tank/x': bad numeric value 'many'", []string{"create", "-o", "encryption=on", "-o", "keyformat=passphrase", "-o", "pbkdf2iters=many", "tank/x"}},
		// Keyformat that does not fit.
		{"raw key 31 bytes stdin", string(randKey(t)[:31]), 1, "cannot create 'tank/x': Raw key too short (expected 32).", createArgs(rawOpts, "tank/x")},
		{"raw key 31 bytes file", "", 1, "cannot create 'tank/x': Raw key too short (expected 32).", createArgs(append(rawOpts, "-o", "keylocation="+raw31), "tank/x")},
		{"raw key 33 bytes file", "", 1, "cannot create 'tank/x': Raw key too long (expected 32).", createArgs(append(rawOpts, "-o", "keylocation="+raw33), "tank/x")},
		{"raw key 31 bytes load-key", "", 1, "cannot load key for 'tank/rawk': Raw key too short (expected 32).", []string{"load-key", "-L", raw31, "tank/rawk"}},
		{"hex bad char", badHex + "\n", 1, "cannot create 'tank/x': Invalid hex key provided.", createArgs(hexOpts, "tank/x")},
		{"hex too short", hexKey[:63] + "\n", 1, "cannot create 'tank/x': Hex key too short (expected 64).", createArgs(hexOpts, "tank/x")},
		{"hex bad char load-key", badHex + "\n", 1, "cannot load key for 'tank/hexk': Invalid hex key provided.", []string{"load-key", "tank/hexk"}},
		{"keyformat unknown", "good passphrase\n", 1, "keyformat", []string{"create", "-o", "encryption=on", "-o", "keyformat=pem", "tank/x"}},
		{"encryption without keyformat", "", 1, "cannot create 'tank/x': keyformat must be specified", []string{"create", "-o", "encryption=on", "tank/x"}},
		{"encryption unknown", "good passphrase\n", 1, "encryption", []string{"create", "-o", "encryption=rot13", "-o", "keyformat=passphrase", "tank/x"}},
		// Keylocation that does not fit.
		{"keylocation relative file", "", 1, "cannot create 'tank/x': invalid keylocation 'file://relative'", createArgs(append(hexOpts, "-o", "keylocation=file://relative"), "tank/x")},
		{"keylocation http non-loopback", "", 1, "invalid keylocation", createArgs(append(hexOpts, "-o", "keylocation=http://example.com/key"), "tank/x")},
		{"keylocation bogus scheme", "", 1, "invalid keylocation", createArgs(append(hexOpts, "-o", "keylocation=ftp://host/key"), "tank/x")},
		{"keylocation on a non-root create", "", 1, "cannot create 'tank/enc/x': 'keylocation' can only be set on an encryption root", []string{"create", "-o", "keylocation=" + rawURL, "tank/enc/x"}},
		{"keylocation on a non-root set", "", 1, "cannot set property for 'tank/enc/child': ", []string{"set", "keylocation=" + rawURL, "tank/enc/child"}},
		{"keylocation on unencrypted", "", 1, "cannot set property for 'tank/plain': ", []string{"set", "keylocation=prompt", "tank/plain"}},
		{"keylocation relative set", "", 1, "invalid keylocation", []string{"set", "keylocation=file://relative", "tank/enc"}},
		{"load-key -L relative", "", 1, "invalid keylocation", []string{"load-key", "-L", "file://relative", "tank/rawk"}},
		{"keylocation missing file", "", 1, "cannot create 'tank/x': ", createArgs(append(rawOpts, "-o", "keylocation=file:///nonexistent/key"), "tank/x")},
		{"load-key unencrypted", "", 1, "cannot load key for 'tank/plain': ", []string{"load-key", "tank/plain"}},
		{"load-key already loaded", "loaded passphrase\n", 1, "cannot load key for 'tank/enc': ", []string{"load-key", "tank/enc"}},
		{"unload-key already unloaded", "", 1, "cannot unload key for 'tank/locked': ", []string{"unload-key", "tank/locked"}},
		{"unload-key non-root", "", 1, "'tank/enc/child'", []string{"unload-key", "tank/enc/child"}},
		{"change-key -i parent unencrypted", "", 1, "cannot change key for 'tank/enc': ", []string{"change-key", "-i", "tank/enc"}},
		// Unencrypted child of an encrypted parent, by any path.
		{"encryption=off under encrypted", "", 1, "cannot create 'tank/enc/x': encryption cannot be turned off", []string{"create", "-o", "encryption=off", "tank/enc/x"}},
		{"encryption=off under encrypted -p", "", 1, "encryption cannot be turned off", []string{"create", "-p", "-o", "encryption=off", "tank/enc/y/z"}},
		{"encryption=off volume under encrypted", "", 1, "encryption cannot be turned off", []string{"create", "-V", "1M", "-o", "encryption=off", "tank/enc/v"}},
		{"set encryption=off", "", 1, "cannot set property for 'tank/enc': ", []string{"set", "encryption=off", "tank/enc"}},
		{"set encryption=on", "", 1, "cannot set property for 'tank/plain': ", []string{"set", "encryption=on", "tank/plain"}},
		{"set keyformat", "", 1, "cannot set property for 'tank/enc': ", []string{"set", "keyformat=hex", "tank/enc"}},
		{"inherit encryption", "", 1, "'encryption' property cannot be inherited", []string{"inherit", "encryption", "tank/enc/child"}},
		// Names.
		{"dataset name too long", "", 1, "cannot create 'tank/" + long + "': name is too long", []string{"create", "tank/" + long}},
		{"dataset name 256", "", 1, "name is too long", []string{"create", "tank/" + strings.Repeat("b", 251)}},
		{"snapshot name too long", "", 1, "name is too long", []string{"snapshot", "tank/plain@" + long}},
		{"pool name too long", "", 1, "name is too long", []string{"pool", "create", "p" + long, filepath.Join(base, "pl")}},
		{"dataset bad char", "", 1, "cannot create 'tank/a*b': invalid character '*' in name", []string{"create", "tank/a*b"}},
		{"dataset space", "", 1, "invalid character ' ' in name", []string{"create", "tank/a b"}},
		{"dataset empty component", "", 1, "cannot create 'tank//a': ", []string{"create", "tank//a"}},
		{"dataset with @", "", 1, "cannot create 'tank/a@b': ", []string{"create", "tank/a@b"}},
		{"dataset trailing slash", "", 1, "cannot create 'tank/a/': ", []string{"create", "tank/a/"}},
		{"dataset dotdot", "", 1, "cannot create 'tank/..': ", []string{"create", "tank/.."}},
		{"snapshot bad char", "", 1, "invalid character '*' in name", []string{"snapshot", "tank/plain@b*d"}},
		{"snapshot empty", "", 1, "'tank/plain@'", []string{"snapshot", "tank/plain@"}},
		{"pool bad first char", "", 1, "cannot create '1bad': pool name must begin with a letter", []string{"pool", "create", "1bad", filepath.Join(base, "b1")}},
		{"pool reserved name", "", 1, "cannot create 'mirror': name is reserved", []string{"pool", "create", "mirror", filepath.Join(base, "b2")}},
		{"pool bad char", "", 1, "cannot create 'p*': ", []string{"pool", "create", "p*", filepath.Join(base, "b3")}},
		{"pool name with slash", "", 1, "cannot create 'p/q': ", []string{"pool", "create", "p/q", filepath.Join(base, "b4")}},
		// Vdevs.
		{"import missing vdev", "", 1, "cannot import 'gone': no such pool available", []string{"pool", "import", "-d", base, "gone"}},
		{"import missing vdev default dirs", "", 1, "cannot import 'gone': no such pool available", []string{"pool", "import", "gone"}},
		{"vdev of an imported pool", "", 1, "cannot create 'other': " + tankDir + " is part of pool 'tank'", []string{"pool", "create", "other", tankDir}},
		{"vdev of an imported pool -f", "", 1, "is part of pool 'tank'", []string{"pool", "create", "-f", "other", tankDir}},
		{"vdev of an exported pool", "", 1, "is part of pool 'exp'", []string{"pool", "create", "other", expDir}},
		{"vdev of an exported pool in a mirror", "", 1, "is part of pool 'exp'", []string{"pool", "create", "other", "mirror", filepath.Join(base, "fresh"), expDir}},
		{"vdev is a file", "", 1, "cannot create 'other': ", []string{"pool", "create", "other", rawURL[len("file://"):]}},
		{"vdev twice", "", 1, "cannot create 'other': ", []string{"pool", "create", "other", "mirror", filepath.Join(base, "twice"), filepath.Join(base, "twice")}},
		{"mixed replication", "", 1, "cannot create 'other': invalid vdev specification: mismatched replication level", []string{"pool", "create", "other", filepath.Join(base, "mx1"), "mirror", filepath.Join(base, "mx2"), filepath.Join(base, "mx3")}},
		{"pool exists", "", 1, "cannot create 'tank': pool already exists", []string{"pool", "create", "tank", filepath.Join(base, "t2")}},
		// Existing and missing datasets.
		{"create existing", "", 1, "cannot create 'tank/plain': dataset already exists", []string{"create", "tank/plain"}},
		{"create existing volume", "", 1, "cannot create 'tank/plain': dataset already exists", []string{"create", "-V", "1M", "tank/plain"}},
		{"snapshot existing", "", 1, "cannot create snapshot 'tank/plain@s1': dataset already exists", []string{"snapshot", "tank/plain@s1"}},
		{"create in a missing pool", "", 1, "cannot create 'nopool/x': ", []string{"create", "nopool/x"}},
		{"create missing parent", "", 1, "cannot create 'tank/no/x': parent does not exist", []string{"create", "tank/no/x"}},
		{"destroy missing", "", 1, "cannot open 'tank/nope': dataset does not exist", []string{"destroy", "tank/nope"}},
		{"get missing", "", 1, "cannot open 'tank/nope': dataset does not exist", []string{"get", "all", "tank/nope"}},
		{"set missing", "", 1, "cannot open 'tank/nope': dataset does not exist", []string{"set", "compression=off", "tank/nope"}},
		{"load-key missing", "", 1, "'tank/nope'", []string{"load-key", "tank/nope"}},
		{"rollback missing", "", 1, "cannot open 'tank/plain@nope': snapshot does not exist", []string{"rollback", "tank/plain@nope"}},
		{"rollback not latest", "", 1, "cannot rollback to 'tank/plain@s1': more recent snapshots exist", []string{"rollback", "tank/plain@s1"}},
		{"pool export missing", "", 1, "cannot open 'nope': no such pool", []string{"pool", "export", "nope"}},
		{"pool destroy missing", "", 1, "cannot open 'nope': no such pool", []string{"pool", "destroy", "nope"}},
		// Destroying a non-empty dataset.
		{"destroy with children", "", 1, "cannot destroy 'tank/enc': filesystem has children (use -r to destroy them)", []string{"destroy", "tank/enc"}},
		{"destroy with snapshots", "", 1, "cannot destroy 'tank/plain': filesystem has snapshots (use -r to destroy them)", []string{"destroy", "tank/plain"}},
		{"destroy pool root", "", 1, "cannot destroy 'tank'", []string{"destroy", "-r", "tank"}},
		// Read-only and unknown properties, bad values.
		{"set used", "", 1, "cannot set property for 'tank/plain': 'used' is readonly", []string{"set", "used=5", "tank/plain"}},
		{"set guid", "", 1, "'guid' is readonly", []string{"set", "guid=5", "tank/plain"}},
		{"set creation", "", 1, "'creation' is readonly", []string{"set", "creation=5", "tank/plain"}},
		{"set keystatus", "", 1, "'keystatus' is readonly", []string{"set", "keystatus=available", "tank/enc"}},
		{"set encryptionroot", "", 1, "readonly", []string{"set", "encryptionroot=tank", "tank/enc/child"}},
		{"set on a snapshot", "", 1, "cannot set property for 'tank/plain@s1': ", []string{"set", "compression=off", "tank/plain@s1"}},
		{"set volsize on a filesystem", "", 1, "cannot set property for 'tank/plain': ", []string{"set", "volsize=1M", "tank/plain"}},
		{"set unknown", "", 1, "cannot set property for 'tank/plain': invalid property 'foo'", []string{"set", "foo=bar", "tank/plain"}},
		{"set bad compression", "", 1, "cannot set property for 'tank/plain': 'compression' must be one of", []string{"set", "compression=bogus", "tank/plain"}},
		{"set bad recordsize", "", 1, "'recordsize' must be a power of 2", []string{"set", "recordsize=3K", "tank/plain"}},
		{"set relative mountpoint", "", 1, "cannot set property for 'tank/plain': ", []string{"set", "mountpoint=relative", "tank/plain"}},
		{"set bad user property name", "", 1, "", []string{"set", "com.example:" + strings.Repeat("n", 300) + "=v", "tank/plain"}},
		{"create unknown property", "", 1, "invalid property 'foo'", []string{"create", "-o", "foo=bar", "tank/x"}},
		{"create read-only property", "", 1, "cannot create 'tank/x': ", []string{"create", "-o", "used=1", "tank/x"}},
		{"inherit unknown", "", 2, "invalid property 'foo'", []string{"inherit", "foo", "tank/plain"}},
		{"get unknown", "", 2, "bad property list: invalid property 'foo'", []string{"get", "foo", "tank/plain"}},
		{"list unknown column", "", 2, "bad property list: invalid property 'foo'", []string{"list", "-o", "foo"}},
		// Bad usage.
		{"no command", "", 2, "missing command", nil},
		{"unknown command", "", 2, "unknown command 'frobnicate'", []string{"frobnicate"}},
		{"pool no command", "", 2, "missing command", []string{"pool"}},
		{"unknown option", "", 2, "invalid option", []string{"list", "-Z"}},
		{"create no args", "", 2, "missing", []string{"create"}},
		{"create too many", "", 2, "too many arguments", []string{"create", "tank/a", "tank/b"}},
		{"create -o without =", "", 2, "missing '=' for property=value argument", []string{"create", "-o", "compression", "tank/x"}},
		{"create -o twice", "", 2, "property 'compression' specified multiple times", []string{"create", "-o", "compression=on", "-o", "compression=off", "tank/x"}},
		{"create -V bad size", "", 2, "bad volume size 'lots'", []string{"create", "-V", "lots", "tank/x"}},
		{"create -s without -V", "", 2, "", []string{"create", "-s", "tank/x"}},
		{"create -o missing arg", "", 2, "missing argument for", []string{"create", "tank/x", "-o"}},
		{"destroy no args", "", 2, "missing", []string{"destroy"}},
		{"snapshot no args", "", 2, "missing", []string{"snapshot"}},
		{"rollback no args", "", 2, "missing", []string{"rollback"}},
		{"list bad depth", "", 2, "", []string{"list", "-d", "deep"}},
		{"list bad type", "", 2, "invalid type 'bogus'", []string{"list", "-t", "bogus"}},
		{"get no args", "", 2, "missing", []string{"get"}},
		{"get bad field", "", 2, "invalid field 'color'", []string{"get", "-o", "color", "all", "tank"}},
		{"get bad source", "", 2, "invalid source 'everywhere'", []string{"get", "-s", "everywhere", "all", "tank"}},
		{"set no args", "", 2, "missing", []string{"set"}},
		{"set no dataset", "", 2, "missing", []string{"set", "compression=off"}},
		{"set without =", "", 2, "missing '=' for property=value argument", []string{"set", "compression", "tank/plain"}},
		{"inherit no args", "", 2, "missing", []string{"inherit"}},
		{"load-key no args", "", 2, "missing", []string{"load-key"}},
		{"load-key -a and dataset", "", 2, "", []string{"load-key", "-a", "tank/enc"}},
		{"unload-key no args", "", 2, "missing", []string{"unload-key"}},
		{"change-key no args", "", 2, "missing", []string{"change-key"}},
		{"change-key -i -o", "", 2, "-i and -o are mutually exclusive", []string{"change-key", "-i", "-o", "keyformat=hex", "tank/enc"}},
		{"change-key bad -o", "", 2, "invalid property 'compression'", []string{"change-key", "-o", "compression=off", "tank/enc"}},
		{"pool create no vdevs", "", 2, "missing vdev specification", []string{"pool", "create", "other"}},
		{"pool create no args", "", 2, "missing", []string{"pool", "create"}},
		{"pool create one-sided mirror", "", 2, "invalid vdev specification: mirror requires at least 2 devices", []string{"pool", "create", "other", "mirror", filepath.Join(base, "m1")}},
		{"pool create -O without =", "", 2, "missing '=' for property=value argument", []string{"pool", "create", "-O", "compression", "other", filepath.Join(base, "o1")}},
		{"pool export no args", "", 2, "missing", []string{"pool", "export"}},
		{"pool destroy no args", "", 2, "missing", []string{"pool", "destroy"}},
		{"pool scrub no args", "", 2, "missing", []string{"pool", "scrub"}},
		{"pool status too many", "", 2, "too many arguments", []string{"pool", "status", "a", "b"}},
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if seen[c.name] {
			t.Fatalf("duplicate case %q", c.name)
		}
		seen[c.name] = true
		t.Run(c.name, func(t *testing.T) {
			d := *d
			d.t = t
			d.unchanged(strings.Join(c.args, " "), func() {
				r := d.run([]byte(c.stdin), c.args...)
				checkFail(t, r, c.code, c.want)
				// zfs's own wording for inherit of a read-only property.
				if c.code == 1 && r.code == 1 && !strings.HasSuffix(c.want, "cannot be inherited") {
					cannot(t, r)
				}
			})
		})
	}
	// The refused vdev directories were not created or touched.
	for _, dir := range []string{"b1", "b2", "b3", "b4", "pl", "p2", "mx1", "mx2", "mx3", "fresh", "t2"} {
		if _, err := os.Stat(filepath.Join(base, dir)); err == nil {
			ents, _ := os.ReadDir(filepath.Join(base, dir))
			if len(ents) > 0 {
				t.Errorf("refused pool create left files in %s: %v", dir, ents)
			}
		}
	}
	// The exported pool is still importable after the refused creates.
	d.ok("pool", "import", "-d", base, "exp")
}

// TestNoDaemon: every client verb fails with exit 1 and one line when no
// daemon answers; usage errors are still exit 2.
func TestNoDaemon(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "none.sock")
	for _, args := range [][]string{{"list"}, {"pool", "list"}, {"get", "all", "tank"}, {"create", "tank/a"}, {"pool", "status"}, {"unload-key", "-a"}} {
		r := runCLI(sock, nil, args...)
		checkFail(t, r, 1, "cannot connect to coffer daemon at "+sock+": is `coffer daemon` running?")
	}
	checkFail(t, runCLI(sock, nil, "create"), 2, "missing")
	if r := runCLI(sock, nil, "list", "-h"); r.code != 0 || !strings.Contains(r.stdout, "coffer list") || r.stderr != "" {
		t.Errorf("list -h: %s", r)
	}
	if r := runCLI(sock, nil, "version"); r.code != 0 || !strings.HasPrefix(r.stdout, "coffer ") {
		t.Errorf("version: %s", r)
	}
}
