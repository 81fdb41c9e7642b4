package api

import "context"

// Mount verbs (zfs mount / zfs unmount). They live beside Backend rather
// than in it so that backends without file systems (the CLI's fake) need
// not change; the daemon registers them with Server.RegisterMount.

// Method names of the mount verbs.
const (
	MMount   = "mount"
	MUnmount = "unmount"
	MMounts  = "mount.list"
)

// MountReq mounts Name, or with All every file system that can be mounted
// (canmount=on, key loaded, a mountpoint).
type MountReq struct {
	Name string `json:"name,omitempty"`
	All  bool   `json:"all,omitempty"`
}

// UnmountReq unmounts Name (a dataset, or a mountpoint path). Force
// detaches it even when files are open.
type UnmountReq struct {
	Name  string `json:"name"`
	Force bool   `json:"force,omitempty"`
}

// MountInfo is one mounted file system.
type MountInfo struct {
	Name       string `json:"name"`
	Mountpoint string `json:"mountpoint"`
}

// MountsResp lists the mounted file systems, sorted by name.
type MountsResp struct {
	Mounts []MountInfo `json:"mounts"`
}

// MountBackend is what a backend implements to serve the mount verbs.
type MountBackend interface {
	Mount(ctx context.Context, caller Caller, req MountReq) error
	Unmount(ctx context.Context, caller Caller, req UnmountReq) error
	Mounts(ctx context.Context, caller Caller) (MountsResp, error)
}

// RegisterMount adds the mount verbs served by b.
func (s *Server) RegisterMount(b MountBackend) {
	s.methods[MMount] = noResp(b.Mount)
	s.methods[MUnmount] = noResp(b.Unmount)
	s.methods[MMounts] = noReq(func(ctx context.Context, c Caller) (any, error) { return b.Mounts(ctx, c) })
}
