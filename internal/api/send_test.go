package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"coffer/internal/api"
	"coffer/internal/api/apitest"
)

const bigStream = 64 << 20

// streamOf returns a reader of n deterministic pseudo-random bytes; it is
// not a bytes.Reader, so its length is unknown to net/http.
func streamOf(seed uint64, n int64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

func sumOf(t *testing.T, r io.Reader) [32]byte {
	t.Helper()
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	return [32]byte(h.Sum(nil))
}

// serveWith serves b with logger and access rule on a fresh socket.
func serveWith(t *testing.T, b api.Backend, logger *slog.Logger, allow func(api.Caller) bool) string {
	t.Helper()
	srv := api.NewServer(b, logger)
	if allow != nil {
		api.SetAllow(srv, allow)
	}
	path := filepath.Join(t.TempDir(), "s")
	ln, err := api.ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return path
}

// writeInPieces copies r to w in writes of varying size, as an engine
// writing records would.
func writeInPieces(w io.Writer, r io.Reader) error {
	buf := make([]byte, 300<<10)
	sizes := []int{1, 17, 4096, 65536, 300 << 10, 12345}
	for i := 0; ; i++ {
		n, err := io.ReadFull(r, buf[:sizes[i%len(sizes)]])
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func TestSendLargeStream(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	fake.SendFunc = func(ctx context.Context, req api.SendReq, w io.Writer) error {
		return writeInPieces(w, streamOf(1, bigStream))
	}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := api.NewClient(serveWith(t, fake, logger, nil))

	req := api.SendReq{Snapshot: "tank/a@b", Raw: true, Replicate: true, From: "@a", Intermediates: true}
	h := sha256.New()
	n, err := c.Send(context.Background(), req, h)
	if err != nil {
		t.Fatal(err)
	}
	if n != bigStream {
		t.Errorf("n = %d, want %d", n, bigStream)
	}
	if got, want := [32]byte(h.Sum(nil)), sumOf(t, streamOf(1, bigStream)); got != want {
		t.Error("stream corrupted in transit")
	}
	if last := fake.Last(); last.Method != api.MSend || !reflect.DeepEqual(last.Req, req) {
		t.Errorf("backend got %+v, want %+v", last, req)
	}
	waitFor(t, func() bool { return strings.Contains(logs.String(), "bytes=67108864") })
	if out := logs.String(); !strings.Contains(out, "method=send ") || strings.Contains(out, "tank/a@b") {
		t.Errorf("log: %s", out)
	}
}

// waitFor polls cond: the server logs a call after the client saw its end.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for i := 0; !cond(); i++ {
		if i > 500 {
			t.Fatal("condition not reached")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSendErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		send      func(w io.Writer) error
		wantBytes int64
		wantCode  string
		wantMsg   string
	}{
		{"before stream", func(w io.Writer) error {
			return api.NotFound("cannot open 'tank/x@s': dataset does not exist")
		}, 0, api.CodeNotFound, "cannot open 'tank/x@s': dataset does not exist"},
		{"mid stream", func(w io.Writer) error {
			if err := writeInPieces(w, streamOf(2, 5<<20)); err != nil {
				return err
			}
			return api.Errorf(api.CodeIO, "cannot send 'tank/ä@s': checksum error in block 7\n\U0001F4A5")
		}, 5 << 20, api.CodeIO, "cannot send 'tank/ä@s': checksum error in block 7\n\U0001F4A5"},
		{"plain error mid stream", func(w io.Writer) error {
			w.Write([]byte("x"))
			return errors.New("disk on fire")
		}, 1, api.CodeInternal, "disk on fire"},
		{"panic mid stream", func(w io.Writer) error {
			w.Write([]byte("xy"))
			panic("boom")
		}, 2, api.CodeInternal, "internal error in send"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := apitest.NewFake()
			fake.SendFunc = func(ctx context.Context, req api.SendReq, w io.Writer) error { return tt.send(w) }
			c := api.NewClient(apitest.Serve(t, fake))
			var out bytes.Buffer
			n, err := c.Send(context.Background(), api.SendReq{Snapshot: "tank/x@s"}, &out)
			var e *api.Error
			if !errors.As(err, &e) || e.Code != tt.wantCode || e.Message != tt.wantMsg {
				t.Fatalf("err = %#v, want code %q message %q", err, tt.wantCode, tt.wantMsg)
			}
			if n != tt.wantBytes || int64(out.Len()) != n {
				t.Errorf("n = %d, wrote %d, want %d", n, out.Len(), tt.wantBytes)
			}
		})
	}
}

func TestSendScriptedAndEmpty(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	c := api.NewClient(apitest.Serve(t, fake))
	var out bytes.Buffer
	if n, err := c.Send(context.Background(), api.SendReq{Snapshot: "tank/a@s"}, &out); err != nil || n != 0 || out.Len() != 0 {
		t.Errorf("empty stream: n %d err %v", n, err)
	}
	fake.Script(api.MSend, []byte("scripted stream"), nil)
	if n, err := c.Send(context.Background(), api.SendReq{Snapshot: "tank/a@s"}, &out); err != nil || n != 15 || out.String() != "scripted stream" {
		t.Errorf("scripted: n %d err %v out %q", n, err, out.String())
	}
}

type failWriter struct{ left int }

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.left {
		n := f.left
		f.left = 0
		return n, errors.New("broken pipe")
	}
	f.left -= len(p)
	return len(p), nil
}

