// Package apitest provides a scripted, recording api.Backend for tests of
// the transport and the CLI. It is not a storage engine: it returns what the
// test told it to and remembers every request it received.
package apitest

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"coffer/internal/api"
)

// Call is one request the fake received.
type Call struct {
	Method string
	Caller api.Caller
	Req    any // the request struct (a value, e.g. api.CreateReq), nil for none
	// Stream is the stream a default Receive read (nil otherwise).
	Stream []byte
}

// Fake is an api.Backend that records calls and answers from Results and
// Errors, keyed by method constant (api.MList, ...). Key material in
// requests is copied before the server wipes it.
type Fake struct {
	mu    sync.Mutex
	calls []Call

	// Results holds the result value per method, of the method's result
	// type ([]api.PoolInfo, api.ListResp, ...). Missing: the zero value.
	Results map[string]any
	// Errors holds the error per method. Missing: success.
	Errors map[string]error
	// Hook, if set, is called for every request and overrides Results and
	// Errors when it returns handled=true.
	Hook func(method string, req any) (result any, err error, handled bool)

	// Hook, SendFunc and ReceiveFunc are set before the server starts (Serve):
	// the race detector sees no order between a write here and the
	// handler's read through the socket's request.
	//
	// SendFunc, if set, writes the stream of a Send (after the call is
	// recorded, instead of Results/Errors). By default Send fails with
	// Errors[api.MSend] before writing anything, or writes
	// Results[api.MSend] (a []byte).
	SendFunc func(ctx context.Context, req api.SendReq, w io.Writer) error
	// ReceiveFunc, if set, handles a Receive (after the call is recorded).
	// By default Receive reads the whole stream into Call.Stream, then
	// answers from Results/Errors.
	ReceiveFunc func(ctx context.Context, req api.ReceiveReq, r io.Reader) (api.ReceiveResp, error)
}

var _ api.Backend = (*Fake)(nil)

// SetReceiveFunc replaces ReceiveFunc while the fake may be serving.
func (f *Fake) SetReceiveFunc(fn func(ctx context.Context, req api.ReceiveReq, r io.Reader) (api.ReceiveResp, error)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ReceiveFunc = fn
}

// NewFake returns an empty Fake.
func NewFake() *Fake {
	return &Fake{Results: map[string]any{}, Errors: map[string]error{}}
}

// Calls returns the calls received so far.
func (f *Fake) Calls() []Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

// Last returns the last call, or a zero Call.
func (f *Fake) Last() Call {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.calls) == 0 {
		return Call{}
	}
	return f.calls[len(f.calls)-1]
}

// Reset forgets the recorded calls.
func (f *Fake) Reset() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = nil
}

// Script scripts the result and error of method.
func (f *Fake) Script(method string, result any, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if result != nil {
		f.Results[method] = result
	}
	if err != nil {
		f.Errors[method] = err
	}
}

func do[R any](f *Fake, method string, c api.Caller, req any) (R, error) {
	return doStream[R](f, method, c, req, nil)
}

func doStream[R any](f *Fake, method string, c api.Caller, req any, stream []byte) (R, error) {
	req = cloneKeys(req)
	f.mu.Lock()
	f.calls = append(f.calls, Call{Method: method, Caller: c, Req: req, Stream: stream})
	hook := f.Hook
	res, err := f.Results[method], f.Errors[method]
	f.mu.Unlock()
	if hook != nil {
		if r, e, ok := hook(method, req); ok {
			res, err = r, e
		}
	}
	var zero R
	if err != nil {
		return zero, err
	}
	if r, ok := res.(R); ok {
		return r, nil
	}
	return zero, nil
}

func cloneKeys(req any) any {
	switch r := req.(type) {
	case api.PoolCreateReq:
		r.Key = slices.Clone(r.Key)
		return r
	case api.CreateReq:
		r.Key = slices.Clone(r.Key)
		return r
	case api.LoadKeyReq:
		r.Key = slices.Clone(r.Key)
		return r
	case api.ChangeKeyReq:
		r.Key = slices.Clone(r.Key)
		r.OldKey = slices.Clone(r.OldKey)
		return r
	}
	return req
}

