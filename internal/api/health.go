package api

import "context"

// MHealth is `coffer health`: everything that keeps the daemon from
// serving all of its pools and datasets, and why.
const MHealth = "health"

// HealthProblem is one thing that is not as it should be.
type HealthProblem struct {
	// Subject is what the problem is about: "keystore", "pool tank",
	// "tank/vault" (a dataset), "rekey tank/db".
	Subject string `json:"subject"`
	// Reason says exactly why, in one line ("KMIP server unreachable, no
	// cached key", "DEGRADED: 1 of 2 children of mirror-0 unavailable").
	Reason string `json:"reason"`
	// Warning marks a state that works but should not stay (a keystore
	// secret kept in a plain file); it does not make the daemon unhealthy.
	Warning bool `json:"warning,omitempty"`
}

// HealthResp is the daemon's health.
type HealthResp struct {
	Healthy  bool            `json:"healthy"`
	Pools    int             `json:"pools"`    // pools imported
	Keystore string          `json:"keystore"` // protection and state: "tpm2, unlocked"
	Problems []HealthProblem `json:"problems"`
}

// HealthBackend serves health.
type HealthBackend interface {
	Health(ctx context.Context, caller Caller) (HealthResp, error)
}

// RegisterHealth adds health served by b.
func (s *Server) RegisterHealth(b HealthBackend) {
	s.methods[MHealth] = noReq(func(ctx context.Context, c Caller) (any, error) { return b.Health(ctx, c) })
}
