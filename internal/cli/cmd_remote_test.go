package cli_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"coffer/internal/api"
	"coffer/internal/cli/clitest"
)

func TestRemoteRequestMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args   []string
		stdin  string
		env    map[string]string
		method string
		want   any
	}{
		{[]string{"remote", "add", "-o", "endpoint=http://127.0.0.1:9000", "-o", "insecure=on", "-o", "region=eu-1", "lab", "s3://b/p"}, "AK:SK/with:colon\nnext\n", nil, api.MRemoteAdd,
			api.RemoteAddReq{Name: "lab", URL: "s3://b/p", Endpoint: "http://127.0.0.1:9000", Region: "eu-1", Insecure: true, AccessKey: "AK", SecretKey: []byte("SK/with:colon")}},
		{[]string{"remote", "add", "lab", "s3://b"}, "ignored:stdin\n", map[string]string{"COFFER_S3_ACCESS_KEY": "EA", "COFFER_S3_SECRET_KEY": "ES"}, api.MRemoteAdd,
			api.RemoteAddReq{Name: "lab", URL: "s3://b", AccessKey: "EA", SecretKey: []byte("ES")}},
		{[]string{"remote", "list", "-H"}, "", nil, api.MRemoteList, nil},
		{[]string{"remote", "remove", "lab"}, "", nil, api.MRemoteRemove, api.RemoteNameReq{Name: "lab"}},
		{[]string{"remote", "send", "lab", "tank/a@s"}, "", nil, api.MRemoteSend, api.RemoteSendReq{Remote: "lab", Snapshot: "tank/a@s"}},
		{[]string{"remote", "send", "-i", "@r", "lab", "tank/a@s"}, "", nil, api.MRemoteSend, api.RemoteSendReq{Remote: "lab", Snapshot: "tank/a@s", From: "@r"}},
		{[]string{"remote", "list-backups", "-j", "lab", "tank/a"}, "", nil, api.MRemoteBackups, api.RemoteBackupsReq{Remote: "lab", Dataset: "tank/a"}},
		{[]string{"remote", "receive", "-F", "lab", "tank/a@s", "backup/a"}, "", nil, api.MRemoteReceive,
			api.RemoteReceiveReq{Remote: "lab", Snapshot: "tank/a@s", Target: "backup/a", Force: true}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			fake, sock := setup(t)
			r := clitest.RunWith(context.Background(), clitest.Options{Socket: sock, Stdin: []byte(tt.stdin), Env: tt.env}, tt.args...)
			if r.Code != 0 || r.Stderr != "" {
				t.Fatalf("exit %d, stderr %q", r.Code, r.Stderr)
			}
			last := fake.Last()
			if last.Method != tt.method || !reflect.DeepEqual(last.Req, tt.want) {
				t.Fatalf("got %s %#v\nwant %s %#v", last.Method, last.Req, tt.method, tt.want)
			}
		})
	}
}

func TestRemoteUsageAndCredentials(t *testing.T) {
	t.Parallel()
	_, sock := setup(t)
	for _, tc := range []struct {
		args  []string
		stdin string
		env   map[string]string
		code  int
		want  string
	}{
		{[]string{"remote", "add", "lab", "bucket"}, "a:b\n", nil, 2, "invalid remote URL 'bucket'"},
		{[]string{"remote", "add", "-o", "endpoint", "lab", "s3://b"}, "a:b\n", nil, 2, "missing '='"},
		{[]string{"remote", "add", "-o", "colour=red", "lab", "s3://b"}, "a:b\n", nil, 2, "invalid option 'colour'"},
		{[]string{"remote", "add", "-o", "insecure=yes", "lab", "s3://b"}, "a:b\n", nil, 2, "invalid value 'yes'"},
		{[]string{"remote", "add", "lab", "s3://b"}, "", nil, 1, "cannot read credentials: no data on standard input"},
		{[]string{"remote", "add", "lab", "s3://b"}, "no-colon\n", nil, 1, "want one line ACCESS_KEY:SECRET_KEY"},
		{[]string{"remote", "add", "lab", "s3://b"}, "", map[string]string{"COFFER_S3_ACCESS_KEY": "x"}, 1, "set both"},
		{[]string{"remote", "send", "lab"}, "", nil, 2, "missing remote name or snapshot argument"},
		{[]string{"remote", "receive", "lab", "tank/a@s"}, "", nil, 2, "missing"},
		{[]string{"remote", "frobnicate"}, "", nil, 2, "unknown command 'frobnicate'"},
	} {
		r := clitest.RunWith(context.Background(), clitest.Options{Socket: sock, Stdin: []byte(tc.stdin), Env: tc.env}, tc.args...)
		if r.Code != tc.code || !strings.Contains(r.Stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want exit %d with %q", tc.args, r.Code, r.Stderr, tc.code, tc.want)
		}
	}
	// At a terminal the credentials are asked once, without echo.
	fake, sock2 := setup(t)
	term := clitest.NewTerminal("AK:SK")
	r := clitest.RunWith(context.Background(), clitest.Options{Socket: sock2, Terminal: term}, "remote", "add", "lab", "s3://b")
	if r.Code != 0 || r.Stderr != "Enter ACCESS_KEY:SECRET_KEY for remote 'lab':\n" || term.Reads() != 1 {
		t.Fatalf("terminal add: exit %d stderr %q reads %d", r.Code, r.Stderr, term.Reads())
	}
	if req := fake.Last().Req.(api.RemoteAddReq); req.AccessKey != "AK" || string(req.SecretKey) != "SK" {
		t.Fatalf("terminal add sent %+v", req)
	}
}

func TestRemoteListOutput(t *testing.T) {
	t.Parallel()
	fake, sock := setup(t)
	fake.Script(api.MRemoteList, api.RemoteListResp{Remotes: []api.RemoteInfo{
		{Name: "lab", URL: "s3://b/p", Endpoint: "http://127.0.0.1:9000", Insecure: true},
		{Name: "offsite", URL: "s3://backups", Endpoint: "https://s3.amazonaws.com", Region: "eu-west-1"},
	}}, nil)
	if r := run(t, sock, "", "remote", "list"); r.Stdout != "NAME     URL           ENDPOINT                  REGION\n"+
		"lab      s3://b/p      http://127.0.0.1:9000     -\n"+
		"offsite  s3://backups  https://s3.amazonaws.com  eu-west-1\n" {
		t.Errorf("remote list:\n%s", r.Stdout)
	}
	if r := run(t, sock, "", "remote", "list", "-H"); r.Stdout != "lab\ts3://b/p\thttp://127.0.0.1:9000\t-\noffsite\ts3://backups\thttps://s3.amazonaws.com\teu-west-1\n" {
		t.Errorf("remote list -H: %q", r.Stdout)
	}
	r := run(t, sock, "", "remote", "list", "-j")
	want := `{"output_version":{"command":"coffer remote list","vers_major":0,"vers_minor":1},"remotes":{"lab":{"name":"lab","url":"s3://b/p","endpoint":"http://127.0.0.1:9000","region":"","insecure":true},"offsite":{"name":"offsite","url":"s3://backups","endpoint":"https://s3.amazonaws.com","region":"eu-west-1","insecure":false}}}` + "\n"
	if r.Stdout != want {
		t.Errorf("remote list -j:\n%s\nwant:\n%s", r.Stdout, want)
	}
}
