package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"coffer/internal/api"
	"coffer/internal/api/apitest"
	"coffer/internal/cli/clitest"
)

// setup serves a fresh fake backend on a temporary socket.
func setup(t *testing.T) (*apitest.Fake, string) {
	t.Helper()
	fake := apitest.NewFake()
	return fake, apitest.Serve(t, fake)
}

func run(t *testing.T, socket, stdin string, args ...string) clitest.Result {
	t.Helper()
	return clitest.Run(context.Background(), socket, []byte(stdin), args...)
}

func TestRequestMapping(t *testing.T) {
	t.Parallel()
	cwd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	raw := strings.Repeat("k", 32)
	tests := []struct {
		args   []string
		stdin  string
		method string
		want   any
	}{
		{[]string{"pool", "create", "tank", "/d1", "/d2"}, "", api.MPoolCreate,
			api.PoolCreateReq{Name: "tank", Vdevs: []api.VdevSpec{{Paths: []string{"/d1"}}, {Paths: []string{"/d2"}}}}},
		{[]string{"pool", "create", "-f", "-O", "compression=lz4", "tank", "mirror", "/a", "/b", "mirror", "/c", "d"}, "", api.MPoolCreate,
			api.PoolCreateReq{Name: "tank", Force: true, Props: map[string]string{"compression": "lz4"}, Vdevs: []api.VdevSpec{
				{Mirror: true, Paths: []string{"/a", "/b"}}, {Mirror: true, Paths: []string{"/c", filepath.Join(cwd, "d")}}}}},
		{[]string{"pool", "create", "-O", "encryption=on", "-O", "keyformat=passphrase", "tank", "/d1"}, "correct horse battery\n", api.MPoolCreate,
			api.PoolCreateReq{Name: "tank", Vdevs: []api.VdevSpec{{Paths: []string{"/d1"}}},
				Props: map[string]string{"encryption": "on", "keyformat": "passphrase"}, Key: []byte("correct horse battery")}},
		{[]string{"pool", "status", "tank"}, "", api.MPoolStatus, api.PoolNameReq{Name: "tank"}},
		{[]string{"pool", "status"}, "", api.MPoolStatus, api.PoolNameReq{}},
		{[]string{"pool", "import", "-d", "/x", "-d", "y", "tank"}, "", api.MPoolImport,
			api.PoolImportReq{Dirs: []string{"/x", filepath.Join(cwd, "y")}, Name: "tank"}},
		{[]string{"pool", "import"}, "", api.MPoolImport, api.PoolImportReq{}},
		{[]string{"pool", "export", "tank"}, "", api.MPoolExport, api.PoolNameReq{Name: "tank"}},
		{[]string{"pool", "destroy", "tank"}, "", api.MPoolDestroy, api.PoolNameReq{Name: "tank"}},
		{[]string{"pool", "scrub", "tank"}, "", api.MPoolScrub, api.PoolNameReq{Name: "tank"}},
		{[]string{"create", "tank/a"}, "", api.MCreate, api.CreateReq{Name: "tank/a"}},
		{[]string{"create", "-p", "-o", "compress=lz4", "-o", "atime=off", "tank/a/b"}, "", api.MCreate,
			api.CreateReq{Name: "tank/a/b", Parents: true, Props: map[string]string{"compression": "lz4", "atime": "off"}}},
		{[]string{"create", "-s", "-V", "10G", "tank/vol"}, "", api.MCreate,
			api.CreateReq{Name: "tank/vol", Volume: true, Volsize: 10 << 30, Sparse: true}},
		{[]string{"create", "-V", "1.5M", "tank/v"}, "", api.MCreate,
			api.CreateReq{Name: "tank/v", Volume: true, Volsize: 3 << 19}},
		{[]string{"create", "-o", "encryption=on", "-o", "keyformat=passphrase", "tank/enc"}, "correct horse battery\nnot read\n", api.MCreate,
			api.CreateReq{Name: "tank/enc", Props: map[string]string{"encryption": "on", "keyformat": "passphrase"}, Key: []byte("correct horse battery")}},
		{[]string{"create", "-o", "encryption=on", "-o", "keyformat=hex", "-o", "keylocation=prompt", "tank/hex"}, "00ff\n", api.MCreate,
			api.CreateReq{Name: "tank/hex", Props: map[string]string{"encryption": "on", "keyformat": "hex", "keylocation": "prompt"}, Key: []byte("00ff")}},
		{[]string{"create", "-o", "encryption=on", "-o", "keyformat=raw", "tank/raw"}, raw, api.MCreate,
			api.CreateReq{Name: "tank/raw", Props: map[string]string{"encryption": "on", "keyformat": "raw"}, Key: []byte(raw)}},
		{[]string{"create", "-o", "encryption=on", "-o", "keyformat=raw", "-o", "keylocation=file:///root/k", "tank/f"}, "unused", api.MCreate,
			api.CreateReq{Name: "tank/f", Props: map[string]string{"encryption": "on", "keyformat": "raw", "keylocation": "file:///root/k"}}},
		{[]string{"destroy", "-rfn", "tank/a"}, "", api.MDestroy, api.DestroyReq{Name: "tank/a", Recursive: true, Force: true, DryRun: true}},
		{[]string{"destroy", "tank/a@s"}, "", api.MDestroy, api.DestroyReq{Name: "tank/a@s"}},
		{[]string{"snapshot", "-r", "-o", "com.x:why=test", "tank/a@s1", "tank/b@s1"}, "", api.MSnapshot,
			api.SnapshotReq{Names: []string{"tank/a@s1", "tank/b@s1"}, Recursive: true, Props: map[string]string{"com.x:why": "test"}}},
		{[]string{"rollback", "-r", "tank/a@s1"}, "", api.MRollback, api.RollbackReq{Snapshot: "tank/a@s1", DestroyLater: true}},
		{[]string{"list"}, "", api.MList, api.ListReq{Props: []string{"name", "used", "available", "referenced", "mountpoint"}}},
		{[]string{"list", "-r", "-d", "2", "-t", "fs,snap", "-o", "name,used", "-o", "avail", "tank"}, "", api.MList,
			api.ListReq{Names: []string{"tank"}, Recursive: true, Depth: 2, Types: []string{"filesystem", "snapshot"}, Props: []string{"name", "used", "available"}}},
		{[]string{"list", "-d", "0", "-t", "all", "tank", "pool2"}, "", api.MList,
			api.ListReq{Names: []string{"tank", "pool2"}, Types: []string{"all"}, Props: []string{"name", "used", "available", "referenced", "mountpoint"}}},
		{[]string{"get", "all", "tank"}, "", api.MGet, api.GetReq{Names: []string{"tank"}, Props: []string{"all"}}},
		{[]string{"get", "-r", "-d", "1", "-s", "local,inherited", "-t", "volume", "used,refer,com.x:y", "tank", "t2"}, "", api.MGet,
			api.GetReq{Names: []string{"tank", "t2"}, Recursive: true, Depth: 1, Types: []string{"volume"}, Props: []string{"used", "referenced", "com.x:y"}, Sources: []string{"local", "inherited"}}},
		{[]string{"set", "compression=lz4", "atime=off", "tank/a"}, "", api.MSet,
			api.SetReq{Name: "tank/a", Props: map[string]string{"compression": "lz4", "atime": "off"}}},
		{[]string{"set", "com.x:note=a=b", "tank/a"}, "", api.MSet, api.SetReq{Name: "tank/a", Props: map[string]string{"com.x:note": "a=b"}}},
		{[]string{"inherit", "-r", "compression", "tank/a"}, "", api.MInherit, api.InheritReq{Name: "tank/a", Prop: "compression", Recursive: true}},
		{[]string{"unload-key", "tank/a"}, "", api.MUnloadKey, api.UnloadKeyReq{Name: "tank/a"}},
		{[]string{"unload-key", "-r", "tank"}, "", api.MUnloadKey, api.UnloadKeyReq{Name: "tank", Recursive: true}},
		{[]string{"unload-key", "-a"}, "", api.MUnloadKey, api.UnloadKeyReq{All: true}},
		{[]string{"change-key", "-i", "tank/a/b"}, "", api.MChangeKey, api.ChangeKeyReq{Name: "tank/a/b", Inherit: true}},
		{[]string{"change-key", "-o", "keyformat=raw", "-o", "keylocation=file:///k", "tank/a"}, "", api.MChangeKey,
			api.ChangeKeyReq{Name: "tank/a", Props: map[string]string{"keyformat": "raw", "keylocation": "file:///k"}}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			fake, sock := setup(t)
			res := run(t, sock, tt.stdin, tt.args...)
			if res.Code != 0 {
				t.Fatalf("exit %d, stderr %q", res.Code, res.Stderr)
			}
			last := fake.Last()
			if last.Method != tt.method || !reflect.DeepEqual(last.Req, tt.want) {
				t.Errorf("request %s %#v\nwant    %s %#v", last.Method, last.Req, tt.method, tt.want)
			}
		})
	}
}

