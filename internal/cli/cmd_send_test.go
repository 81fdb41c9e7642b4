package cli_test

import (
	"bytes"
	"context"
	"io"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"coffer/internal/api"
	"coffer/internal/api/apitest"
	"coffer/internal/cli"
	"coffer/internal/cli/clitest"
)

var testEstimate = api.SendEstimate{Bytes: 5632, Streams: []api.StreamInfo{
	{To: "tank/a@a", Bytes: 1536},
	{From: "@a", To: "tank/a@b", Bytes: 4096},
}}

func TestSendReceiveRequestMapping(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args  []string
		stdin string
		want  []apitest.Call
	}{
		{[]string{"send", "tank/a@s"}, "", []apitest.Call{
			{Method: api.MSendEstimate, Req: api.SendReq{Snapshot: "tank/a@s"}},
			{Method: api.MSend, Req: api.SendReq{Snapshot: "tank/a@s"}}}},
		{[]string{"send", "-w", "-R", "-i", "@a", "tank/a@b"}, "", []apitest.Call{
			{Method: api.MSendEstimate, Req: api.SendReq{Snapshot: "tank/a@b", Raw: true, Replicate: true, From: "@a"}},
			{Method: api.MSend, Req: api.SendReq{Snapshot: "tank/a@b", Raw: true, Replicate: true, From: "@a"}}}},
		{[]string{"send", "--raw", "-I", "tank/a@a", "tank/a@c"}, "", []apitest.Call{
			{Method: api.MSendEstimate, Req: api.SendReq{Snapshot: "tank/a@c", Raw: true, From: "tank/a@a", Intermediates: true}},
			{Method: api.MSend, Req: api.SendReq{Snapshot: "tank/a@c", Raw: true, From: "tank/a@a", Intermediates: true}}}},
		{[]string{"send", "-t", "1-abc-def"}, "", []apitest.Call{
			{Method: api.MSendEstimate, Req: api.SendReq{Token: "1-abc-def"}},
			{Method: api.MSend, Req: api.SendReq{Token: "1-abc-def"}}}},
		{[]string{"send", "-n", "-wR", "tank@s"}, "", []apitest.Call{
			{Method: api.MSendEstimate, Req: api.SendReq{Snapshot: "tank@s", Raw: true, Replicate: true}}}},
		{[]string{"receive", "backup/a"}, "stream bytes", []apitest.Call{
			{Method: api.MReceive, Req: api.ReceiveReq{Target: "backup/a"}, Stream: []byte("stream bytes")}}},
		{[]string{"recv", "-F", "-u", "-s", "-o", "compress=lz4", "-o", "mountpoint=/srv/x", "-x", "atime", "-x", "com.x:y", "backup/a"}, "s",
			[]apitest.Call{{Method: api.MReceive, Req: api.ReceiveReq{Target: "backup/a", Force: true, NoMount: true, Resumable: true,
				Props: map[string]string{"compression": "lz4", "mountpoint": "/srv/x"}, Exclude: []string{"atime", "com.x:y"}}, Stream: []byte("s")}}},
		{[]string{"receive", "-A", "backup/a"}, "", []apitest.Call{
			{Method: api.MReceiveAbort, Req: api.ReceiveAbortReq{Target: "backup/a"}}}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			fake, sock := setup(t)
			res := run(t, sock, tt.stdin, tt.args...)
			if res.Code != 0 || res.Stdout != "" || res.Stderr != "" {
				t.Fatalf("exit %d stdout %q stderr %q", res.Code, res.Stdout, res.Stderr)
			}
			got := fake.Calls()
			for i := range got {
				got[i].Caller = api.Caller{}
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("calls %+v\nwant  %+v", got, tt.want)
			}
		})
	}
}

