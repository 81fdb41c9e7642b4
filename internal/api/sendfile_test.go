package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"coffer/internal/api"
	"coffer/internal/api/apitest"
)

// SendFile on the Unix socket: the daemon writes the stream into the
// command's file itself. The bytes arrive whole, into a file and into a
// pipe; progress and the count follow them; the log counts them.
func TestSendFileLargeStream(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	fake.SendFunc = func(ctx context.Context, req api.SendReq, w io.Writer) error {
		if _, ok := w.(*os.File); ok {
			t.Error("backend got the raw file, not a counting writer")
		}
		return writeInPieces(w, streamOf(4, bigStream))
	}
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c := api.NewClient(serveWith(t, fake, logger, nil))
	want := sumOf(t, streamOf(4, bigStream))

	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var progress atomic.Int64
	n, err := c.SendFile(context.Background(), api.SendReq{Snapshot: "tank/a@s", Raw: true}, f, &progress)
	if err != nil || n != bigStream || progress.Load() != bigStream {
		t.Fatalf("n %d progress %d err %v", n, progress.Load(), err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if sumOf(t, f) != want {
		t.Fatal("stream in the file differs")
	}
	waitFor(t, func() bool { return strings.Contains(logs.String(), "bytes=67108864") })

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan [32]byte, 1)
	go func() {
		h := sha256.New()
		io.Copy(h, pr)
		got <- [32]byte(h.Sum(nil))
	}()
	n, err = c.SendFile(context.Background(), api.SendReq{Snapshot: "tank/a@s", Raw: true}, pw, nil)
	pw.Close()
	if err != nil || n != bigStream {
		t.Fatalf("pipe: n %d err %v", n, err)
	}
	if <-got != want {
		t.Fatal("stream through the pipe differs")
	}
	// The daemon closed its copy: the reader saw the end once we closed ours.
}

// An error before or in the middle of the stream comes back whole, with
// the bytes written before it.
func TestSendFileErrors(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	// Set before the server starts: the race detector sees no order
	// through the socket between this write and the handler's read.
	fake.SendFunc = func(ctx context.Context, req api.SendReq, w io.Writer) error {
		if req.Snapshot == "tank/x@s" {
			return api.NotFound("cannot open 'tank/x@s': dataset does not exist")
		}
		if err := writeInPieces(w, streamOf(5, 3<<20)); err != nil {
			return err
		}
		return api.Errorf(api.CodeIO, "cannot send 'tank/y@s': checksum error")
	}
	c := api.NewClient(apitest.Serve(t, fake))
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := c.SendFile(context.Background(), api.SendReq{Snapshot: "tank/x@s"}, f, nil)
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.CodeNotFound || e.Message != "cannot open 'tank/x@s': dataset does not exist" || n != 0 {
		t.Fatalf("before: n %d err %#v", n, err)
	}
	n, err = c.SendFile(context.Background(), api.SendReq{Snapshot: "tank/y@s"}, f, nil)
	if !errors.As(err, &e) || e.Code != api.CodeIO || e.Message != "cannot send 'tank/y@s': checksum error" || n != 3<<20 {
		t.Fatalf("mid stream: n %d err %#v", n, err)
	}
	if fi, _ := f.Stat(); fi.Size() != 3<<20 {
		t.Fatalf("file holds %d bytes, want %d", fi.Size(), 3<<20)
	}
}

// The reader of the command's output goes away (`coffer send | head`):
// the daemon's write fails with EPIPE, the backend stops, the command
// hears "write stream: broken pipe". A cancelled command stops the
// backend too.
func TestSendFileReaderGoesAway(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	backendErr := make(chan error, 1)
	fake.SendFunc = func(ctx context.Context, req api.SendReq, w io.Writer) error {
		// Like the engine, it stops when its context is done.
		err := writeInPieces(ctxWriter{ctx, w}, streamOf(6, 1<<40))
		backendErr <- err
		return err
	}
	c := api.NewClient(apitest.Serve(t, fake))
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		io.CopyN(io.Discard, pr, 1<<20)
		pr.Close()
	}()
	_, err = c.SendFile(context.Background(), api.SendReq{Snapshot: "tank/a@s"}, pw, nil)
	pw.Close()
	if err == nil || !strings.Contains(err.Error(), "write stream: broken pipe") {
		t.Fatalf("err %v, want write stream: broken pipe", err)
	}
	select {
	case err := <-backendErr:
		if err == nil {
			t.Error("backend write did not fail")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("backend still sending after the reader went away")
	}

	pr2, pw2, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr2.Close()
	go io.Copy(io.Discard, pr2)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err = c.SendFile(ctx, api.SendReq{Snapshot: "tank/a@s"}, pw2, nil)
	pw2.Close()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: err %v", err)
	}
	select {
	case <-backendErr:
	case <-time.After(10 * time.Second):
		t.Fatal("backend still sending after the command was cancelled")
	}
}