func TestChangeKeyReadsNewPassphrase(t *testing.T) {
	t.Parallel()
	fake, sock := setup(t)
	fake.Script(api.MGet, api.ListResp{Rows: []api.DatasetRow{{Name: "tank/a", Type: "filesystem", Props: map[string]api.PropValue{
		"keyformat": {Value: "passphrase"}, "keylocation": {Value: "prompt"}, "keystatus": {Value: "unavailable"},
	}}}}, nil)
	res := run(t, sock, "old passphrase\nnew passphrase\n", "change-key", "-l", "-o", "pbkdf2iters=500000", "tank/a")
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Stderr)
	}
	calls := fake.Calls()
	if len(calls) != 2 || calls[0].Method != api.MGet {
		t.Fatalf("calls = %+v", calls)
	}
	want := api.ChangeKeyReq{Name: "tank/a", Load: true, Props: map[string]string{"pbkdf2iters": "500000"},
		Key: []byte("new passphrase"), OldKey: []byte("old passphrase")}
	if !reflect.DeepEqual(calls[1].Req, want) {
		t.Errorf("got %#v\nwant %#v", calls[1].Req, want)
	}
}

func TestPassphraseAtTerminal(t *testing.T) {
	t.Parallel()
	fake, sock := setup(t)
	term := clitest.NewTerminal("correct horse battery", "correct horse battery")
	res := clitest.RunWith(context.Background(), clitest.Options{Socket: sock, Terminal: term, Stdin: []byte("not this")},
		"create", "-o", "encryption=on", "-o", "keyformat=passphrase", "tank/enc")
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Stderr)
	}
	if res.Stderr != "Enter new passphrase:\nRe-enter new passphrase:\n" {
		t.Errorf("prompts %q", res.Stderr)
	}
	if got := fake.Last().Req.(api.CreateReq).Key; string(got) != "correct horse battery" {
		t.Errorf("key %q", got)
	}
	if strings.Contains(res.Stdout+res.Stderr, "horse") {
		t.Error("key material echoed")
	}

	fake.Reset()
	term = clitest.NewTerminal("correct horse battery", "correct horse batterx")
	res = clitest.RunWith(context.Background(), clitest.Options{Socket: sock, Terminal: term},
		"create", "-o", "encryption=on", "-o", "keyformat=passphrase", "tank/enc")
	if res.Code != 1 || !strings.HasSuffix(res.Stderr, "Passphrases do not match.\n") {
		t.Errorf("mismatch: exit %d stderr %q", res.Code, res.Stderr)
	}
	if len(fake.Calls()) != 0 {
		t.Errorf("daemon called after mismatch: %+v", fake.Calls())
	}

	res = clitest.RunWith(context.Background(), clitest.Options{Socket: sock, Terminal: clitest.NewTerminal()},
		"create", "-o", "encryption=on", "-o", "keyformat=raw", "tank/enc")
	if res.Code != 1 || res.Stderr != "Cannot enter raw keys on the terminal\n" {
		t.Errorf("raw at terminal: exit %d stderr %q", res.Code, res.Stderr)
	}
}