func TestSendStreamsToStdoutOnly(t *testing.T) {
	t.Parallel()
	fake, sock := setup(t)
	stream := bytes.Repeat([]byte("0123456789abcdef"), 64<<10)
	fake.Script(api.MSend, stream, nil)
	fake.Script(api.MSendEstimate, api.SendEstimate{Bytes: uint64(len(stream)), Streams: []api.StreamInfo{{To: "tank/a@s", Bytes: uint64(len(stream))}},
		Warning: "tank/a is encrypted: a non-raw send sends its data in plaintext"}, nil)
	res := run(t, sock, "", "send", "tank/a@s")
	if res.Code != 0 || res.Stdout != string(stream) {
		t.Fatalf("exit %d, stdout %d bytes, stderr %q", res.Code, len(res.Stdout), res.Stderr)
	}
	// The warning is printed without -v too.
	if want := "warning: tank/a is encrypted: a non-raw send sends its data in plaintext\n"; res.Stderr != want {
		t.Errorf("stderr %q, want %q", res.Stderr, want)
	}
}

func TestSendEstimateOutput(t *testing.T) {
	t.Parallel()
	human := "full send of tank/a@a estimated size is 1.50K\n" +
		"incremental send from @a to tank/a@b estimated size is 4K\n" +
		"total estimated size is 5.50K\n"
	parsable := "full\ttank/a@a\t1536\n" +
		"incremental\t@a\ttank/a@b\t4096\n" +
		"size\t5632\n"
	tests := []struct {
		args       []string
		warning    string
		wantStderr string
	}{
		{[]string{"-n"}, "", ""},
		{[]string{"-nv"}, "", human},
		{[]string{"-n", "-P"}, "", parsable},
		{[]string{"-nvP"}, "", parsable},
		{[]string{"-n"}, "Warning: plaintext", "Warning: plaintext\n"},
		{[]string{"-nv"}, "plaintext", "warning: plaintext\n" + human},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " ")+tt.warning, func(t *testing.T) {
			t.Parallel()
			fake, sock := setup(t)
			est := testEstimate
			est.Warning = tt.warning
			fake.Script(api.MSendEstimate, est, nil)
			fake.Script(api.MSend, []byte("must not be sent"), nil)
			res := run(t, sock, "", append(append([]string{"send"}, tt.args...), "-I", "@a", "tank/a@b")...)
			if res.Code != 0 || res.Stdout != "" || res.Stderr != tt.wantStderr {
				t.Fatalf("exit %d stdout %q stderr:\n%s\nwant:\n%s", res.Code, res.Stdout, res.Stderr, tt.wantStderr)
			}
			if n := len(fake.Calls()); n != 1 {
				t.Errorf("%d calls, want the estimate only", n)
			}
		})
	}
}

func TestSendProgress(t *testing.T) {
	t.Parallel()
	reHuman := regexp.MustCompile(`^\d\d:\d\d:\d\d +[0-9.]+[BKM] +[0-9.]+[BKM]/s +(\d\d:\d\d:\d\d|-) +tank/a@b$`)
	reTab := regexp.MustCompile(`^\d\d:\d\d:\d\d\t\d+\ttank/a@b$`)
	for _, parsable := range []bool{false, true} {
		t.Run(map[bool]string{false: "-v", true: "-vP"}[parsable], func(t *testing.T) {
			t.Parallel()
			fake := apitest.NewFake()
			fake.Script(api.MSendEstimate, testEstimate, nil)
			stream := bytes.Repeat([]byte{0xc0, 0xff, 0xee}, 1000)
			fake.SendFunc = func(ctx context.Context, req api.SendReq, w io.Writer) error {
				w.Write(stream[:1000])
				time.Sleep(1600 * time.Millisecond) // at least one progress tick
				_, err := w.Write(stream[1000:])
				return err
			}
			sock := apitest.Serve(t, fake)
			args := []string{"send", "-v", "-I", "@a", "tank/a@b"}
			if parsable {
				args = []string{"send", "-vP", "-I", "@a", "tank/a@b"}
			}
			res := run(t, sock, "", args...)
			if res.Code != 0 || res.Stdout != string(stream) {
				t.Fatalf("exit %d stdout %d bytes stderr %q", res.Code, len(res.Stdout), res.Stderr)
			}
			lines := strings.Split(strings.TrimSuffix(res.Stderr, "\n"), "\n")
			var progress []string
			if parsable {
				if !strings.HasPrefix(res.Stderr, "full\ttank/a@a\t1536\nincremental\t@a\ttank/a@b\t4096\nsize\t5632\n") {
					t.Fatalf("stderr:\n%s", res.Stderr)
				}
				progress = lines[3:]
				for _, l := range progress {
					if !reTab.MatchString(l) {
						t.Errorf("progress line %q", l)
					}
				}
			} else {
				want := "full send of tank/a@a estimated size is 1.50K\n" +
					"incremental send from @a to tank/a@b estimated size is 4K\n" +
					"total estimated size is 5.50K\n" +
					"TIME        SENT  RATE       ETA       SNAPSHOT\n"
				if !strings.HasPrefix(res.Stderr, want) {
					t.Fatalf("stderr:\n%s", res.Stderr)
				}
				last := lines[len(lines)-1]
				if !regexp.MustCompile(`^sent 2.93K stream in \d+\.\d\d seconds \([0-9.]+[KB]/sec\)$`).MatchString(last) {
					t.Errorf("last line %q", last)
				}
				progress = lines[4 : len(lines)-1]
				for _, l := range progress {
					if !reHuman.MatchString(l) {
						t.Errorf("progress line %q", l)
					}
				}
			}
			if len(progress) == 0 {
				t.Errorf("no progress lines:\n%s", res.Stderr)
			}
		})
	}
}