// Without a descriptor, or with one not open for writing, the request is
// refused before the backend runs.
func TestSendFileRefused(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	fake.SendFunc = func(ctx context.Context, req api.SendReq, w io.Writer) error {
		t.Error("backend called")
		return nil
	}
	path := apitest.Serve(t, fake)
	status, body := rawPost(t, path, api.MSend, map[string]string{api.HeaderOutput: "fd", "Content-Type": "application/json"},
		strings.NewReader(`{"snapshot":"tank/a@s"}`))
	if status == http.StatusOK || !strings.Contains(body, "exactly one descriptor") {
		t.Fatalf("no descriptor: %d %s", status, body)
	}
	name := filepath.Join(t.TempDir(), "ro")
	if err := os.WriteFile(name, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	ro, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	_, err = api.NewClient(path).SendFile(context.Background(), api.SendReq{Snapshot: "tank/a@s"}, ro, nil)
	if err == nil || !strings.Contains(err.Error(), "not open for writing") {
		t.Fatalf("read-only: err %v", err)
	}
	if b, _ := os.ReadFile(name); !bytes.Equal(b, []byte("keep")) {
		t.Fatal("read-only file changed")
	}
}

// ctxWriter fails once ctx is done.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}

// ReceiveFile on the Unix socket: the daemon reads the stream from the
// command's standard input itself, from a file or a pipe, and says how
// much it read.
func TestReceiveFileLargeStream(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	fake.ReceiveFunc = func(ctx context.Context, req api.ReceiveReq, r io.Reader) (api.ReceiveResp, error) {
		if sumOf(t, r) != sumOf(t, streamOf(7, bigStream)) {
			return api.ReceiveResp{}, api.Errorf(api.CodeIO, "stream corrupted in transit")
		}
		return api.ReceiveResp{Received: []string{req.Target + "@s"}}, nil
	}
	c := api.NewClient(apitest.Serve(t, fake))
	name := filepath.Join(t.TempDir(), "stream")
	out, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, streamOf(7, bigStream)); err != nil {
		t.Fatal(err)
	}
	out.Close()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	resp, err := c.ReceiveFile(context.Background(), api.ReceiveReq{Target: "backup/a"}, f, nil)
	if err != nil || resp.Bytes != bigStream || len(resp.Received) != 1 || resp.Received[0] != "backup/a@s" {
		t.Fatalf("file: %+v %v", resp, err)
	}

	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	go func() {
		io.Copy(pw, streamOf(7, bigStream))
		pw.Close()
	}()
	resp, err = c.ReceiveFile(context.Background(), api.ReceiveReq{Target: "backup/b"}, pr, nil)
	if err != nil || resp.Bytes != bigStream || resp.Received[0] != "backup/b@s" {
		t.Fatalf("pipe: %+v %v", resp, err)
	}
}