func TestLoadKey(t *testing.T) {
	t.Parallel()
	roots := api.KeyNeedResp{Roots: []api.KeyNeed{
		{Dataset: "tank/a", KeyFormat: "passphrase", KeyLocation: "prompt", KeyStatus: "unavailable"},
		{Dataset: "tank/b", KeyFormat: "raw", KeyLocation: "file:///root/b.key", KeyStatus: "unavailable"},
		{Dataset: "tank/c", KeyFormat: "passphrase", KeyLocation: "prompt", KeyStatus: "available"},
		{Dataset: "tank/d", KeyFormat: "hex", KeyLocation: "prompt", KeyStatus: "unavailable"},
	}}

	t.Run("all", func(t *testing.T) {
		t.Parallel()
		fake, sock := setup(t)
		fake.Script(api.MKeyNeed, roots, nil)
		res := run(t, sock, "passphrase-a\nabcd\n", "load-key", "-a", "-L", "prompt")
		if res.Code != 0 || res.Stdout != "3 / 3 key(s) successfully loaded\n" || res.Stderr != "" {
			t.Fatalf("exit %d stdout %q stderr %q", res.Code, res.Stdout, res.Stderr)
		}
		want := []apitest.Call{
			{Method: api.MKeyNeed, Req: api.KeyNeedReq{All: true, Location: "prompt"}},
			{Method: api.MLoadKey, Req: api.LoadKeyReq{Name: "tank/a", Location: "prompt", Key: []byte("passphrase-a")}},
			{Method: api.MLoadKey, Req: api.LoadKeyReq{Name: "tank/b", Location: "prompt"}},
			{Method: api.MLoadKey, Req: api.LoadKeyReq{Name: "tank/d", Location: "prompt", Key: []byte("abcd")}},
		}
		checkCalls(t, fake.Calls(), want)
	})

	t.Run("one fails", func(t *testing.T) {
		t.Parallel()
		fake := apitest.NewFake()
		fake.Script(api.MKeyNeed, roots, nil)
		fake.Hook = func(method string, req any) (any, error, bool) {
			if r, ok := req.(api.LoadKeyReq); ok && r.Name == "tank/a" {
				return nil, api.KeyError("Key load error: Incorrect key provided for 'tank/a'."), true
			}
			return nil, nil, false
		}
		sock := apitest.Serve(t, fake) // after Hook: see apitest.Fake
		res := run(t, sock, "wrong\nabcd\n", "load-key", "-r", "tank")
		if res.Code != 1 || res.Stdout != "2 / 3 key(s) successfully loaded\n" ||
			res.Stderr != "Key load error: Incorrect key provided for 'tank/a'.\n" {
			t.Fatalf("exit %d stdout %q stderr %q", res.Code, res.Stdout, res.Stderr)
		}
	})

	t.Run("single", func(t *testing.T) {
		t.Parallel()
		fake, sock := setup(t)
		fake.Script(api.MKeyNeed, api.KeyNeedResp{Roots: roots.Roots[:1]}, nil)
		res := run(t, sock, "passphrase-a\n", "load-key", "-n", "tank/a")
		if res.Code != 0 || res.Stdout != "" || res.Stderr != "" {
			t.Fatalf("exit %d stdout %q stderr %q", res.Code, res.Stdout, res.Stderr)
		}
		checkCalls(t, fake.Calls(), []apitest.Call{
			{Method: api.MKeyNeed, Req: api.KeyNeedReq{Name: "tank/a"}},
			{Method: api.MLoadKey, Req: api.LoadKeyReq{Name: "tank/a", NoOp: true, Key: []byte("passphrase-a")}},
		})
	})

	t.Run("terminal", func(t *testing.T) {
		t.Parallel()
		fake, sock := setup(t)
		fake.Script(api.MKeyNeed, api.KeyNeedResp{Roots: roots.Roots[:1]}, nil)
		term := clitest.NewTerminal("passphrase-a")
		res := clitest.RunWith(context.Background(), clitest.Options{Socket: sock, Terminal: term}, "load-key", "tank/a")
		if res.Code != 0 || res.Stderr != "Enter passphrase for 'tank/a':\n" || term.Reads() != 1 {
			t.Fatalf("exit %d stderr %q reads %d", res.Code, res.Stderr, term.Reads())
		}
		if got := fake.Last().Req.(api.LoadKeyReq).Key; string(got) != "passphrase-a" {
			t.Errorf("key %q", got)
		}
	})

	t.Run("no stdin", func(t *testing.T) {
		t.Parallel()
		fake, sock := setup(t)
		fake.Script(api.MKeyNeed, api.KeyNeedResp{Roots: roots.Roots[:1]}, nil)
		res := run(t, sock, "", "load-key", "tank/a")
		if res.Code != 1 || res.Stderr != "cannot read key material: no data on standard input\n" {
			t.Fatalf("exit %d stderr %q", res.Code, res.Stderr)
		}
	})
}