func TestSendErrors(t *testing.T) {
	t.Parallel()

	t.Run("estimate fails", func(t *testing.T) {
		t.Parallel()
		fake, sock := setup(t)
		fake.Script(api.MSendEstimate, nil, api.NotFound("cannot open 'tank/x@s': dataset does not exist"))
		res := run(t, sock, "", "send", "-v", "tank/x@s")
		if res.Code != 1 || res.Stdout != "" || res.Stderr != "cannot open 'tank/x@s': dataset does not exist\n" {
			t.Fatalf("exit %d stdout %q stderr %q", res.Code, res.Stdout, res.Stderr)
		}
		if len(fake.Calls()) != 1 {
			t.Errorf("calls %+v", fake.Calls())
		}
	})

	t.Run("mid stream", func(t *testing.T) {
		t.Parallel()
		fake := apitest.NewFake()
		fake.SendFunc = func(ctx context.Context, req api.SendReq, w io.Writer) error {
			w.Write([]byte("partial"))
			return api.Errorf(api.CodeIO, "cannot send 'tank/a@s': I/O error reading block 12")
		}
		sock := apitest.Serve(t, fake)
		res := run(t, sock, "", "send", "tank/a@s")
		if res.Code != 1 || res.Stdout != "partial" || res.Stderr != "cannot send 'tank/a@s': I/O error reading block 12\n" {
			t.Fatalf("exit %d stdout %q stderr %q", res.Code, res.Stdout, res.Stderr)
		}
		// With -v: the error, no closing line.
		res = run(t, sock, "", "send", "-v", "tank/a@s")
		if res.Code != 1 || !strings.HasSuffix(res.Stderr, "SNAPSHOT\ncannot send 'tank/a@s': I/O error reading block 12\n") {
			t.Fatalf("exit %d stderr %q", res.Code, res.Stderr)
		}
	})

	t.Run("receive refused", func(t *testing.T) {
		t.Parallel()
		fake, sock := setup(t)
		fake.Script(api.MReceive, nil, api.Invalid("cannot receive: checksum mismatch in record 3; 'backup/a' is unchanged"))
		res := run(t, sock, "garbage", "receive", "-v", "backup/a")
		if res.Code != 1 || res.Stdout != "" || res.Stderr != "cannot receive: checksum mismatch in record 3; 'backup/a' is unchanged\n" {
			t.Fatalf("exit %d stdout %q stderr %q", res.Code, res.Stdout, res.Stderr)
		}
	})

	t.Run("daemon not running", func(t *testing.T) {
		t.Parallel()
		res := run(t, t.TempDir()+"/none.sock", "x", "receive", "backup/a")
		if res.Code != 1 || !strings.HasPrefix(res.Stderr, "cannot connect to coffer daemon at ") {
			t.Fatalf("exit %d stderr %q", res.Code, res.Stderr)
		}
	})
}

