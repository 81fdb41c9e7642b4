package daemon

import (
	"context"
	"sync"
	"time"

	"coffer/internal/api"
	"coffer/internal/dsl"
)

var _ api.RekeyBackend = (*Daemon)(nil)

// rekeyRuns remembers how the last deep rekey of each dataset ended.
type rekeyRuns struct {
	sync.Mutex
	last map[string]rekeyEnd // by dataset name
}

type rekeyEnd struct {
	err      string
	finished int64
}

func (d *Daemon) noteRekey(name string, err error) {
	d.rekeyRuns.Lock()
	defer d.rekeyRuns.Unlock()
	if d.rekeyRuns.last == nil {
		d.rekeyRuns.last = map[string]rekeyEnd{}
	}
	e := rekeyEnd{finished: time.Now().Unix()}
	if err != nil {
		e = rekeyEnd{err: firstLine(err)}
	}
	d.rekeyRuns.last[name] = e
}

// runRekeys rekeys datasets one after another in the background; op names
// the operation in the audit log.
func (d *Daemon) runRekeys(dp *dsl.Pool, c api.Caller, op string, names []string) {
	d.rekeyRuns.Lock()
	for _, n := range names {
		delete(d.rekeyRuns.last, n)
	}
	d.rekeyRuns.Unlock()
	go func() {
		for _, n := range names {
			start := time.Now()
			res, err := dp.Rekey(n, dsl.RekeyOpts{})
			d.noteRekey(n, err)
			d.auditLog(c, op+"-done", n, err)
			if err != nil {
				d.log.Error("deep rekey stopped", "dataset", n, "err", err)
				continue
			}
			for _, r := range res {
				d.log.Info("deep rekey done", "dataset", r.Dataset, "objsets", r.Objsets, "bytes", r.Bytes, "resumed", r.Resumed, "took", time.Since(start))
			}
		}
	}()
}

// Rekey starts (or continues) the deep rekey of a dataset; it runs on in
// the daemon after the call returns.
func (d *Daemon) Rekey(ctx context.Context, c api.Caller, req api.RekeyReq) (api.RekeyResp, error) {
	dp, err := d.poolOf(req.Name)
	if err != nil {
		return api.RekeyResp{}, err
	}
	names, err := dp.RekeyTargets(req.Name, req.Recursive)
	for try := 0; err != nil && !req.Recursive && try < 3; try++ {
		if dp.RekeyRunning(req.Name) {
			// Already running (resumed when the key was loaded): follow it.
			return api.RekeyResp{Datasets: []string{req.Name}}, nil
		}
		// The rekey that made RekeyTargets refuse may have ended since it
		// looked: look again, and start a new one if nothing is in the way.
		names, err = dp.RekeyTargets(req.Name, req.Recursive)
	}
	d.auditLog(c, "rekey", req.Name, err)
	if err != nil {
		return api.RekeyResp{}, apiErr(err)
	}
	d.log.Info("deep rekey", "dataset", req.Name, "uid", c.UID, "recursive", req.Recursive, "datasets", names)
	d.runRekeys(dp, c, "rekey", names)
	return api.RekeyResp{Datasets: names}, nil
}

// RekeyStatus reports the deep rekey state of datasets.
func (d *Daemon) RekeyStatus(ctx context.Context, c api.Caller, req api.RekeyReq) (api.RekeyStatusResp, error) {
	dp, err := d.poolOf(req.Name)
	if err != nil {
		return api.RekeyStatusResp{}, err
	}
	sts, err := dp.RekeyStatus(req.Name, req.Recursive)
	if err != nil {
		return api.RekeyStatusResp{}, apiErr(err)
	}
	resp := api.RekeyStatusResp{Datasets: []api.RekeyStatus{}}
	d.rekeyRuns.Lock()
	defer d.rekeyRuns.Unlock()
	for _, s := range sts {
		e := d.rekeyRuns.last[s.Dataset]
		resp.Datasets = append(resp.Datasets, api.RekeyStatus{Dataset: s.Dataset, State: s.State, SnapsDone: s.SnapsDone,
			Snaps: s.Snaps, Started: s.Started, Bytes: s.Bytes, TotalSize: s.TotalSize, LastError: e.err, Finished: e.finished})
	}
	return resp, nil
}

// resumeRekeys continues, in the background, every interrupted deep rekey
// of dp whose keys are loaded.
func (d *Daemon) resumeRekeys(dp *dsl.Pool) {
	if names := dp.PendingRekeys(); len(names) > 0 {
		d.log.Info("resuming deep rekey", "datasets", names)
		d.runRekeys(dp, api.Caller{}, "rekey-resume", names)
	}
}