func TestSendClientGoesAway(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	backendErr := make(chan error, 1)
	fake.SendFunc = func(ctx context.Context, req api.SendReq, w io.Writer) error {
		// An endless stream: only the client going away ends it.
		err := writeInPieces(w, streamOf(3, 1<<40))
		backendErr <- err
		return err
	}
	c := api.NewClient(apitest.Serve(t, fake))
	n, err := c.Send(context.Background(), api.SendReq{Snapshot: "tank/a@s"}, &failWriter{left: 1 << 20})
	if err == nil || !strings.HasPrefix(err.Error(), "write stream: broken pipe") || n != 1<<20 {
		t.Fatalf("n %d err %v", n, err)
	}
	select {
	case err := <-backendErr:
		if err == nil {
			t.Error("backend write did not fail")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("backend still sending after the client went away")
	}
}

func TestReceiveLargeBody(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	var got [32]byte
	var gotN int64
	fake.ReceiveFunc = func(ctx context.Context, req api.ReceiveReq, r io.Reader) (api.ReceiveResp, error) {
		h := sha256.New()
		n, err := io.Copy(h, r)
		got, gotN = [32]byte(h.Sum(nil)), n
		return api.ReceiveResp{Received: []string{req.Target + "@a", req.Target + "@b"}}, err
	}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := api.NewClient(serveWith(t, fake, logger, nil))
	req := api.ReceiveReq{Target: "backup/media", Force: true, NoMount: true, Resumable: true,
		Props: map[string]string{"compression": "lz4", "com.x:note": "ä=b"}, Exclude: []string{"mountpoint"}}
	resp, err := c.Receive(context.Background(), req, streamOf(4, bigStream))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"backup/media@a", "backup/media@b"}; !reflect.DeepEqual(resp.Received, want) {
		t.Errorf("received %v", resp.Received)
	}
	if gotN != bigStream || got != sumOf(t, streamOf(4, bigStream)) {
		t.Errorf("backend read %d bytes, hash match %v", gotN, got == sumOf(t, streamOf(4, bigStream)))
	}
	if last := fake.Last(); last.Method != api.MReceive || !reflect.DeepEqual(last.Req, req) {
		t.Errorf("backend got %+v, want %+v", last.Req, req)
	}
	waitFor(t, func() bool { return strings.Contains(logs.String(), "method=receive ") })
	if out := logs.String(); !strings.Contains(out, "bytes=67108864") || strings.Contains(out, "backup/media") {
		t.Errorf("log: %s", out)
	}

	// The default fake keeps what it read.
	fake.SetReceiveFunc(nil)
	if _, err := c.Receive(context.Background(), api.ReceiveReq{Target: "b/x"}, strings.NewReader("small stream")); err != nil {
		t.Fatal(err)
	}
	if s := fake.Last().Stream; string(s) != "small stream" {
		t.Errorf("stream %q", s)
	}
}

