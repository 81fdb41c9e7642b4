package daemon

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"coffer/internal/api"
	"coffer/internal/dsl"
	"coffer/internal/pool"
	"coffer/internal/props"
	"coffer/internal/vdev"
)

var _ api.Backend = (*Daemon)(nil)

// apiErr converts dataset-layer errors to API errors.
func apiErr(err error) error {
	if err == nil {
		return nil
	}
	var e *dsl.Error
	if errors.As(err, &e) {
		return &api.Error{Code: e.Code, Message: e.Msg}
	}
	return err
}

// poolOf returns the open pool a dataset name belongs to.
func (d *Daemon) poolOf(name string) (*dsl.Pool, error) {
	pn, _, _ := strings.Cut(name, "/")
	pn, _, _ = strings.Cut(pn, "@")
	d.mu.Lock()
	defer d.mu.Unlock()
	dp := d.pools[pn]
	if dp == nil {
		kind := "dataset"
		if strings.Contains(name, "@") {
			kind = "snapshot"
		}
		return nil, api.NotFound("cannot open '%s': %s does not exist", name, kind)
	}
	return dp, nil
}

func (d *Daemon) sortedPools() []*dsl.Pool {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make([]*dsl.Pool, 0, len(d.pools))
	for _, p := range d.pools {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name() < out[j].Name() })
	return out
}

func (d *Daemon) Ping(ctx context.Context, c api.Caller) error { return nil }

