package daemon

import (
	"context"

	"coffer/internal/api"
)

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