func checkCalls(t *testing.T, got, want []apitest.Call) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d calls %+v, want %d", len(got), got, len(want))
	}
	for i := range want {
		if got[i].Method != want[i].Method || !reflect.DeepEqual(got[i].Req, want[i].Req) {
			t.Errorf("call %d: %s %#v\nwant    %s %#v", i, got[i].Method, got[i].Req, want[i].Method, want[i].Req)
		}
	}
}

func TestExitCodesAndErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		err        error
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"not found", api.NotFound("cannot open 'tank/nope': dataset does not exist"), []string{"destroy", "tank/nope"}, 1,
			"cannot open 'tank/nope': dataset does not exist\n"},
		{"internal", fmt.Errorf("disk on fire"), []string{"destroy", "tank/a"}, 1, "disk on fire\n"},
		{"daemon usage", api.Errorf(api.CodeUsage, "invalid option combination"), []string{"destroy", "tank/a"}, 2,
			"invalid option combination\nusage: coffer destroy [-fnr] DATASET|SNAPSHOT\n"},
		{"ok", nil, []string{"destroy", "tank/a"}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake, sock := setup(t)
			fake.Script(api.MDestroy, nil, tt.err)
			res := run(t, sock, "", tt.args...)
			if res.Code != tt.wantCode || res.Stderr != tt.wantStderr || res.Stdout != "" {
				t.Errorf("exit %d stderr %q stdout %q, want %d %q", res.Code, res.Stderr, res.Stdout, tt.wantCode, tt.wantStderr)
			}
		})
	}
}

