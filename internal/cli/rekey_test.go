package cli_test

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"coffer/internal/api"
	"coffer/internal/api/apitest"
)

// scriptedRekey answers rekey status from a script: one answer per poll,
// the last one repeated.
type scriptedRekey struct {
	mu     sync.Mutex
	starts []api.RekeyReq
	script []api.RekeyStatus
	polls  int
	err    error
}

func (s *scriptedRekey) Rekey(ctx context.Context, c api.Caller, req api.RekeyReq) (api.RekeyResp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.starts = append(s.starts, req)
	if s.err != nil {
		return api.RekeyResp{}, s.err
	}
	return api.RekeyResp{Datasets: []string{req.Name}}, nil
}

func (s *scriptedRekey) RekeyStatus(ctx context.Context, c api.Caller, req api.RekeyReq) (api.RekeyStatusResp, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.script[min(s.polls, len(s.script)-1)]
	s.polls++
	return api.RekeyStatusResp{Datasets: []api.RekeyStatus{st}}, nil
}

func serveRekey(t *testing.T, b *scriptedRekey) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "coffer.sock")
	ln, err := api.ListenUnix(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := api.NewServer(apitest.NewFake(), nil)
	srv.RegisterRekey(b)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return path
}

func TestRekeyWaitsWithProgress(t *testing.T) {
	t.Parallel()
	b := &scriptedRekey{script: []api.RekeyStatus{
		{Dataset: "tank/a", State: "running", SnapsDone: 1, Snaps: 3, Bytes: 3 << 20, TotalSize: 9 << 20},
		{Dataset: "tank/a", State: "none", Snaps: 3, Finished: 1800000000},
	}}
	sock := serveRekey(t, b)
	res := run(t, sock, "", "rekey", "-r", "tank/a")
	if res.Code != 0 {
		t.Fatalf("exit %d: %s", res.Code, res.Stderr)
	}
	if len(b.starts) != 1 || b.starts[0] != (api.RekeyReq{Name: "tank/a", Recursive: true}) {
		t.Fatalf("requests %+v", b.starts)
	}
	lines := strings.Split(strings.TrimSpace(res.Stderr), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "TIME") || !strings.Contains(lines[1], "3M") ||
		!strings.Contains(lines[1], "9M") || !strings.Contains(lines[1], "1/3") || !strings.HasSuffix(lines[1], "tank/a") {
		t.Fatalf("progress %q", res.Stderr)
	}
	if res.Stdout != "rekeyed 'tank/a': new master key, 3 snapshots re-encrypted\n" {
		t.Fatalf("stdout %q", res.Stdout)
	}
}

func TestRekeyReportsFailure(t *testing.T) {
	t.Parallel()
	b := &scriptedRekey{script: []api.RekeyStatus{
		{Dataset: "tank/a", State: "in-progress", SnapsDone: 1, Snaps: 3,
			LastError: "cannot rekey 'tank/a': pool is being closed"},
	}}
	res := run(t, serveRekey(t, b), "", "rekey", "-j", "tank/a")
	if res.Code != 1 || !strings.HasSuffix(res.Stderr, "cannot rekey 'tank/a': pool is being closed\n") {
		t.Fatalf("exit %d stderr %q", res.Code, res.Stderr)
	}
	b2 := &scriptedRekey{err: &api.Error{Code: api.CodeInvalid, Message: "cannot rekey 'tank/p': dataset is not encrypted"}}
	res = run(t, serveRekey(t, b2), "", "rekey", "tank/p")
	if res.Code != 1 || res.Stderr != "cannot rekey 'tank/p': dataset is not encrypted\n" || res.Stdout != "" {
		t.Fatalf("exit %d stderr %q stdout %q", res.Code, res.Stderr, res.Stdout)
	}
	b3 := &scriptedRekey{script: []api.RekeyStatus{{Dataset: "tank/a", State: "in-progress", SnapsDone: 2, Snaps: 3}}}
	res = run(t, serveRekey(t, b3), "", "rekey", "--status", "tank/a")
	if res.Code != 0 || !strings.Contains(res.Stdout, "tank/a") || !strings.Contains(res.Stdout, "in-progress") || !strings.Contains(res.Stdout, "2/3") || len(b3.starts) != 0 {
		t.Fatalf("status: %+v", res)
	}
}
