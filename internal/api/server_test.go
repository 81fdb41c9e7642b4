package api_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"coffer/internal/api"
	"coffer/internal/api/apitest"
)

func TestPeerAllowed(t *testing.T) {
	t.Parallel()
	tests := []struct {
		uid, self int
		want      bool
	}{
		{0, 0, true},
		{0, 1000, true},
		{1000, 1000, true},
		{1001, 1000, false},
		{1000, 0, false},
	}
	for _, tt := range tests {
		if got := api.PeerAllowed(tt.uid, tt.self); got != tt.want {
			t.Errorf("peerAllowed(%d, %d) = %v, want %v", tt.uid, tt.self, got, tt.want)
		}
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	want := api.ListResp{Rows: []api.DatasetRow{{
		Name: "tank/a", Type: "filesystem",
		Props: map[string]api.PropValue{"used": {Value: "1.50K", Exact: "1536", Source: "-"}},
	}}}
	fake.Script(api.MList, want, nil)
	c := api.NewClient(apitest.Serve(t, fake))

	var got api.ListResp
	req := api.ListReq{Names: []string{"tank"}, Recursive: true, Props: []string{"name", "used"}}
	if err := c.Call(context.Background(), api.MList, req, &got); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("result = %+v, want %+v", got, want)
	}
	call := fake.Last()
	if call.Method != api.MList || fmt.Sprint(call.Req) != fmt.Sprint(req) {
		t.Errorf("backend got %+v, want %+v", call, req)
	}
	if call.Caller.UID != os.Getuid() || call.Caller.PID != os.Getpid() {
		t.Errorf("caller = %+v, want uid %d pid %d", call.Caller, os.Getuid(), os.Getpid())
	}
	// Methods without a request or a result.
	if err := c.Call(context.Background(), api.MPing, nil, nil); err != nil {
		t.Fatal(err)
	}
	var pools []api.PoolInfo
	fake.Script(api.MPoolList, []api.PoolInfo{{Name: "tank", Size: 1 << 30}}, nil)
	if err := c.Call(context.Background(), api.MPoolList, nil, &pools); err != nil {
		t.Fatal(err)
	}
	if len(pools) != 1 || pools[0].Name != "tank" || pools[0].Size != 1<<30 {
		t.Errorf("pools = %+v", pools)
	}
}

func TestErrorPassthrough(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	c := api.NewClient(apitest.Serve(t, fake))
	tests := []struct {
		err      error
		wantCode string
		wantMsg  string
	}{
		{api.NotFound("cannot open 'tank/x': dataset does not exist"), api.CodeNotFound, "cannot open 'tank/x': dataset does not exist"},
		{fmt.Errorf("wrapped: %w", api.Errorf(api.CodeKey, "Key load error: Incorrect key provided for 'tank/x'.")), api.CodeKey, "Key load error: Incorrect key provided for 'tank/x'."},
		{errors.New("disk on fire"), api.CodeInternal, "disk on fire"},
		{api.Errorf(api.CodeUsage, "bad usage"), api.CodeUsage, "bad usage"},
	}
	for _, tt := range tests {
		fake.Script(api.MDestroy, nil, tt.err)
		err := c.Call(context.Background(), api.MDestroy, api.DestroyReq{Name: "tank/x"}, nil)
		var e *api.Error
		if !errors.As(err, &e) || e.Code != tt.wantCode || e.Message != tt.wantMsg {
			t.Errorf("backend error %v: client got %#v, want code %q message %q", tt.err, err, tt.wantCode, tt.wantMsg)
		}
	}
}

func TestUnknownMethod(t *testing.T) {
	t.Parallel()
	c := api.NewClient(apitest.Serve(t, apitest.NewFake()))
	err := c.Call(context.Background(), "no.such", nil, nil)
	if api.ErrorCode(err) != api.CodeUsage {
		t.Errorf("err = %v, want usage error", err)
	}
}

func TestPermissionDenied(t *testing.T) {
	t.Parallel()
	fake := apitest.NewFake()
	srv := api.NewServer(fake, nil)
	var seen api.Caller
	api.SetAllow(srv, func(c api.Caller) bool { seen = c; return false })
	path := filepath.Join(t.TempDir(), "s")
	ln, err := api.ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- srv.Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	err = api.NewClient(path).Call(context.Background(), api.MPoolList, nil, nil)
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.CodePermission || !strings.HasPrefix(e.Message, "permission denied: uid ") {
		t.Errorf("err = %#v, want permission denied", err)
	}
	if len(fake.Calls()) != 0 {
		t.Errorf("backend was called: %+v", fake.Calls())
	}
	if seen.UID != os.Getuid() || seen.PID != os.Getpid() {
		t.Errorf("peer credentials = %+v", seen)
	}
}

