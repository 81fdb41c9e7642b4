package daemon

import (
	"context"
	"io"
	"strings"

	"coffer/internal/api"
	"coffer/internal/dsl"
)

func sendOpts(req api.SendReq) dsl.SendOpts {
	return dsl.SendOpts{Raw: req.Raw, Replicate: req.Replicate, From: req.From, Intermediates: req.Intermediates, Token: req.Token}
}

func (d *Daemon) sendCheck(req api.SendReq) (*dsl.Pool, error) {
	if req.Token != "" {
		name, err := dsl.TokenSnapshot(req.Token)
		if err != nil {
			return nil, apiErr(err)
		}
		return d.poolOf(name)
	}
	if !strings.Contains(req.Snapshot, "@") {
		return nil, api.Invalid("cannot send '%s': not a snapshot", req.Snapshot)
	}
	return d.poolOf(req.Snapshot)
}

func (d *Daemon) SendEstimate(ctx context.Context, c api.Caller, req api.SendReq) (api.SendEstimate, error) {
	dp, err := d.sendCheck(req)
	if err != nil {
		return api.SendEstimate{}, err
	}
	steps, warning, err := dp.SendEstimate(req.Snapshot, sendOpts(req))
	if err != nil {
		return api.SendEstimate{}, apiErr(err)
	}
	est := api.SendEstimate{Warning: warning, Streams: []api.StreamInfo{}}
	for _, s := range steps {
		est.Streams = append(est.Streams, api.StreamInfo{From: s.From, To: s.To, Bytes: s.Bytes})
		est.Bytes += s.Bytes
	}
	return est, nil
}

func (d *Daemon) Send(ctx context.Context, c api.Caller, req api.SendReq, w io.Writer) error {
	dp, err := d.sendCheck(req)
	if err != nil {
		return err
	}
	err = dp.Send(ctx, req.Snapshot, sendOpts(req), w)
	d.log.Info("send", "snapshot", req.Snapshot, "from", req.From, "raw", req.Raw, "uid", c.UID, "ok", err == nil)
	return apiErr(err)
}

func (d *Daemon) Receive(ctx context.Context, c api.Caller, req api.ReceiveReq, r io.Reader) (api.ReceiveResp, error) {
	dp, err := d.poolOf(req.Target)
	if err != nil {
		pn, _, _ := strings.Cut(req.Target, "/")
		return api.ReceiveResp{}, api.NotFound("cannot receive '%s': no such pool '%s'", req.Target, pn)
	}
	got, err := dp.Receive(ctx, req.Target, dsl.RecvOpts{Force: req.Force, NoMount: req.NoMount, Resumable: req.Resumable, Props: req.Props, Exclude: req.Exclude}, r)
	d.log.Info("receive", "target", req.Target, "uid", c.UID, "received", got, "ok", err == nil)
	if got == nil {
		got = []string{}
	}
	if err != nil {
		return api.ReceiveResp{Received: got}, apiErr(err)
	}
	// As zfs receive: the received file systems mount unless -u (those
	// whose key is not loaded, e.g. after a raw receive, stay unmounted).
	if !req.NoMount {
		if err := d.mountAll(req.Target); err != nil {
			return api.ReceiveResp{Received: got}, api.Errorf(api.CodeIO, "cannot receive '%s': received, but mounting failed: %v", req.Target, firstLine(err))
		}
	}
	return api.ReceiveResp{Received: got}, nil
}

func (d *Daemon) ReceiveAbort(ctx context.Context, c api.Caller, req api.ReceiveAbortReq) error {
	dp, err := d.poolOf(req.Target)
	if err != nil {
		return err
	}
	return apiErr(dp.AbortReceive(req.Target))
}