func TestDaemonNotRunning(t *testing.T) {
	t.Parallel()
	sock := filepath.Join(t.TempDir(), "none.sock")
	res := run(t, sock, "", "list")
	want := "cannot connect to coffer daemon at " + sock + ": is `coffer daemon` running?\n"
	if res.Code != 1 || res.Stderr != want {
		t.Errorf("exit %d stderr %q", res.Code, res.Stderr)
	}
}

func TestUsageErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args      []string
		firstLine string
	}{
		{[]string{}, "missing command"},
		{[]string{"frobnicate"}, "unknown command 'frobnicate'"},
		{[]string{"pool"}, "missing command"},
		{[]string{"pool", "frob"}, "unknown command 'frob'"},
		{[]string{"create"}, "missing dataset name argument"},
		{[]string{"create", "a", "b"}, "too many arguments"},
		{[]string{"create", "-x", "tank/a"}, "invalid option 'x'"},
		{[]string{"create", "--bogus", "tank/a"}, "invalid option '--bogus'"},
		{[]string{"create", "-o"}, "missing argument for 'o' option"},
		{[]string{"create", "-o", "compression", "tank/a"}, "missing '=' for property=value argument"},
		{[]string{"create", "-o", "a:b=1", "-o", "a:b=2", "tank/a"}, "property 'a:b' specified multiple times"},
		{[]string{"create", "-V", "12Q", "tank/v"}, "bad volume size '12Q': invalid numeric suffix"},
		{[]string{"create", "-s", "tank/v"}, "'-s' can only be used when creating a volume"},
		{[]string{"list", "-o", "name,bogus"}, "bad property list: invalid property 'bogus'"},
		{[]string{"list", "-t", "pool"}, "invalid type 'pool'"},
		{[]string{"list", "-d", "x"}, "invalid value 'x' for 'd' option"},
		{[]string{"get"}, "missing property argument"},
		{[]string{"get", "bogus", "tank"}, "bad property list: invalid property 'bogus'"},
		{[]string{"get", "-o", "name,color", "all"}, "invalid field 'color'"},
		{[]string{"get", "-s", "everywhere", "all"}, "invalid source 'everywhere'"},
		{[]string{"set", "compression=lz4"}, "missing property=value or dataset argument"},
		{[]string{"set", "compression", "tank"}, "missing '=' for property=value argument"},
		{[]string{"inherit", "compression"}, "missing property or dataset argument"},
		{[]string{"pool", "create", "tank"}, "missing vdev specification"},
		{[]string{"pool", "create", "tank", "mirror", "/a"}, "invalid vdev specification: mirror requires at least 2 devices"},
		{[]string{"pool", "list", "-o", "size,color"}, "bad property list: invalid property 'color'"},
		{[]string{"pool", "export"}, "missing pool argument"},
		{[]string{"pool", "status", "a", "b"}, "too many arguments"},
		{[]string{"load-key"}, "missing dataset argument"},
		{[]string{"load-key", "-a", "tank"}, "cannot specify dataset with -a"},
		{[]string{"unload-key", "-a", "-r"}, "-a and -r are mutually exclusive"},
		{[]string{"change-key", "-o", "encryption=off", "tank/a"}, "invalid property 'encryption': change-key accepts keyformat, keylocation and pbkdf2iters"},
		{[]string{"change-key", "-i", "-o", "keyformat=hex", "tank/a"}, "-i and -o are mutually exclusive"},
		{[]string{"version", "x"}, "too many arguments"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			fake, sock := setup(t)
			res := run(t, sock, "", tt.args...)
			lines := strings.Split(res.Stderr, "\n")
			if res.Code != 2 || lines[0] != tt.firstLine || len(lines) < 2 || !strings.HasPrefix(lines[1], "usage: coffer") {
				t.Errorf("exit %d stderr %q, want 2 and %q + usage", res.Code, res.Stderr, tt.firstLine)
			}
			if len(fake.Calls()) != 0 {
				t.Errorf("daemon called: %+v", fake.Calls())
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	res := run(t, "/nonexistent", "", "create", "--help")
	if res.Code != 0 || !strings.Contains(res.Stdout, "echo 'correct horse battery' | coffer create") {
		t.Errorf("exit %d stdout %q", res.Code, res.Stdout)
	}
}

var listRows = api.ListResp{Rows: []api.DatasetRow{
	{Name: "tank", Type: "filesystem", Props: map[string]api.PropValue{
		"used":       {Value: "1.50K", Exact: "1536", Source: "-"},
		"available":  {Value: "9.50G", Exact: "10200547328", Source: "-"},
		"referenced": {Value: "96K", Exact: "98304", Source: "-"},
		"mountpoint": {Value: "/tank", Exact: "/tank", Source: "default"},
	}},
	{Name: "tank/media", Type: "filesystem", Props: map[string]api.PropValue{
		"used":       {Value: "11.8M", Exact: "12345678", Source: "-"},
		"available":  {Value: "9.50G", Exact: "10200547328", Source: "-"},
		"referenced": {Value: "11.8M", Exact: "12345678", Source: "-"},
		"mountpoint": {Value: "/tank/media", Exact: "/tank/media", Source: "inherited from tank"},
		"com.x:tag":  {Value: "blue", Exact: "blue", Source: "local"},
	}},
	{Name: "tank/media@s1", Type: "snapshot", Props: map[string]api.PropValue{
		"used":       {Value: "0B", Exact: "0", Source: "-"},
		"referenced": {Value: "11.8M", Exact: "12345678", Source: "-"},
	}},
}}

func TestListOutput(t *testing.T) {
	t.Parallel()
	fake, sock := setup(t)
	fake.Script(api.MList, listRows, nil)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"list"}, "" +
			"NAME           USED   AVAIL  REFER  MOUNTPOINT\n" +
			"tank           1.50K  9.50G  96K    /tank\n" +
			"tank/media     11.8M  9.50G  11.8M  /tank/media\n" +
			"tank/media@s1  0B     -      11.8M  -\n"},
		{[]string{"list", "-H"}, "" +
			"tank\t1.50K\t9.50G\t96K\t/tank\n" +
			"tank/media\t11.8M\t9.50G\t11.8M\t/tank/media\n" +
			"tank/media@s1\t0B\t-\t11.8M\t-\n"},
		{[]string{"list", "-Hp", "-o", "name,used,type,com.x:tag"}, "" +
			"tank\t1536\tfilesystem\t-\n" +
			"tank/media\t12345678\tfilesystem\tblue\n" +
			"tank/media@s1\t0\tsnapshot\t-\n"},
		{[]string{"list", "-o", "name,avail,com.x:tag"}, "" +
			"NAME           AVAIL  com.x:tag\n" +
			"tank           9.50G  -\n" +
			"tank/media     9.50G  blue\n" +
			"tank/media@s1  -      -\n"},
		{[]string{"list", "-j", "-o", "used,mountpoint"}, `{"output_version":{"command":"coffer list","vers_major":0,"vers_minor":1},"datasets":{` +
			`"tank":{"name":"tank","type":"FILESYSTEM","pool":"tank","properties":{"mountpoint":{"value":"/tank","source":{"type":"DEFAULT","data":"-"}},"used":{"value":"1.50K","source":{"type":"NONE","data":"-"}}}},` +
			`"tank/media":{"name":"tank/media","type":"FILESYSTEM","pool":"tank","properties":{"mountpoint":{"value":"/tank/media","source":{"type":"INHERITED","data":"tank"}},"used":{"value":"11.8M","source":{"type":"NONE","data":"-"}}}},` +
			`"tank/media@s1":{"name":"tank/media@s1","type":"SNAPSHOT","pool":"tank","properties":{"mountpoint":{"value":"-","source":{"type":"NONE","data":"-"}},"used":{"value":"0B","source":{"type":"NONE","data":"-"}}}}}}` + "\n"},
		{[]string{"list", "-jp", "-o", "name,used", "tank"}, `{"output_version":{"command":"coffer list","vers_major":0,"vers_minor":1},"datasets":{` +
			`"tank":{"name":"tank","type":"FILESYSTEM","pool":"tank","properties":{"used":{"value":"1536","source":{"type":"NONE","data":"-"}}}},` +
			`"tank/media":{"name":"tank/media","type":"FILESYSTEM","pool":"tank","properties":{"used":{"value":"12345678","source":{"type":"NONE","data":"-"}}}},` +
			`"tank/media@s1":{"name":"tank/media@s1","type":"SNAPSHOT","pool":"tank","properties":{"used":{"value":"0","source":{"type":"NONE","data":"-"}}}}}}` + "\n"},
	}
	for _, tt := range tests {
		res := run(t, sock, "", tt.args...)
		if res.Code != 0 || res.Stdout != tt.want {
			t.Errorf("%v: exit %d stderr %q\ngot:\n%s\nwant:\n%s", tt.args, res.Code, res.Stderr, res.Stdout, tt.want)
		}
		if strings.Contains(strings.Join(tt.args, " "), "-j") && !json.Valid([]byte(res.Stdout)) {
			t.Errorf("%v: invalid JSON", tt.args)
		}
	}
}