func TestReceiveRefusedEarly(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	fake.ReceiveFunc = func(ctx context.Context, req api.ReceiveReq, r io.Reader) (api.ReceiveResp, error) {
		if _, err := io.CopyN(io.Discard, r, 1<<20); err != nil {
			return api.ReceiveResp{}, err
		}
		return api.ReceiveResp{}, api.Invalid("cannot receive: invalid stream (bad magic number)")
	}
	c := api.NewClient(apitest.Serve(t, fake))
	for range 5 {
		_, err := c.Receive(context.Background(), api.ReceiveReq{Target: "b/x"}, streamOf(5, bigStream))
		if api.ErrorCode(err) != api.CodeInvalid || err.Error() != "cannot receive: invalid stream (bad magic number)" {
			t.Fatalf("err = %v", err)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("input/output error") }

func TestReceiveReadError(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	c := api.NewClient(apitest.Serve(t, fake))
	_, err := c.Receive(context.Background(), api.ReceiveReq{Target: "b/x"}, io.MultiReader(strings.NewReader("abc"), errReader{}))
	if err == nil || !strings.Contains(err.Error(), "input/output error") {
		t.Errorf("err = %v", err)
	}
}

// rawPost posts to the API socket with a plain HTTP client.
func rawPost(t *testing.T, path, method string, header map[string]string, body io.Reader) (int, string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", path)
	}}}
	req, err := http.NewRequest(http.MethodPost, "http://coffer/v1/"+method, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestReceiveRequestHeader(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	path := apitest.Serve(t, fake)
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name    string
		header  map[string]string
		status  int
		want    string // substring of the response
		wantReq any    // request the backend got, nil: not called
	}{
		{"missing", nil, 400, `"code":"usage","message":"bad request: missing X-Coffer-Request header"`, nil},
		{"not base64", map[string]string{api.HeaderRequest: "{not base64}"}, 400, `bad request: X-Coffer-Request header: illegal base64`, nil},
		{"not JSON", map[string]string{api.HeaderRequest: b64("target=x")}, 400, `bad request: X-Coffer-Request header: invalid character`, nil},
		{"wrong type", map[string]string{api.HeaderRequest: b64(`{"target":"x","force":"yes"}`)}, 400, `bad request: X-Coffer-Request header: json: cannot unmarshal`, nil},
		{"ok", map[string]string{api.HeaderRequest: b64(`{"target":"b/x","force":true,"props":{"a:b":"c"},"exclude":["mountpoint"]}`)},
			200, `{"result":{"received":null}}`,
			api.ReceiveReq{Target: "b/x", Force: true, Props: map[string]string{"a:b": "c"}, Exclude: []string{"mountpoint"}}},
	}
	for _, tt := range tests {
		fake.Reset()
		status, body := rawPost(t, path, api.MReceive, tt.header, strings.NewReader("stream"))
		if status != tt.status || !strings.Contains(body, tt.want) {
			t.Errorf("%s: status %d body %s", tt.name, status, body)
		}
		calls := fake.Calls()
		switch {
		case tt.wantReq == nil && len(calls) != 0:
			t.Errorf("%s: backend called: %+v", tt.name, calls)
		case tt.wantReq != nil && (len(calls) != 1 || !reflect.DeepEqual(calls[0].Req, tt.wantReq) || string(calls[0].Stream) != "stream"):
			t.Errorf("%s: backend got %+v", tt.name, calls)
		}
	}
	// The send request keeps the 1 MiB limit.
	status, body := rawPost(t, path, api.MSend, nil, strings.NewReader(`{"snapshot":"`+strings.Repeat("a", 2<<20)+`"}`))
	if status != 400 || !strings.Contains(body, "too large") {
		t.Errorf("large send request: %d %s", status, body)
	}
	// A receive body has no limit beyond the backend's.
	status, body = rawPost(t, path, api.MReceive, map[string]string{api.HeaderRequest: b64(`{"target":"b/x"}`)}, streamOf(6, 3<<20))
	if status != 200 || len(fake.Last().Stream) != 3<<20 {
		t.Errorf("large receive: %d %s, backend read %d", status, body, len(fake.Last().Stream))
	}
}

