package api

import "context"

// Lock and unlock (TrueNAS's dataset lock and unlock): unmount then unload
// a key; load keys then mount. Registered with Server.RegisterLock.

const (
	MLock   = "lock"
	MUnlock = "unlock"
)

// LockReq locks an encryption root: its file systems are unmounted (Force:
// even when files are open) and its key is unloaded.
type LockReq struct {
	Name  string `json:"name"`
	Force bool   `json:"force,omitempty"`
}

// UnlockReq loads the key of encryption root Name (Key: material read by
// the CLI when its keylocation is prompt) and mounts its file systems.
// Recursive also unlocks the encryption roots below it that take the same
// key. Force moves a non-empty mount directory aside instead of failing.
type UnlockReq struct {
	Name      string `json:"name"`
	Recursive bool   `json:"recursive,omitempty"`
	Force     bool   `json:"force,omitempty"`
	Key       []byte `json:"key,omitempty"`
	// Manifest is a key export (dataset -> hex key): the roots it names
	// are unlocked with their keys (TrueNAS unlock with a key file).
	Manifest map[string]string `json:"manifest,omitempty"`
}

// UnlockResp says which roots were unlocked and which were skipped (their
// key differs); Moved lists mount directories moved aside by Force.
type UnlockResp struct {
	Unlocked []string `json:"unlocked"`
	Skipped  []string `json:"skipped,omitempty"`
	Moved    []string `json:"moved,omitempty"`
}

// LockBackend serves lock and unlock.
type LockBackend interface {
	Lock(ctx context.Context, caller Caller, req LockReq) error
	Unlock(ctx context.Context, caller Caller, req UnlockReq) (UnlockResp, error)
}

// RegisterLock adds the lock verbs served by b.
func (s *Server) RegisterLock(b LockBackend) {
	s.methods[MLock] = noResp(b.Lock)
	s.methods[MUnlock] = with(b.Unlock) // wipeKeys clears UnlockReq.Key
}