func TestGetOutput(t *testing.T) {
	t.Parallel()
	fake, sock := setup(t)
	fake.Script(api.MGet, api.ListResp{Rows: listRows.Rows[:2]}, nil)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"get", "used,mountpoint,volsize", "tank", "tank/media"}, "" +
			"NAME        PROPERTY    VALUE        SOURCE\n" +
			"tank        used        1.50K        -\n" +
			"tank        mountpoint  /tank        default\n" +
			"tank        volsize     -            -\n" +
			"tank/media  used        11.8M        -\n" +
			"tank/media  mountpoint  /tank/media  inherited from tank\n" +
			"tank/media  volsize     -            -\n"},
		{[]string{"get", "-Hp", "-o", "value", "used", "tank"}, "1536\n12345678\n"},
		{[]string{"get", "-H", "-s", "local,inherited", "all"}, "" +
			"tank/media\tmountpoint\t/tank/media\tinherited from tank\n" +
			"tank/media\tcom.x:tag\tblue\tlocal\n"},
		{[]string{"get", "-H", "-o", "property,source", "all", "tank"}, "" +
			"used\t-\n" +
			"available\t-\n" +
			"referenced\t-\n" +
			"mountpoint\tdefault\n" +
			"used\t-\n" +
			"available\t-\n" +
			"referenced\t-\n" +
			"mountpoint\tinherited from tank\n" +
			"com.x:tag\tlocal\n"},
		{[]string{"get", "-j", "-s", "local", "all"}, `{"output_version":{"command":"coffer get","vers_major":0,"vers_minor":1},"datasets":{` +
			`"tank/media":{"name":"tank/media","type":"FILESYSTEM","pool":"tank","properties":{"com.x:tag":{"value":"blue","source":{"type":"LOCAL","data":"-"}}}}}}` + "\n"},
		{[]string{"get", "-jp", "used", "tank"}, `{"output_version":{"command":"coffer get","vers_major":0,"vers_minor":1},"datasets":{` +
			`"tank":{"name":"tank","type":"FILESYSTEM","pool":"tank","properties":{"used":{"value":"1536","source":{"type":"NONE","data":"-"}}}},` +
			`"tank/media":{"name":"tank/media","type":"FILESYSTEM","pool":"tank","properties":{"used":{"value":"12345678","source":{"type":"NONE","data":"-"}}}}}}` + "\n"},
	}
	for _, tt := range tests {
		res := run(t, sock, "", tt.args...)
		if res.Code != 0 || res.Stdout != tt.want {
			t.Errorf("%v: exit %d stderr %q\ngot:\n%s\nwant:\n%s", tt.args, res.Code, res.Stderr, res.Stdout, tt.want)
		}
	}
}

