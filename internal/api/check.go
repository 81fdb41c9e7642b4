package api

import "context"

// MPoolCheck is `pool check`: a full consistency check of a pool.
const MPoolCheck = "pool.check"

// PoolCheckResp is the result of a pool check.
type PoolCheckResp struct {
	Pool     string   `json:"pool"`
	Blocks   uint64   `json:"blocks"`
	Bytes    uint64   `json:"bytes"`
	Problems []string `json:"problems"`
}

// CheckBackend serves pool check.
type CheckBackend interface {
	PoolCheck(ctx context.Context, caller Caller, req PoolNameReq) (PoolCheckResp, error)
}

// RegisterCheck adds pool check served by b.
func (s *Server) RegisterCheck(b CheckBackend) { s.methods[MPoolCheck] = with(b.PoolCheck) }