func TestSendReceivePermissionDenied(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	fake.Script(api.MSend, []byte("secret stream"), nil)
	c := api.NewClient(serveWith(t, fake, nil, func(api.Caller) bool { return false }))
	var out bytes.Buffer
	n, err := c.Send(context.Background(), api.SendReq{Snapshot: "tank/a@s"}, &out)
	if api.ErrorCode(err) != api.CodePermission || n != 0 || out.Len() != 0 {
		t.Errorf("send: n %d err %v out %q", n, err, out.String())
	}
	_, err = c.Receive(context.Background(), api.ReceiveReq{Target: "b/x"}, streamOf(7, 4<<20))
	if api.ErrorCode(err) != api.CodePermission {
		t.Errorf("receive: %v", err)
	}
	for _, m := range []string{api.MSendEstimate, api.MReceiveAbort} {
		if err := c.Call(context.Background(), m, nil, nil); api.ErrorCode(err) != api.CodePermission {
			t.Errorf("%s: %v", m, err)
		}
	}
	if calls := fake.Calls(); len(calls) != 0 {
		t.Errorf("backend called: %+v", calls)
	}
}

func TestSendEstimateAndReceiveAbort(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	est := api.SendEstimate{Bytes: 5000, Warning: "w", Streams: []api.StreamInfo{{To: "tank/a@a", Bytes: 1000}, {From: "@a", To: "tank/a@b", Bytes: 4000}}}
	fake.Script(api.MSendEstimate, est, nil)
	c := api.NewClient(apitest.Serve(t, fake))
	var got api.SendEstimate
	req := api.SendReq{Snapshot: "tank/a@b", From: "@a", Intermediates: true}
	if err := c.Call(context.Background(), api.MSendEstimate, req, &got); err != nil || !reflect.DeepEqual(got, est) {
		t.Errorf("estimate %+v %v", got, err)
	}
	if last := fake.Last(); last.Method != api.MSendEstimate || !reflect.DeepEqual(last.Req, req) {
		t.Errorf("backend got %+v", last)
	}
	if err := c.Call(context.Background(), api.MReceiveAbort, api.ReceiveAbortReq{Target: "b/x"}, nil); err != nil {
		t.Fatal(err)
	}
	if last := fake.Last(); last.Method != api.MReceiveAbort || last.Req != (api.ReceiveAbortReq{Target: "b/x"}) {
		t.Errorf("backend got %+v", last)
	}
}

func TestTrailerIsASCII(t *testing.T) {
	t.Parallel()
	for _, msg := range []string{"plain", "ä\x00\x7f\U0001F4A5\n\"'<>&", strings.Repeat("é", 100)} {
		s := api.ASCIIJSON(&api.Error{Code: api.CodeIO, Message: msg})
		for _, r := range s {
			if r < 0x20 || r >= 0x7f {
				t.Fatalf("%q: non-printable %q in %q", msg, r, s)
			}
		}
		var e api.Error
		if err := json.Unmarshal([]byte(s), &e); err != nil || e.Message != msg || e.Code != api.CodeIO {
			t.Errorf("%q: round trip %+v %v", msg, e, err)
		}
	}
}