func TestPoolOutput(t *testing.T) {
	t.Parallel()
	fake, sock := setup(t)
	fake.Script(api.MPoolList, []api.PoolInfo{
		{Name: "tank", GUID: 1234, Size: 10 << 30, Allocated: 3 << 29, Free: 17 << 29, Health: "ONLINE", Txg: 42},
		{Name: "backup", GUID: 99, Size: 1 << 40, Allocated: 1536, Free: 1<<40 - 1536, Health: "DEGRADED", Txg: 7},
	}, nil)
	fake.Script(api.MPoolStatus, []api.PoolStatus{{
		Name: "tank", State: "ONLINE", Errors: "",
		Scrub: api.ScrubStatus{State: "finished", Start: 1700000000, End: 1700000065, Repaired: 4096, Errors: 0},
		Vdevs: []api.VdevStatus{
			{Name: "mirror-0", State: "ONLINE", Read: 0, Write: 0, Cksum: 3, Children: []api.VdevStatus{
				{Name: "/srv/coffer/d1", State: "ONLINE", Cksum: 3},
				{Name: "/srv/coffer/d2", State: "ONLINE"},
			}},
			{Name: "/srv/d3", State: "ONLINE", Read: 1},
		},
	}}, nil)
	fake.Script(api.MPoolImport, api.PoolImportResp{Importable: []api.PoolInfo{{Name: "tank", GUID: 1234, Health: "ONLINE"}}}, nil)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"pool", "list"}, "" +
			"NAME    SIZE  ALLOC  FREE   CAP  HEALTH\n" +
			"tank    10G   1.50G  8.50G  15%  ONLINE\n" +
			"backup  1T    1.50K  1024G  0%   DEGRADED\n"},
		{[]string{"pool", "list", "-Hp", "-o", "name,size,cap,guid,txg", "tank"}, "tank\t10737418240\t15\t1234\t42\n"},
		{[]string{"pool", "list", "-j", "-o", "name,health", "tank"}, `{"output_version":{"command":"coffer pool list","vers_major":0,"vers_minor":1},"pools":{` +
			`"tank":{"name":"tank","type":"POOL","state":"ONLINE","pool_guid":"1234","txg":"42","properties":{"health":{"value":"ONLINE","source":{"type":"NONE","data":"-"}}}}}}` + "\n"},
		{[]string{"pool", "status"}, "" +
			"  pool: tank\n" +
			" state: ONLINE\n" +
			"  scan: scrub repaired 4K in 00:01:05 with 0 errors on Tue Nov 14 22:14:25 2023\n" +
			"config:\n" +
			"\n" +
			"\tNAME                STATE     READ WRITE CKSUM\n" +
			"\ttank                ONLINE       1     0     3\n" +
			"\t  mirror-0          ONLINE       0     0     3\n" +
			"\t    /srv/coffer/d1  ONLINE       0     0     3\n" +
			"\t    /srv/coffer/d2  ONLINE       0     0     0\n" +
			"\t  /srv/d3           ONLINE       1     0     0\n" +
			"\n" +
			"errors: No known data errors\n"},
		{[]string{"pool", "import"}, "" +
			"   pool: tank\n" +
			"     id: 1234\n" +
			"  state: ONLINE\n" +
			" action: The pool can be imported using its name or numeric identifier.\n"},
	}
	for _, tt := range tests {
		res := run(t, sock, "", tt.args...)
		if res.Code != 0 || res.Stdout != tt.want {
			t.Errorf("%v: exit %d stderr %q\ngot:\n%s\nwant:\n%s", tt.args, res.Code, res.Stderr, res.Stdout, tt.want)
		}
	}
	res := run(t, sock, "", "pool", "list", "tank", "nope")
	if res.Code != 1 || res.Stderr != "cannot open 'nope': no such pool\n" || !strings.HasPrefix(res.Stdout, "NAME") {
		t.Errorf("missing pool: exit %d stdout %q stderr %q", res.Code, res.Stdout, res.Stderr)
	}
	res = run(t, sock, "", "pool", "status", "-j")
	var doc struct {
		Pools map[string]api.PoolStatus `json:"pools"`
	}
	if err := json.Unmarshal([]byte(res.Stdout), &doc); err != nil || doc.Pools["tank"].Vdevs[0].Children[0].Cksum != 3 {
		t.Errorf("status -j: %v %s", err, res.Stdout)
	}
}

func TestDaemonCommand(t *testing.T) {
	t.Parallel()
	res := run(t, "/x.sock", "", "daemon")
	if res.Code != 1 || res.Stderr != "daemon not built in\n" {
		t.Errorf("exit %d stderr %q", res.Code, res.Stderr)
	}
}