func TestReceiveVerbose(t *testing.T) {
	t.Parallel()
	fake, sock := setup(t)
	fake.Script(api.MReceive, api.ReceiveResp{Received: []string{"backup/a@first", "backup/a@second"}}, nil)
	res := run(t, sock, strings.Repeat("x", 3000), "receive", "-v", "backup/a")
	re := regexp.MustCompile(`^received snapshot backup/a@first\nreceived snapshot backup/a@second\n` +
		`received 2.93K stream in \d+\.\d\d seconds \([0-9.]+[BKMG]/sec\)\n$`)
	if res.Code != 0 || res.Stdout != "" || !re.MatchString(res.Stderr) {
		t.Fatalf("exit %d stdout %q stderr %q", res.Code, res.Stdout, res.Stderr)
	}
}

// receive -v prints a progress line every second while the stream is read.
func TestReceiveProgress(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	fake.ReceiveFunc = func(ctx context.Context, req api.ReceiveReq, r io.Reader) (api.ReceiveResp, error) {
		io.CopyN(io.Discard, r, 1000)
		time.Sleep(1600 * time.Millisecond) // at least one progress tick
		io.Copy(io.Discard, r)
		return api.ReceiveResp{Received: []string{"backup/a@s"}}, nil
	}
	sock := apitest.Serve(t, fake)
	res := run(t, sock, strings.Repeat("x", 3000), "receive", "-v", "backup/a")
	lines := strings.Split(strings.TrimSuffix(res.Stderr, "\n"), "\n")
	if res.Code != 0 || len(lines) < 4 || lines[0] != "TIME      RECEIVED  RATE       ETA       DATASET" ||
		lines[len(lines)-2] != "received snapshot backup/a@s" || !strings.HasPrefix(lines[len(lines)-1], "received 2.93K stream in ") {
		t.Fatalf("exit %d stderr:\n%s", res.Code, res.Stderr)
	}
	re := regexp.MustCompile(`^\d\d:\d\d:\d\d +[0-9.]+[BK] +[0-9.]+[BK]/s +- +backup/a$`)
	for _, l := range lines[1 : len(lines)-2] {
		if !re.MatchString(l) {
			t.Errorf("progress line %q", l)
		}
	}
}

// ttyBuffer is a stdout that claims to be a terminal.
type ttyBuffer struct{ bytes.Buffer }

func (*ttyBuffer) IsTerminal() bool { return true }

func TestTerminalRefused(t *testing.T) {
	t.Parallel()
	fake, sock := setup(t)
	fake.Script(api.MSendEstimate, testEstimate, nil)
	fake.Script(api.MSend, []byte("binary"), nil)

	runTTY := func(args ...string) (int, string, string) {
		var stdout ttyBuffer
		var stderr bytes.Buffer
		env := cli.Env{Stdin: strings.NewReader(""), Stdout: &stdout, Stderr: &stderr,
			Getenv: func(k string) string {
				if k == api.EnvSocket {
					return sock
				}
				return ""
			}}
		code := cli.Main(context.Background(), env, args)
		return code, stdout.String(), stderr.String()
	}
	code, out, errOut := runTTY("send", "-v", "tank/a@b")
	if code != 1 || out != "" || errOut != "cannot send: stream cannot be written to a terminal; redirect standard output\n" {
		t.Errorf("send: exit %d stdout %q stderr %q", code, out, errOut)
	}
	if n := len(fake.Calls()); n != 0 {
		t.Errorf("daemon asked %d times", n)
	}
	// -n writes no stream: allowed at a terminal.
	code, out, errOut = runTTY("send", "-nv", "tank/a@b")
	if code != 0 || out != "" || !strings.HasSuffix(errOut, "total estimated size is 5.50K\n") {
		t.Errorf("send -n: exit %d stdout %q stderr %q", code, out, errOut)
	}

	fake.Reset()
	res := clitest.RunWith(context.Background(), clitest.Options{Socket: sock, Terminal: clitest.NewTerminal()}, "receive", "backup/a")
	if res.Code != 1 || res.Stdout != "" || res.Stderr != "cannot receive: standard input is a terminal\n" {
		t.Errorf("receive: exit %d stdout %q stderr %q", res.Code, res.Stdout, res.Stderr)
	}
	// -A reads no stream.
	res = clitest.RunWith(context.Background(), clitest.Options{Socket: sock, Terminal: clitest.NewTerminal()}, "receive", "-A", "backup/a")
	if res.Code != 0 || res.Stderr != "" {
		t.Errorf("receive -A: exit %d stderr %q", res.Code, res.Stderr)
	}
	if calls := fake.Calls(); len(calls) != 1 || calls[0].Method != api.MReceiveAbort {
		t.Errorf("calls %+v", calls)
	}
}