func (d *Daemon) PoolCreate(ctx context.Context, c api.Caller, req api.PoolCreateReq) error {
	if err := props.ValidPoolName(req.Name); err != nil {
		return api.Invalid("cannot create '%s': %v", req.Name, err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.pools[req.Name] != nil {
		return api.Exists("cannot create '%s': pool already exists", req.Name)
	}
	if len(req.Vdevs) == 0 {
		return api.Errorf(api.CodeUsage, "cannot create '%s': no vdevs given", req.Name)
	}
	var specs []pool.VdevSpec
	for _, v := range req.Vdevs {
		specs = append(specs, pool.VdevSpec{Mirror: v.Mirror, Paths: v.Paths})
	}
	dp, err := dsl.CreatePool(req.Name, specs, req.Force, req.Props, req.Key, d.opts.PoolOptions)
	if err != nil {
		return apiErr(err)
	}
	d.pools[req.Name] = dp
	return d.writeCache()
}

func (d *Daemon) PoolList(ctx context.Context, c api.Caller) ([]api.PoolInfo, error) {
	var out []api.PoolInfo
	for _, dp := range d.sortedPools() {
		p := dp.Raw()
		s := p.Space()
		out = append(out, api.PoolInfo{Name: dp.Name(), GUID: p.GUID(), Size: s.Size, Allocated: s.Allocated, Free: s.Free, Health: p.Health(), Txg: p.Txg()})
	}
	return out, nil
}

func vdevStatus(s vdev.Status) api.VdevStatus {
	v := api.VdevStatus{Name: s.Name, State: s.State, Read: s.ReadErrors, Write: s.WriteErrors, Cksum: s.CksumErrors, Repaired: s.Repaired}
	for _, c := range s.Children {
		v.Children = append(v.Children, vdevStatus(c))
	}
	return v
}

func (d *Daemon) PoolStatus(ctx context.Context, c api.Caller, req api.PoolNameReq) ([]api.PoolStatus, error) {
	pools := d.sortedPools()
	if req.Name != "" {
		d.mu.Lock()
		dp := d.pools[req.Name]
		d.mu.Unlock()
		if dp == nil {
			return nil, api.NotFound("cannot open '%s': no such pool", req.Name)
		}
		pools = []*dsl.Pool{dp}
	}
	var out []api.PoolStatus
	for _, dp := range pools {
		p := dp.Raw()
		st := api.PoolStatus{Name: dp.Name(), State: p.Health(), Errors: "No known data errors", KeysWaiting: d.keysWaiting(dp.Name()),
			Version: dp.FormatVersion(), Latest: dsl.LatestVersion}
		for _, t := range p.Status() {
			st.Vdevs = append(st.Vdevs, vdevStatus(t))
		}
		si := p.ScrubInfo()
		st.Scrub = api.ScrubStatus{State: si.State, Examined: si.Examined, Total: si.Total, Errors: si.Errors, Repaired: si.Repaired, Unrecover: si.Unrecover}
		if !si.Start.IsZero() {
			st.Scrub.Start = si.Start.Unix()
		}
		if !si.End.IsZero() {
			st.Scrub.End = si.End.Unix()
		}
		if n := p.DamagedBlocks(); n > 0 {
			st.Errors = fmt.Sprintf("%d data errors (blocks that failed verification on every copy)", n)
		}
		out = append(out, st)
	}
	return out, nil
}

func (d *Daemon) importDirs(given []string) []string {
	if len(given) > 0 {
		return given
	}
	c, _ := d.readCache()
	seen := map[string]bool{}
	var out []string
	for _, cp := range c.Pools {
		for _, dir := range cp.Dirs {
			for _, x := range []string{dir, filepath.Dir(dir)} {
				if !seen[x] {
					seen[x] = true
					out = append(out, x)
				}
			}
		}
	}
	return append(out, d.opts.StateDir)
}

func (d *Daemon) PoolImport(ctx context.Context, c api.Caller, req api.PoolImportReq) (api.PoolImportResp, error) {
	found, err := pool.Scan(d.importDirs(req.Dirs))
	if err != nil {
		return api.PoolImportResp{}, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	imported := map[uint64]bool{}
	for _, dp := range d.pools {
		imported[dp.Raw().GUID()] = true
	}
	var cands []pool.Found
	for _, f := range found {
		if !imported[f.GUID] {
			cands = append(cands, f)
		}
	}
	if req.Name == "" {
		var resp api.PoolImportResp
		for _, f := range cands {
			resp.Importable = append(resp.Importable, api.PoolInfo{Name: f.Name, GUID: f.GUID, Health: "ONLINE", Txg: f.Txg})
		}
		return resp, nil
	}
	var match []pool.Found
	for _, f := range cands {
		if f.Name == req.Name || fmt.Sprint(f.GUID) == req.Name {
			match = append(match, f)
		}
	}
	switch {
	case len(match) == 0:
		if d.pools[req.Name] != nil {
			return api.PoolImportResp{}, api.Exists("cannot import '%s': a pool with that name is already imported", req.Name)
		}
		return api.PoolImportResp{}, api.NotFound("cannot import '%s': no such pool available", req.Name)
	case len(match) > 1:
		return api.PoolImportResp{}, api.Invalid("cannot import '%s': more than one matching pool; import by numeric ID instead", req.Name)
	}
	if d.pools[match[0].Name] != nil {
		return api.PoolImportResp{}, api.Exists("cannot import '%s': a pool with that name is already imported", match[0].Name)
	}
	dp, err := dsl.Import(match[0], d.opts.PoolOptions)
	if err != nil {
		return api.PoolImportResp{}, apiErr(err)
	}
	d.pools[dp.Name()] = dp
	return api.PoolImportResp{Imported: dp.Name()}, d.writeCache()
}

func (d *Daemon) takePool(name string) (*dsl.Pool, error) {
	dp := d.pools[name]
	if dp == nil {
		return nil, api.NotFound("cannot open '%s': no such pool", name)
	}
	return dp, nil
}

func (d *Daemon) PoolExport(ctx context.Context, c api.Caller, req api.PoolNameReq) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	dp, err := d.takePool(req.Name)
	if err != nil {
		return err
	}
	if err := d.unmountUnder(req.Name, false); err != nil { // mount.go
		return err
	}
	if err := dp.Export(); err != nil {
		return apiErr(err)
	}
	delete(d.pools, req.Name)
	return d.writeCache()
}

func (d *Daemon) PoolDestroy(ctx context.Context, c api.Caller, req api.PoolNameReq) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	dp, err := d.takePool(req.Name)
	if err != nil {
		return err
	}
	if err := d.unmountUnder(req.Name, true); err != nil { // mount.go: zpool destroy forces
		return err
	}
	if err := dp.DestroyPool(); err != nil {
		return apiErr(err)
	}
	delete(d.pools, req.Name)
	return d.writeCache()
}

func (d *Daemon) PoolScrub(ctx context.Context, c api.Caller, req api.PoolNameReq) error {
	d.mu.Lock()
	dp, err := d.takePool(req.Name)
	d.mu.Unlock()
	if err != nil {
		return err
	}
	if dp.Raw().ScrubInfo().State == "scanning" {
		return api.Busy("cannot scrub %s: currently scrubbing; use 'coffer pool status' to see progress", req.Name)
	}
	dp.Raw().ScrubBegin()
	go func() {
		if err := dp.Scrub(); err != nil {
			d.log.Error("scrub failed", "pool", req.Name, "err", err)
		}
		dp.Raw().ScrubEnd()
	}()
	return nil
}

func (d *Daemon) Create(ctx context.Context, c api.Caller, req api.CreateReq) error {
	dp, err := d.poolOf(req.Name)
	if err != nil {
		pn, _, _ := strings.Cut(req.Name, "/")
		return api.NotFound("cannot create '%s': no such pool '%s'", req.Name, pn)
	}
	err = dp.Create(ctx, req.Name, dsl.CreateOpts{
		Parents: req.Parents, Volume: req.Volume, Volsize: req.Volsize, Sparse: req.Sparse,
		Props: req.Props, Key: req.Key,
	})
	if _, ok := req.Props["keyformat"]; ok {
		d.auditLog(c, "create-key", req.Name, err)
	}
	if err == nil {
		d.rememberKeys(dp, req.Name)
	}
	return apiErr(err)
}

func (d *Daemon) Destroy(ctx context.Context, c api.Caller, req api.DestroyReq) error {
	dp, err := d.poolOf(req.Name)
	if err != nil {
		return err
	}
	if !req.DryRun && !strings.Contains(req.Name, "@") { // mount.go: zfs destroy unmounts first
		if err := d.unmountUnder(req.Name, req.Force); err != nil {
			return err
		}
	}
	_, err = dp.Destroy(req.Name, dsl.DestroyOpts{Recursive: req.Recursive, Force: req.Force, DryRun: req.DryRun})
	return apiErr(err)
}

func (d *Daemon) Snapshot(ctx context.Context, c api.Caller, req api.SnapshotReq) error {
	if len(req.Names) == 0 {
		return api.Errorf(api.CodeUsage, "missing snapshot argument")
	}
	var dp *dsl.Pool
	for _, n := range req.Names {
		p, err := d.poolOf(n)
		if err != nil {
			ds, _, _ := strings.Cut(n, "@")
			return api.NotFound("cannot open '%s': dataset does not exist", ds)
		}
		if dp != nil && p != dp {
			return api.Invalid("cannot create snapshots: all snapshots must be in the same pool")
		}
		dp = p
	}
	return apiErr(dp.Snapshot(req.Names, req.Recursive, req.Props))
}

func (d *Daemon) Rollback(ctx context.Context, c api.Caller, req api.RollbackReq) error {
	dp, err := d.poolOf(req.Snapshot)
	if err != nil {
		return api.NotFound("cannot open '%s': snapshot does not exist", req.Snapshot)
	}
	ds, _, _ := strings.Cut(req.Snapshot, "@")
	return d.aroundRemount(dp, ds, func() error { // mount.go: remount on the rolled-back state
		return apiErr(dp.Rollback(req.Snapshot, req.DestroyLater))
	})
}

func parseTypes(ts []string) (props.Type, error) {
	var t props.Type
	for _, s := range ts {
		for _, x := range strings.Split(s, ",") {
			switch x {
			case "filesystem", "fs":
				t |= props.TypeFilesystem
			case "volume", "vol":
				t |= props.TypeVolume
			case "snapshot", "snap":
				t |= props.TypeSnapshot
			case "all":
				t |= props.TypeAll
			case "":
			default:
				return 0, api.Errorf(api.CodeUsage, "invalid type '%s'", x)
			}
		}
	}
	return t, nil
}

func (d *Daemon) rows(names []string, recursive bool, depth int, types []string, want []string) (api.ListResp, error) {
	t, err := parseTypes(types)
	if err != nil {
		return api.ListResp{}, err
	}
	for _, p := range want {
		if _, ok := props.Lookup(p); !ok && p != "all" {
			return api.ListResp{}, api.Errorf(api.CodeUsage, "bad property list: invalid property '%s'", p)
		}
	}
	if depth > 0 {
		recursive = true
	}
	type job struct {
		dp    *dsl.Pool
		names []string
	}
	var jobs []job
	if len(names) == 0 {
		for _, dp := range d.sortedPools() {
			jobs = append(jobs, job{dp, nil})
		}
	} else {
		for _, n := range names {
			dp, err := d.poolOf(n)
			if err != nil {
				return api.ListResp{}, err
			}
			jobs = append(jobs, job{dp, []string{n}})
		}
	}
	if len(names) > 0 && t == 0 {
		t = props.TypeAll // named snapshots are shown without -t
		if !recursive {
			t = props.TypeAll
		} else {
			t = props.TypeDataset
		}
	}
	var resp api.ListResp
	for _, j := range jobs {
		rows, err := j.dp.List(dsl.ListOpts{Names: j.names, Recursive: recursive || len(j.names) == 0, Depth: depth, Types: t, Props: want})
		if err != nil {
			return api.ListResp{}, apiErr(err)
		}
		for _, r := range rows {
			row := api.DatasetRow{Name: r.Name, Type: r.Type, Props: map[string]api.PropValue{}}
			if v, ok := r.Props["mounted"]; ok { // mount.go: the daemon knows what is mounted
				if m, ok := d.mountedValue(r.Name); ok {
					v.Stored = m
					r.Props["mounted"] = v
				}
			}
			for name, v := range r.Props {
				def, _ := props.Lookup(name)
				row.Props[name] = api.PropValue{Value: def.Display(v.Stored, false), Exact: def.Display(v.Stored, true), Source: v.Source}
			}
			resp.Rows = append(resp.Rows, row)
		}
	}
	if resp.Rows == nil {
		resp.Rows = []api.DatasetRow{}
	}
	return resp, nil
}

func (d *Daemon) List(ctx context.Context, c api.Caller, req api.ListReq) (api.ListResp, error) {
	want := req.Props
	if len(want) == 0 {
		want = []string{"name", "used", "available", "referenced", "mountpoint"}
	}
	return d.rows(req.Names, req.Recursive, req.Depth, req.Types, want)
}

func (d *Daemon) Get(ctx context.Context, c api.Caller, req api.GetReq) (api.ListResp, error) {
	types := req.Types
	if len(types) == 0 && req.Recursive {
		types = []string{"all"}
	}
	resp, err := d.rows(req.Names, req.Recursive, req.Depth, types, req.Props)
	if err != nil || len(req.Sources) == 0 {
		return resp, err
	}
	for i := range resp.Rows {
		for name, v := range resp.Rows[i].Props {
			if !sourceWanted(v.Source, req.Sources) {
				delete(resp.Rows[i].Props, name)
			}
		}
	}
	return resp, nil
}

func sourceWanted(src string, want []string) bool {
	for _, w := range want {
		switch {
		case w == "local" && src == dsl.SrcLocal, w == "default" && src == dsl.SrcDefault,
			w == "received" && src == dsl.SrcReceived, w == "none" && src == dsl.SrcNone,
			w == "inherited" && strings.HasPrefix(src, "inherited"), w == "temporary" && src == "temporary":
			return true
		}
	}
	return false
}

func (d *Daemon) Set(ctx context.Context, c api.Caller, req api.SetReq) error {
	dp, err := d.poolOf(req.Name)
	if err != nil {
		return err
	}
	return apiErr(dp.Set(req.Name, req.Props))
}

func (d *Daemon) Inherit(ctx context.Context, c api.Caller, req api.InheritReq) error {
	dp, err := d.poolOf(req.Name)
	if err != nil {
		return err
	}
	return apiErr(dp.Inherit(req.Name, req.Prop, req.Recursive))
}

func (d *Daemon) KeyNeed(ctx context.Context, c api.Caller, req api.KeyNeedReq) (api.KeyNeedResp, error) {
	var pools []*dsl.Pool
	if req.All {
		pools = d.sortedPools()
	} else {
		dp, err := d.poolOf(req.Name)
		if err != nil {
			return api.KeyNeedResp{}, err
		}
		pools = []*dsl.Pool{dp}
	}
	resp := api.KeyNeedResp{Roots: []api.KeyNeed{}}
	for _, dp := range pools {
		roots, err := dp.KeyRoots(req.Name, req.Recursive, req.All, req.Location)
		if err != nil {
			return api.KeyNeedResp{}, apiErr(err)
		}
		for _, r := range roots {
			resp.Roots = append(resp.Roots, api.KeyNeed{Dataset: r.Dataset, KeyFormat: r.KeyFormat, KeyLocation: r.KeyLocation, KeyStatus: r.KeyStatus})
		}
	}
	return resp, nil
}

func (d *Daemon) LoadKey(ctx context.Context, c api.Caller, req api.LoadKeyReq) error {
	dp, err := d.poolOf(req.Name)
	if err != nil {
		return err
	}
	start := time.Now()
	err = dp.LoadKey(req.Name, req.NoOp, req.Location, req.Key)
	d.log.Info("load-key", "dataset", req.Name, "uid", c.UID, "noop", req.NoOp, "ok", err == nil, "took", time.Since(start))
	d.auditLog(c, "load-key", req.Name, err)
	if err == nil && !req.NoOp {
		d.rememberKeys(dp, req.Name)
		d.resumeRekeys(dp)
	}
	return apiErr(err)
}

func (d *Daemon) UnloadKey(ctx context.Context, c api.Caller, req api.UnloadKeyReq) (api.UnloadKeyResp, error) {
	var pools []*dsl.Pool
	if req.All {
		pools = d.sortedPools()
	} else {
		dp, err := d.poolOf(req.Name)
		if err != nil {
			return api.UnloadKeyResp{}, err
		}
		pools = []*dsl.Pool{dp}
	}
	resp := api.UnloadKeyResp{Unloaded: []string{}}
	for _, dp := range pools {
		out, err := dp.UnloadKey(req.Name, req.Recursive, req.All)
		resp.Unloaded = append(resp.Unloaded, out...)
		if err != nil {
			return resp, apiErr(err)
		}
	}
	d.log.Info("unload-key", "dataset", req.Name, "uid", c.UID, "unloaded", resp.Unloaded)
	var recs []auditRecord
	for _, n := range resp.Unloaded {
		recs = append(recs, newAuditRecord(c, "unload-key", n, nil))
	}
	d.auditWrite(recs...)
	return resp, nil
}

func (d *Daemon) ChangeKey(ctx context.Context, c api.Caller, req api.ChangeKeyReq) error {
	dp, err := d.poolOf(req.Name)
	if err != nil {
		return err
	}
	err = dp.ChangeKey(req.Name, dsl.ChangeKeyOpts{Load: req.Load, Inherit: req.Inherit, Props: req.Props, Key: req.Key, OldKey: req.OldKey})
	d.log.Info("change-key", "dataset", req.Name, "uid", c.UID, "inherit", req.Inherit, "ok", err == nil)
	d.auditLog(c, "change-key", req.Name, err)
	if err == nil {
		d.rememberKeys(dp, req.Name)
	}
	return apiErr(err)
}
