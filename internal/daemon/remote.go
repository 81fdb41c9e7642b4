package daemon

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"coffer/internal/api"
	"coffer/internal/crypto"
	"coffer/internal/dsl"
	"coffer/internal/props"
	"coffer/internal/remote"
)

// remoteSet is the daemon's state for the remote verbs.
type remoteSet struct {
	once sync.Once
	reg  *remote.Registry
	mu   sync.Mutex
	busy map[string]bool // remote + "\x00" + dataset: a send or receive runs
}

// remoteCheckTimeout bounds the bucket check of remote add.
const remoteCheckTimeout = 30 * time.Second

func (d *Daemon) registry() *remote.Registry {
	d.remotes.once.Do(func() {
		d.remotes.reg = remote.OpenRegistry(d.opts.StateDir, d.remoteSealingKey)
		d.remotes.busy = map[string]bool{}
	})
	return d.remotes.reg
}

// lockRemote marks remote/dataset busy until the returned func is called.
func (d *Daemon) lockRemote(name, dataset string) (func(), error) {
	d.registry()
	k := name + "\x00" + dataset
	d.remotes.mu.Lock()
	defer d.remotes.mu.Unlock()
	if d.remotes.busy[k] {
		return nil, api.Busy("remote '%s' is busy with '%s': another send or receive is running", name, dataset)
	}
	d.remotes.busy[k] = true
	return func() {
		d.remotes.mu.Lock()
		delete(d.remotes.busy, k)
		d.remotes.mu.Unlock()
	}, nil
}