func TestSendReceiveUsage(t *testing.T) {
	t.Parallel()
	sendUsage := "usage: coffer send [-wRvPn] [-i SNAPSHOT | -I SNAPSHOT] SNAPSHOT\n       coffer send [-vPn] -t TOKEN\n"
	recvUsage := "usage: coffer receive [-vFus] [-o property=value]... [-x property]... DATASET\n       coffer receive -A DATASET\n"
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"send", "-i", "@a", "-I", "@b", "tank/a@c"}, "-i and -I are mutually exclusive\n" + sendUsage},
		{[]string{"send", "-t", "tok", "tank/a@c"}, "cannot specify a snapshot with -t\n" + sendUsage},
		{[]string{"send", "-w", "-t", "tok"}, "-t cannot be combined with -w, -R, -i or -I: the token holds them\n" + sendUsage},
		{[]string{"send"}, "missing snapshot argument\n" + sendUsage},
		{[]string{"send", "tank/a@b", "tank/a@c"}, "too many arguments\n" + sendUsage},
		{[]string{"send", "-q", "tank/a@b"}, "invalid option 'q'\n" + sendUsage},
		{[]string{"send", "-i"}, "missing argument for 'i' option\n" + sendUsage},
		{[]string{"receive"}, "missing dataset argument\n" + recvUsage},
		{[]string{"receive", "a", "b"}, "too many arguments\n" + recvUsage},
		{[]string{"receive", "-A", "-F", "backup/a"}, "-A cannot be combined with other options\n" + recvUsage},
		{[]string{"receive", "-o", "compression", "backup/a"}, "missing '=' for property=value argument\n" + recvUsage},
		{[]string{"recv", "-o", "compress=lz4", "-x", "compression", "backup/a"}, "property 'compression' specified with both -o and -x\n" + recvUsage},
		{[]string{"receive", "-x", "", "backup/a"}, "missing property name for -x\n" + recvUsage},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			fake, sock := setup(t)
			res := run(t, sock, "stream", tt.args...)
			if res.Code != 2 || res.Stdout != "" || res.Stderr != tt.want {
				t.Errorf("exit %d stdout %q stderr:\n%s\nwant:\n%s", res.Code, res.Stdout, res.Stderr, tt.want)
			}
			if len(fake.Calls()) != 0 {
				t.Errorf("daemon was asked: %+v", fake.Calls())
			}
		})
	}
}

func TestSendReceiveHelp(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{{"send", "-h"}, {"receive", "--help"}, {"recv", "-h"}} {
		res := run(t, "", "", args...)
		if res.Code != 0 || !strings.Contains(res.Stdout, "coffer send -w tank/media@first | ssh backup coffer receive -u backup/media") ||
			!strings.Contains(res.Stdout, "-I @first") {
			t.Errorf("%v: exit %d stdout %s", args, res.Code, res.Stdout)
		}
	}
}