// A receive the daemon refuses after a few bytes returns its error at once,
// though the writer of the pipe has more; standard output as input is
// refused before the backend runs.
func TestReceiveFileRefused(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	fake.ReceiveFunc = func(ctx context.Context, req api.ReceiveReq, r io.Reader) (api.ReceiveResp, error) {
		io.CopyN(io.Discard, r, 1000)
		return api.ReceiveResp{}, api.Errorf(api.CodeInvalid, "cannot receive: invalid stream (bad magic number)")
	}
	c := api.NewClient(apitest.Serve(t, fake))
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	go io.Copy(pw, streamOf(8, 1<<40))
	done := make(chan error, 1)
	go func() {
		_, err := c.ReceiveFile(context.Background(), api.ReceiveReq{Target: "backup/a"}, pr, nil)
		done <- err
	}()
	select {
	case err := <-done:
		var e *api.Error
		if !errors.As(err, &e) || e.Code != api.CodeInvalid || !strings.Contains(e.Message, "bad magic") {
			t.Fatalf("err %#v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("refused receive still reading")
	}
	n := len(fake.Calls())
	_, err = c.ReceiveFile(context.Background(), api.ReceiveReq{Target: "backup/a"}, pw, nil)
	if err == nil || !strings.Contains(err.Error(), "not open for reading") {
		t.Fatalf("write end as input: %v", err)
	}
	if len(fake.Calls()) != n {
		t.Fatal("backend called with a descriptor it cannot read")
	}
}

// Over HTTP no descriptor can pass: SendFile and ReceiveFile carry the
// stream in the bodies, with the same results.
func TestSendReceiveFileOverHTTP(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	fake.SendFunc = func(ctx context.Context, req api.SendReq, w io.Writer) error {
		return writeInPieces(w, streamOf(9, 5<<20))
	}
	fake.ReceiveFunc = func(ctx context.Context, req api.ReceiveReq, r io.Reader) (api.ReceiveResp, error) {
		if sumOf(t, r) != sumOf(t, streamOf(9, 5<<20)) {
			return api.ReceiveResp{}, api.Errorf(api.CodeIO, "stream corrupted in transit")
		}
		return api.ReceiveResp{Received: []string{req.Target + "@s"}}, nil
	}
	srv := api.NewServer(fake, nil)
	users, err := api.LoadUsers(filepath.Join(t.TempDir(), "users.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetUsers(users)
	ctx := context.Background()
	url := serveTCP(t, srv)
	op, err := users.Add(ctx, api.Caller{}, api.UserAddReq{Name: "ops", Role: "admin", UID: -1})
	if err != nil {
		t.Fatal(err)
	}
	c, err := api.NewHTTPClient(url, op.Token, "")
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var progress atomic.Int64
	n, err := c.SendFile(ctx, api.SendReq{Snapshot: "tank/a@s", Raw: true}, f, &progress)
	if err != nil || n != 5<<20 || progress.Load() != 5<<20 {
		t.Fatalf("send: n %d progress %d err %v", n, progress.Load(), err)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	progress.Store(0)
	resp, err := c.ReceiveFile(ctx, api.ReceiveReq{Target: "backup/a"}, f, &progress)
	if err != nil || resp.Bytes != 5<<20 || len(resp.Received) != 1 || progress.Load() != 5<<20 {
		t.Fatalf("receive: %+v %v, progress %d", resp, err, progress.Load())
	}
}

// ReceiveFile reports progress while the daemon reads: a backend that
// stops after the first MiB until the client's counter shows it.
func TestReceiveFileProgress(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	var progress atomic.Int64
	fake.ReceiveFunc = func(ctx context.Context, req api.ReceiveReq, r io.Reader) (api.ReceiveResp, error) {
		if _, err := io.CopyN(io.Discard, r, 1<<20); err != nil {
			return api.ReceiveResp{}, err
		}
		deadline := time.Now().Add(10 * time.Second)
		for progress.Load() < 1<<20 {
			if time.Now().After(deadline) {
				return api.ReceiveResp{}, api.Errorf(api.CodeIO, "no progress reached the client")
			}
			time.Sleep(10 * time.Millisecond)
		}
		n, err := io.Copy(io.Discard, r)
		return api.ReceiveResp{Received: []string{fmt.Sprintf("%s@%d", req.Target, n)}}, err
	}
	c := api.NewClient(apitest.Serve(t, fake))
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	go func() {
		io.Copy(pw, streamOf(10, 3<<20))
		pw.Close()
	}()
	resp, err := c.ReceiveFile(context.Background(), api.ReceiveReq{Target: "backup/a"}, pr, &progress)
	if err != nil || resp.Bytes != 3<<20 || progress.Load() != 3<<20 || resp.Received[0] != fmt.Sprintf("backup/a@%d", 2<<20) {
		t.Fatalf("%+v %v, progress %d", resp, err, progress.Load())
	}
}