func TestNoPeerCredentials(t *testing.T) {
	t.Parallel()
	// A request that did not come through ConnContext is refused.
	srv := api.NewServer(apitest.NewFake(), nil)
	rec := &responseRecorder{header: http.Header{}}
	r, _ := http.NewRequest(http.MethodPost, "/v1/ping", nil)
	srv.ServeHTTP(rec, r)
	if rec.status != http.StatusForbidden || !strings.Contains(rec.body.String(), `"permission"`) {
		t.Errorf("status %d body %s", rec.status, rec.body.String())
	}
}

type responseRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *responseRecorder) Header() http.Header         { return r.header }
func (r *responseRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *responseRecorder) WriteHeader(s int)           { r.status = s }

// TestSocketMode runs without t.Parallel: it changes the process umask.
func TestSocketMode(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "coffer.sock")
	ln, err := api.ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o600 {
		t.Errorf("socket mode = %v, want socket 0600", fi.Mode())
	}
}

func TestStaleSocketRemoved(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "coffer.sock")
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close() // a dead daemon's socket file
	if _, err := os.Lstat(path); err != nil {
		t.Fatal(err)
	}
	ln2, err := api.ListenUnix(path)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	ln2.Close()
}

func TestDaemonAlreadyRunning(t *testing.T) {
	t.Parallel()
	path := apitest.Serve(t, apitest.NewFake())
	_, err := api.ListenUnix(path)
	if err == nil || err.Error() != "daemon already running on "+path {
		t.Fatalf("err = %v", err)
	}
	// The running daemon still answers.
	if err := api.NewClient(path).Call(context.Background(), api.MPing, nil, nil); err != nil {
		t.Error(err)
	}
	err = api.NewServer(apitest.NewFake(), nil).ServeUnix(context.Background(), path)
	if err == nil || !strings.Contains(err.Error(), "daemon already running") {
		t.Errorf("ServeUnix: %v", err)
	}
}

func TestNotASocketLeftAlone(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "coffer.sock")
	if err := os.WriteFile(path, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := api.ListenUnix(path); err == nil || !strings.Contains(err.Error(), "not a socket") {
		t.Errorf("err = %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "precious" {
		t.Errorf("file was touched")
	}
}

func TestDaemonNotRunning(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nope.sock")
	err := api.NewClient(path).Call(context.Background(), api.MPing, nil, nil)
	want := "cannot connect to coffer daemon at " + path + ": is `coffer daemon` running?"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
}

func TestServeUnixShutdownRemovesSocket(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "coffer.sock")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	srv := api.NewServer(apitest.NewFake(), nil)
	go func() { done <- srv.ServeUnix(ctx, path) }()
	c := api.NewClient(path)
	for i := 0; ; i++ {
		if err := c.Call(ctx, api.MPing, nil, nil); err == nil {
			break
		} else if i > 200 {
			t.Fatal(err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left behind: %v", err)
	}
}

// keyKeeper keeps the key slice it was given, as a careless backend would.
type keyKeeper struct {
	*apitest.Fake
	mu   sync.Mutex
	kept []byte
}

func (k *keyKeeper) LoadKey(ctx context.Context, c api.Caller, r api.LoadKeyReq) error {
	k.mu.Lock()
	k.kept = r.Key
	k.mu.Unlock()
	return k.Fake.LoadKey(ctx, c, r)
}

func TestKeyMaterialWipedAndNotLogged(t *testing.T) {
	t.Parallel()
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	kk := &keyKeeper{Fake: apitest.NewFake()}
	path := filepath.Join(t.TempDir(), "s")
	ln, err := api.ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- api.NewServer(kk, logger).Serve(ctx, ln) }()
	defer func() { cancel(); <-done }()

	secret := "correct horse battery staple"
	req := api.LoadKeyReq{Name: "tank/x", Key: []byte(secret)}
	if err := api.NewClient(path).Call(context.Background(), api.MLoadKey, req, nil); err != nil {
		t.Fatal(err)
	}
	if got := kk.Fake.Last().Req.(api.LoadKeyReq).Key; string(got) != secret {
		t.Errorf("backend saw key %q", got)
	}
	kk.mu.Lock()
	kept := kk.kept
	kk.mu.Unlock()
	if len(kept) != len(secret) || !bytes.Equal(kept, make([]byte, len(secret))) {
		t.Errorf("key not wiped after the call: %q", kept)
	}
	out := logs.String()
	if !strings.Contains(out, "method=key.load") || !strings.Contains(out, "uid=") {
		t.Errorf("call not logged: %s", out)
	}
	if strings.Contains(out, "horse") || strings.Contains(out, "Y29ycmVjd") {
		t.Errorf("key material in log: %s", out)
	}
}

func TestRequestTooLarge(t *testing.T) {
	t.Parallel()
	c := api.NewClient(apitest.Serve(t, apitest.NewFake()))
	big := api.CreateReq{Name: "tank/x", Props: map[string]string{"x:y": strings.Repeat("a", 2<<20)}}
	err := c.Call(context.Background(), api.MCreate, big, nil)
	if api.ErrorCode(err) != api.CodeInvalid || !strings.Contains(err.Error(), "too large") {
		t.Errorf("err = %v", err)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