func (f *Fake) Ping(ctx context.Context, c api.Caller) error {
	_, err := do[api.Empty](f, api.MPing, c, nil)
	return err
}
func (f *Fake) PoolCreate(ctx context.Context, c api.Caller, r api.PoolCreateReq) error {
	_, err := do[api.Empty](f, api.MPoolCreate, c, r)
	return err
}
func (f *Fake) PoolList(ctx context.Context, c api.Caller) ([]api.PoolInfo, error) {
	return do[[]api.PoolInfo](f, api.MPoolList, c, nil)
}
func (f *Fake) PoolStatus(ctx context.Context, c api.Caller, r api.PoolNameReq) ([]api.PoolStatus, error) {
	return do[[]api.PoolStatus](f, api.MPoolStatus, c, r)
}
func (f *Fake) PoolImport(ctx context.Context, c api.Caller, r api.PoolImportReq) (api.PoolImportResp, error) {
	return do[api.PoolImportResp](f, api.MPoolImport, c, r)
}
func (f *Fake) PoolExport(ctx context.Context, c api.Caller, r api.PoolNameReq) error {
	_, err := do[api.Empty](f, api.MPoolExport, c, r)
	return err
}
func (f *Fake) PoolDestroy(ctx context.Context, c api.Caller, r api.PoolNameReq) error {
	_, err := do[api.Empty](f, api.MPoolDestroy, c, r)
	return err
}
func (f *Fake) PoolScrub(ctx context.Context, c api.Caller, r api.PoolNameReq) error {
	_, err := do[api.Empty](f, api.MPoolScrub, c, r)
	return err
}
func (f *Fake) Create(ctx context.Context, c api.Caller, r api.CreateReq) error {
	_, err := do[api.Empty](f, api.MCreate, c, r)
	return err
}
func (f *Fake) Destroy(ctx context.Context, c api.Caller, r api.DestroyReq) error {
	_, err := do[api.Empty](f, api.MDestroy, c, r)
	return err
}
func (f *Fake) Snapshot(ctx context.Context, c api.Caller, r api.SnapshotReq) error {
	_, err := do[api.Empty](f, api.MSnapshot, c, r)
	return err
}
func (f *Fake) Rollback(ctx context.Context, c api.Caller, r api.RollbackReq) error {
	_, err := do[api.Empty](f, api.MRollback, c, r)
	return err
}
func (f *Fake) List(ctx context.Context, c api.Caller, r api.ListReq) (api.ListResp, error) {
	return do[api.ListResp](f, api.MList, c, r)
}
func (f *Fake) Get(ctx context.Context, c api.Caller, r api.GetReq) (api.ListResp, error) {
	return do[api.ListResp](f, api.MGet, c, r)
}
func (f *Fake) Set(ctx context.Context, c api.Caller, r api.SetReq) error {
	_, err := do[api.Empty](f, api.MSet, c, r)
	return err
}
func (f *Fake) Inherit(ctx context.Context, c api.Caller, r api.InheritReq) error {
	_, err := do[api.Empty](f, api.MInherit, c, r)
	return err
}
func (f *Fake) KeyNeed(ctx context.Context, c api.Caller, r api.KeyNeedReq) (api.KeyNeedResp, error) {
	return do[api.KeyNeedResp](f, api.MKeyNeed, c, r)
}
func (f *Fake) LoadKey(ctx context.Context, c api.Caller, r api.LoadKeyReq) error {
	_, err := do[api.Empty](f, api.MLoadKey, c, r)
	return err
}
func (f *Fake) UnloadKey(ctx context.Context, c api.Caller, r api.UnloadKeyReq) (api.UnloadKeyResp, error) {
	return do[api.UnloadKeyResp](f, api.MUnloadKey, c, r)
}
func (f *Fake) ChangeKey(ctx context.Context, c api.Caller, r api.ChangeKeyReq) error {
	_, err := do[api.Empty](f, api.MChangeKey, c, r)
	return err
}

func (f *Fake) SendEstimate(ctx context.Context, c api.Caller, r api.SendReq) (api.SendEstimate, error) {
	return do[api.SendEstimate](f, api.MSendEstimate, c, r)
}

func (f *Fake) Send(ctx context.Context, c api.Caller, r api.SendReq, w io.Writer) error {
	f.mu.Lock()
	send := f.SendFunc
	f.mu.Unlock()
	if send != nil {
		f.record(Call{Method: api.MSend, Caller: c, Req: r})
		return send(ctx, r, w)
	}
	stream, err := do[[]byte](f, api.MSend, c, r)
	if err != nil {
		return err
	}
	_, err = w.Write(stream)
	return err
}

func (f *Fake) Receive(ctx context.Context, c api.Caller, r api.ReceiveReq, stream io.Reader) (api.ReceiveResp, error) {
	f.mu.Lock()
	recv := f.ReceiveFunc
	f.mu.Unlock()
	if recv != nil {
		f.record(Call{Method: api.MReceive, Caller: c, Req: r})
		return recv(ctx, r, stream)
	}
	b, err := io.ReadAll(stream)
	if err != nil {
		f.record(Call{Method: api.MReceive, Caller: c, Req: r, Stream: b})
		return api.ReceiveResp{}, fmt.Errorf("read stream: %w", err)
	}
	return doStream[api.ReceiveResp](f, api.MReceive, c, r, b)
}

func (f *Fake) ReceiveAbort(ctx context.Context, c api.Caller, r api.ReceiveAbortReq) error {
	_, err := do[api.Empty](f, api.MReceiveAbort, c, r)
	return err
}

func (f *Fake) RemoteAdd(ctx context.Context, c api.Caller, r api.RemoteAddReq) (api.RemoteAddResp, error) {
	r.SecretKey = slices.Clone(r.SecretKey) // the server wipes its copy
	return do[api.RemoteAddResp](f, api.MRemoteAdd, c, r)
}
func (f *Fake) RemoteList(ctx context.Context, c api.Caller) (api.RemoteListResp, error) {
	return do[api.RemoteListResp](f, api.MRemoteList, c, nil)
}
func (f *Fake) RemoteRemove(ctx context.Context, c api.Caller, r api.RemoteNameReq) error {
	_, err := do[api.Empty](f, api.MRemoteRemove, c, r)
	return err
}
func (f *Fake) RemoteSend(ctx context.Context, c api.Caller, r api.RemoteSendReq) (api.RemoteSendResp, error) {
	return do[api.RemoteSendResp](f, api.MRemoteSend, c, r)
}
func (f *Fake) RemoteBackups(ctx context.Context, c api.Caller, r api.RemoteBackupsReq) (api.RemoteBackupsResp, error) {
	return do[api.RemoteBackupsResp](f, api.MRemoteBackups, c, r)
}
func (f *Fake) RemoteReceive(ctx context.Context, c api.Caller, r api.RemoteReceiveReq) (api.RemoteReceiveResp, error) {
	return do[api.RemoteReceiveResp](f, api.MRemoteReceive, c, r)
}

func (f *Fake) record(call Call) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, call)
}

// Serve starts an api.Server for b on a socket in a fresh temporary
// directory and returns the socket path. The server stops at test cleanup.
func Serve(t testing.TB, b api.Backend) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "coffer.sock")
	ln, err := api.ListenUnix(path)
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	srv := api.NewServer(b, nil)
	srv.RegisterRemote(b)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return path
}