// openRemote opens the bucket of a configured remote; what is the
// "cannot …" prefix of its errors.
func (d *Daemon) openRemote(name, what string) (*remote.Target, error) {
	rm, err := d.registry().Get(name)
	if errors.Is(err, remote.ErrNotFound) {
		return nil, api.NotFound("%s: no such remote '%s'", what, name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	secret, err := d.registry().Secret(rm)
	if err != nil {
		return nil, api.KeyError("%s: %v", what, err)
	}
	defer secret.Wipe()
	t, err := remote.Open(rm.Location, rm.AccessKey, secret)
	if err != nil {
		return nil, api.Invalid("%s: %v", what, err)
	}
	return t, nil
}

func (d *Daemon) RemoteAdd(ctx context.Context, c api.Caller, req api.RemoteAddReq) (api.RemoteAddResp, error) {
	secret := crypto.Secret(slices.Clone(req.SecretKey))
	defer secret.Wipe()
	what := fmt.Sprintf("cannot add remote '%s'", req.Name)
	if err := remote.ValidName(req.Name); err != nil {
		return api.RemoteAddResp{}, api.Invalid("%s: %v", what, err)
	}
	bucket, prefix, err := remote.ParseURL(req.URL)
	if err != nil {
		return api.RemoteAddResp{}, api.Invalid("%s: %v", what, err)
	}
	endpoint, err := remote.ParseEndpoint(req.Endpoint, req.Insecure)
	if err != nil {
		return api.RemoteAddResp{}, api.Invalid("%s: %v", what, err)
	}
	if req.AccessKey == "" || len(secret) == 0 {
		return api.RemoteAddResp{}, api.Invalid("%s: the access key and the secret key must not be empty", what)
	}
	if _, err := d.registry().Get(req.Name); err == nil {
		return api.RemoteAddResp{}, api.Exists("%s: remote already exists", what)
	}
	if d.keys.store == nil || d.keys.store.Status() != "unlocked" {
		return api.RemoteAddResp{}, api.KeyError("%s: %v", what, errKeystoreLocked)
	}
	loc := remote.Location{Endpoint: endpoint, Region: req.Region, Bucket: bucket, Prefix: prefix}
	t, err := remote.Open(loc, req.AccessKey, secret)
	if err != nil {
		return api.RemoteAddResp{}, api.Invalid("%s: %v", what, err)
	}
	cctx, cancel := context.WithTimeout(ctx, remoteCheckTimeout)
	defer cancel()
	created, err := t.EnsureBucket(cctx)
	if err != nil {
		return api.RemoteAddResp{}, api.Errorf(api.CodeIO, "%s: cannot reach bucket '%s' at %s: %v", what, bucket, endpoint, err)
	}
	err = d.registry().Add(remote.Remote{Name: req.Name, Location: loc, AccessKey: req.AccessKey}, secret)
	switch {
	case errors.Is(err, remote.ErrExists):
		return api.RemoteAddResp{}, api.Exists("%s: remote already exists", what)
	case errors.Is(err, errKeystoreLocked):
		return api.RemoteAddResp{}, api.KeyError("%s: %v", what, err)
	case err != nil:
		return api.RemoteAddResp{}, fmt.Errorf("%s: %v", what, err)
	}
	d.log.Info("remote add", "remote", req.Name, "url", loc.URL(), "endpoint", endpoint, "created_bucket", created, "uid", c.UID)
	return api.RemoteAddResp{CreatedBucket: created}, nil
}

func (d *Daemon) RemoteList(ctx context.Context, c api.Caller) (api.RemoteListResp, error) {
	rms, err := d.registry().List()
	if err != nil {
		return api.RemoteListResp{}, err
	}
	out := api.RemoteListResp{Remotes: []api.RemoteInfo{}}
	for _, rm := range rms {
		out.Remotes = append(out.Remotes, api.RemoteInfo{Name: rm.Name, URL: rm.URL(), Endpoint: rm.Endpoint, Region: rm.Region, Insecure: rm.Insecure()})
	}
	return out, nil
}

func (d *Daemon) RemoteRemove(ctx context.Context, c api.Caller, req api.RemoteNameReq) error {
	err := d.registry().Remove(req.Name)
	if errors.Is(err, remote.ErrNotFound) {
		return api.NotFound("cannot remove remote '%s': no such remote", req.Name)
	}
	if err != nil {
		return fmt.Errorf("cannot remove remote '%s': %v", req.Name, err)
	}
	d.log.Info("remote remove", "remote", req.Name, "uid", c.UID)
	return nil
}

// localSnap is a snapshot of a local dataset.
type localSnap struct {
	name string // full name, ds@snap
	guid uint64
}

// localSnaps lists the snapshots of dataset ds, oldest first.
func localSnaps(dp *dsl.Pool, ds string) ([]localSnap, error) {
	rows, err := dp.List(dsl.ListOpts{Names: []string{ds}, Recursive: true, Depth: 1, Types: props.TypeSnapshot, Props: []string{"guid"}})
	if err != nil {
		return nil, err
	}
	var out []localSnap
	for _, r := range rows {
		if !strings.HasPrefix(r.Name, ds+"@") {
			continue
		}
		g, err := strconv.ParseUint(r.Props["guid"].Stored, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: bad guid %q", r.Name, r.Props["guid"].Stored)
		}
		out = append(out, localSnap{name: r.Name, guid: g})
	}
	return out, nil
}

func indexOf(snaps []localSnap, f func(localSnap) bool) int {
	for i, s := range snaps {
		if f(s) {
			return i
		}
	}
	return -1
}

func backupInfo(m *remote.Manifest, e remote.Entry) api.RemoteBackup {
	b := api.RemoteBackup{Name: e.Name, GUID: e.GUID, FromGUID: e.FromGUID, Object: e.Object, Bytes: e.Bytes, SHA256: e.SHA256, Created: e.Created}
	if base, ok := m.ByGUID(e.FromGUID); ok && e.FromGUID != 0 {
		b.From = base.Name
	}
	return b
}

func (d *Daemon) RemoteSend(ctx context.Context, c api.Caller, req api.RemoteSendReq) (api.RemoteSendResp, error) {
	start := time.Now()
	what := fmt.Sprintf("cannot send '%s' to remote '%s'", req.Snapshot, req.Remote)
	ds, _, ok := strings.Cut(req.Snapshot, "@")
	if !ok {
		return api.RemoteSendResp{}, api.Invalid("cannot send '%s': not a snapshot", req.Snapshot)
	}
	dp, err := d.poolOf(req.Snapshot)
	if err != nil {
		return api.RemoteSendResp{}, err
	}
	snaps, err := localSnaps(dp, ds)
	if err != nil {
		return api.RemoteSendResp{}, apiErr(err)
	}
	at := indexOf(snaps, func(s localSnap) bool { return s.name == req.Snapshot })
	if at < 0 {
		return api.RemoteSendResp{}, api.NotFound("cannot open '%s': snapshot does not exist", req.Snapshot)
	}
	snap := snaps[at]
	unlock, err := d.lockRemote(req.Remote, ds)
	if err != nil {
		return api.RemoteSendResp{}, err
	}
	defer unlock()
	t, err := d.openRemote(req.Remote, what)
	if err != nil {
		return api.RemoteSendResp{}, err
	}
	m, err := t.ReadManifest(ctx, ds)
	if err != nil {
		return api.RemoteSendResp{}, api.Errorf(api.CodeIO, "%s: %v", what, err)
	}
	if e, ok := m.ByGUID(snap.guid); ok {
		return api.RemoteSendResp{}, api.Exists("%s: the remote already has it (as '%s')", what, e.Name)
	}
	if e, ok := m.BySnap(snap.name); ok {
		return api.RemoteSendResp{}, api.Exists("%s: the remote already has a snapshot of that name (guid %d)", what, e.GUID)
	}

	// The base: -i, else the newest backup when it is still here and older.
	var base *localSnap
	if req.From != "" {
		from := req.From
		if strings.HasPrefix(from, "@") {
			from = ds + from
		}
		i := indexOf(snaps, func(s localSnap) bool { return s.name == from })
		switch {
		case i < 0:
			return api.RemoteSendResp{}, api.NotFound("%s: incremental source '%s' does not exist", what, req.From)
		case i >= at:
			return api.RemoteSendResp{}, api.Invalid("%s: incremental source '%s' is not earlier than it", what, req.From)
		}
		if _, ok := m.ByGUID(snaps[i].guid); !ok {
			return api.RemoteSendResp{}, api.Invalid("%s: the remote has no backup of '%s' to base an incremental on", what, from)
		}
		base = &snaps[i]
	} else if newest, ok := m.Newest(); ok {
		if i := indexOf(snaps, func(s localSnap) bool { return s.guid == newest.GUID }); i >= 0 && i < at {
			base = &snaps[i]
		}
	}
	opts := dsl.SendOpts{Raw: true}
	var fromGUID uint64
	if base != nil {
		opts.From = base.name
		fromGUID = base.guid
	}
	steps, _, err := dp.SendEstimate(snap.name, opts)
	if err != nil {
		return api.RemoteSendResp{}, apiErr(err)
	}
	var estimate uint64
	for _, s := range steps {
		estimate += s.Bytes
	}

	// The stream goes from the sender through a pipe to the upload.
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pr, pw := io.Pipe()
	sent := make(chan error, 1)
	go func() {
		err := dp.Send(sctx, snap.name, opts, pw)
		pw.CloseWithError(err)
		sent <- err
	}()
	key := t.StreamKey(ds, snap.guid)
	up, uerr := t.PutStream(sctx, key, pr, estimate)
	pr.CloseWithError(errors.New("upload ended")) // unblocks a sender the upload left
	cancel()
	serr := <-sent
	if serr != nil || uerr != nil {
		d.log.Info("remote send", "remote", req.Remote, "snapshot", snap.name, "from", opts.From, "ok", false, "uid", c.UID)
		// The sender's failure reaches the upload through the pipe as
		// the same error; an upload that failed by itself leaves the
		// sender with a write error that says nothing.
		if serr != nil && (uerr == nil || errors.Is(uerr, serr)) {
			return api.RemoteSendResp{}, apiErr(serr)
		}
		return api.RemoteSendResp{}, api.Errorf(api.CodeIO, "%s: upload failed: %v", what, uerr)
	}
	e := remote.Entry{Name: snap.name, GUID: snap.guid, FromGUID: fromGUID, Object: up.Object, Bytes: up.Bytes, SHA256: up.SHA256, Created: time.Now().Unix()}
	if err := m.Add(e); err != nil {
		return api.RemoteSendResp{}, api.Invalid("%s: %v", what, err)
	}
	if err := t.WriteManifest(ctx, m); err != nil {
		return api.RemoteSendResp{}, api.Errorf(api.CodeIO, "%s: the stream was uploaded but the manifest could not be written: %v", what, err)
	}
	d.log.Info("remote send", "remote", req.Remote, "snapshot", snap.name, "from", opts.From, "bytes", up.Bytes, "ok", true, "uid", c.UID, "took", time.Since(start))
	return api.RemoteSendResp{Backup: backupInfo(m, e), Seconds: time.Since(start).Seconds()}, nil
}

func (d *Daemon) RemoteBackups(ctx context.Context, c api.Caller, req api.RemoteBackupsReq) (api.RemoteBackupsResp, error) {
	what := fmt.Sprintf("cannot list backups of '%s' on remote '%s'", req.Dataset, req.Remote)
	if req.Dataset == "" || strings.Contains(req.Dataset, "@") {
		return api.RemoteBackupsResp{}, api.Invalid("%s: not a dataset", what)
	}
	t, err := d.openRemote(req.Remote, what)
	if err != nil {
		return api.RemoteBackupsResp{}, err
	}
	m, err := t.ReadManifest(ctx, req.Dataset)
	if err != nil {
		return api.RemoteBackupsResp{}, api.Errorf(api.CodeIO, "%s: %v", what, err)
	}
	out := api.RemoteBackupsResp{Dataset: req.Dataset, Backups: []api.RemoteBackup{}}
	for _, e := range m.Streams {
		out.Backups = append(out.Backups, backupInfo(m, e))
	}
	return out, nil
}

func (d *Daemon) RemoteReceive(ctx context.Context, c api.Caller, req api.RemoteReceiveReq) (api.RemoteReceiveResp, error) {
	start := time.Now()
	resp := api.RemoteReceiveResp{Received: []string{}}
	what := fmt.Sprintf("cannot receive '%s' from remote '%s'", req.Snapshot, req.Remote)
	ds, _, ok := strings.Cut(req.Snapshot, "@")
	if !ok || ds == "" {
		return resp, api.Invalid("%s: not a snapshot (want DATASET@SNAP)", what)
	}
	if strings.Contains(req.Target, "@") {
		return resp, api.Invalid("%s: target '%s' is a snapshot, not a dataset", what, req.Target)
	}
	dp, err := d.poolOf(req.Target)
	if err != nil {
		pn, _, _ := strings.Cut(req.Target, "/")
		return resp, api.NotFound("%s: no such pool '%s'", what, pn)
	}
	unlock, err := d.lockRemote(req.Remote, ds)
	if err != nil {
		return resp, err
	}
	defer unlock()
	t, err := d.openRemote(req.Remote, what)
	if err != nil {
		return resp, err
	}
	m, err := t.ReadManifest(ctx, ds)
	if err != nil {
		return resp, api.Errorf(api.CodeIO, "%s: %v", what, err)
	}
	chain, err := m.Chain(req.Snapshot)
	if errors.Is(err, remote.ErrNoBackup) {
		return resp, api.NotFound("%s: the remote has no backup of it", what)
	}
	if err != nil {
		return resp, api.Invalid("%s: %v", what, err)
	}
	// A target that already holds part of the chain gets the rest.
	if have, err := localSnaps(dp, req.Target); err == nil && len(have) > 0 {
		newest := have[len(have)-1]
		if rest, ok := remote.After(chain, newest.guid); ok {
			if len(rest) == 0 {
				return resp, api.Exists("%s: '%s' already has it (as '%s')", what, req.Target, newest.name)
			}
			chain = rest
		}
	}
	// Every object is checked against the manifest before anything is
	// received, so a damaged one leaves the target as it was; the receive
	// checks each again as it reads it.
	for _, e := range chain {
		if err := d.checkObject(ctx, t, e); err != nil {
			d.log.Info("remote receive", "remote", req.Remote, "snapshot", req.Snapshot, "target", req.Target, "ok", false, "err", err, "uid", c.UID)
			return resp, api.Errorf(api.CodeIO, "%s: %v; nothing was received", what, err)
		}
	}
	for i, e := range chain {
		obj, err := t.Get(ctx, e.Object)
		if err != nil {
			return resp, api.Errorf(api.CodeIO, "%s: %v", what, err)
		}
		v := remote.NewVerifier(obj, e)
		got, err := dp.Receive(ctx, req.Target, dsl.RecvOpts{Force: req.Force && i == 0}, v)
		obj.Close()
		resp.Received = append(resp.Received, got...)
		resp.Bytes += e.Bytes
		if err != nil {
			d.log.Info("remote receive", "remote", req.Remote, "snapshot", req.Snapshot, "target", req.Target, "received", resp.Received, "ok", false, "uid", c.UID)
			err = apiErr(err)
			if len(resp.Received) > 0 {
				err = fmt.Errorf("%w (received before it: %s)", err, strings.Join(resp.Received, ", "))
			}
			return resp, api.Errorf(api.ErrorCode(err), "%s: stream '%s': %v", what, e.Name, err)
		}
	}
	resp.Seconds = time.Since(start).Seconds()
	d.log.Info("remote receive", "remote", req.Remote, "snapshot", req.Snapshot, "target", req.Target, "received", resp.Received, "bytes", resp.Bytes, "ok", true, "uid", c.UID)
	return resp, nil
}

// checkObject reads one stream object and checks it against its entry.
func (d *Daemon) checkObject(ctx context.Context, t *remote.Target, e remote.Entry) error {
	obj, err := t.Get(ctx, e.Object)
	if err != nil {
		return err
	}
	defer obj.Close()
	return remote.Check(obj, e)
}
