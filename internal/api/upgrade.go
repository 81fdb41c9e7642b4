package api

import "context"

// MPoolUpgrade is `pool upgrade`: raise a pool's format version.
const MPoolUpgrade = "pool.upgrade"

// PoolUpgradeResp says what pool upgrade did: From == To when the pool was
// already at the latest version.
type PoolUpgradeResp struct {
	Pool string `json:"pool"`
	From int    `json:"from"`
	To   int    `json:"to"`
}

// UpgradeBackend serves pool upgrade.
type UpgradeBackend interface {
	PoolUpgrade(ctx context.Context, caller Caller, req PoolNameReq) (PoolUpgradeResp, error)
}

// RegisterUpgrade adds pool upgrade served by b.
func (s *Server) RegisterUpgrade(b UpgradeBackend) { s.methods[MPoolUpgrade] = with(b.PoolUpgrade) }
