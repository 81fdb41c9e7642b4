package daemon

import (
	"context"

	"coffer/internal/api"
	"coffer/internal/dsl"
)

// PoolUpgrade raises a pool's format version to the latest (zpool upgrade).
func (d *Daemon) PoolUpgrade(ctx context.Context, c api.Caller, req api.PoolNameReq) (api.PoolUpgradeResp, error) {
	d.mu.Lock()
	dp, err := d.takePool(req.Name)
	d.mu.Unlock()
	if err != nil {
		return api.PoolUpgradeResp{}, err
	}
	from, err := dp.Upgrade()
	if err != nil {
		return api.PoolUpgradeResp{}, apiErr(err)
	}
	return api.PoolUpgradeResp{Pool: req.Name, From: from, To: dsl.LatestVersion}, nil
}

// PoolCheck verifies every block reference, checksum, the allocator and the
// space accounting of a pool, without keys.
func (d *Daemon) PoolCheck(ctx context.Context, c api.Caller, req api.PoolNameReq) (api.PoolCheckResp, error) {
	d.mu.Lock()
	dp, err := d.takePool(req.Name)
	d.mu.Unlock()
	if err != nil {
		return api.PoolCheckResp{}, err
	}
	rep, err := dp.Check()
	if err != nil {
		return api.PoolCheckResp{}, apiErr(err)
	}
	resp := api.PoolCheckResp{Pool: req.Name, Blocks: rep.Blocks, Bytes: rep.Bytes, Problems: rep.Problems}
	if resp.Problems == nil {
		resp.Problems = []string{}
	}
	return resp, nil
}
