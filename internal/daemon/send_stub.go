package daemon

// Placeholders for send and receive until the engine implements them; the
// engine owner replaces this file.

import (
	"context"
	"io"

	"coffer/internal/api"
)

func (d *Daemon) SendEstimate(ctx context.Context, c api.Caller, req api.SendReq) (api.SendEstimate, error) {
	return api.SendEstimate{}, api.Errorf(api.CodeInternal, "not implemented")
}

func (d *Daemon) Send(ctx context.Context, c api.Caller, req api.SendReq, w io.Writer) error {
	return api.Errorf(api.CodeInternal, "not implemented")
}

func (d *Daemon) Receive(ctx context.Context, c api.Caller, req api.ReceiveReq, r io.Reader) (api.ReceiveResp, error) {
	return api.ReceiveResp{}, api.Errorf(api.CodeInternal, "not implemented")
}

func (d *Daemon) ReceiveAbort(ctx context.Context, c api.Caller, req api.ReceiveAbortReq) error {
	return api.Errorf(api.CodeInternal, "not implemented")
}
