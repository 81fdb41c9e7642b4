package api

// Wire types shared by the daemon (server) and the CLI (client). Every call is
// POST /v1/<Method> with a JSON request body and a JSON response body:
// {"result": ...} on success, {"error": {"code": "...", "message": "..."}} on
// failure. Messages are already zfs-style ("cannot open 'tank/x': dataset does
// not exist") and are printed by the CLI as they are.
//
// This file is the contract between internal/cli and the backend; change both
// sides together.

// Error codes. The CLI exits 1 for every code except CodeUsage (exit 2).
const (
	CodeNotFound   = "not_found"
	CodeExists     = "exists"
	CodeInvalid    = "invalid"         // a bad value: property, name, key material
	CodeKey        = "key"             // wrong key or passphrase, key not loaded
	CodeBusy       = "busy"            // dataset busy, has children, has dependents
	CodePermission = "permission"      // caller may not do this
	CodeAuth       = "unauthenticated" // HTTP: no API token, or an unknown one
	CodeIO         = "io"              // I/O error, damaged block
	CodeUsage      = "usage"           // bad usage detected by the daemon
	CodeInternal   = "internal"
)

// Error is the error object of a failed call.
type Error struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// VdevSpec is one top-level vdev: a single directory, or a mirror of several.
type VdevSpec struct {
	Mirror bool     `json:"mirror,omitempty"`
	Paths  []string `json:"paths"`
}

type PoolCreateReq struct {
	Name  string            `json:"name"`
	Vdevs []VdevSpec        `json:"vdevs"`
	Props map[string]string `json:"props,omitempty"` // -O: root dataset properties
	// Key is the key material for the root dataset when -O encryption=… with
	// keylocation=prompt (read by the CLI). Nil otherwise.
	Key []byte `json:"key,omitempty"`
	// Force allows vdev directories that are not empty.
	Force bool `json:"force,omitempty"`
}

type PoolNameReq struct {
	Name string `json:"name"`
}

type PoolImportReq struct {
	Dirs []string `json:"dirs,omitempty"` // -d; default: the daemon's known vdev dirs
	Name string   `json:"name,omitempty"` // empty: list importable pools, import nothing
}

type PoolImportResp struct {
	Importable []PoolInfo `json:"importable,omitempty"`
	Imported   string     `json:"imported,omitempty"`
}

// PoolInfo is one row of `pool list` (numbers in bytes).
type PoolInfo struct {
	Name      string `json:"name"`
	GUID      uint64 `json:"guid"`
	Size      uint64 `json:"size"`
	Allocated uint64 `json:"allocated"`
	Free      uint64 `json:"free"`
	Health    string `json:"health"` // ONLINE, DEGRADED, FAULTED
	Txg       uint64 `json:"txg"`
}

// VdevStatus is one line of `pool status`.
type VdevStatus struct {
	Name     string       `json:"name"` // directory path, or "mirror-0"
	State    string       `json:"state"`
	Read     uint64       `json:"read_errors"`
	Write    uint64       `json:"write_errors"`
	Cksum    uint64       `json:"checksum_errors"`
	Repaired uint64       `json:"repaired_bytes"`
	Children []VdevStatus `json:"children,omitempty"`
}

type ScrubStatus struct {
	State     string `json:"state"` // none, scanning, finished, canceled
	Start     int64  `json:"start,omitempty"`
	End       int64  `json:"end,omitempty"`
	Examined  uint64 `json:"examined"`
	Total     uint64 `json:"total"`
	Errors    uint64 `json:"errors"`
	Repaired  uint64 `json:"repaired"`
	Unrecover uint64 `json:"unrecoverable"`
}

type PoolStatus struct {
	Name   string       `json:"name"`
	State  string       `json:"state"`
	Vdevs  []VdevStatus `json:"vdevs"`
	Scrub  ScrubStatus  `json:"scrub"`
	Errors string       `json:"errors"` // "No known data errors" or a summary
	// Version is the pool's format version; Latest the one this coffer
	// writes (pool upgrade raises Version to it).
	Version int `json:"version"`
	Latest  int `json:"latest_version"`
	// KeysWaiting: encryption roots of the pool locked at start because
	// their key provider refused or did not answer, and why.
	KeysWaiting map[string]string `json:"keys_waiting,omitempty"`
}

type CreateReq struct {
	Name    string            `json:"name"`
	Parents bool              `json:"parents,omitempty"` // -p
	Volume  bool              `json:"volume,omitempty"`  // -V given
	Volsize uint64            `json:"volsize,omitempty"`
	Sparse  bool              `json:"sparse,omitempty"` // -s
	Props   map[string]string `json:"props,omitempty"`  // -o
	Key     []byte            `json:"key,omitempty"`    // key material read by the CLI (keylocation=prompt)
}

type DestroyReq struct {
	Name      string `json:"name"` // dataset or snapshot
	Recursive bool   `json:"recursive,omitempty"`
	Force     bool   `json:"force,omitempty"`
	DryRun    bool   `json:"dry_run,omitempty"`
}

type SnapshotReq struct {
	Names     []string          `json:"names"` // DS@SNAP...
	Recursive bool              `json:"recursive,omitempty"`
	Props     map[string]string `json:"props,omitempty"`
}

type RollbackReq struct {
	Snapshot     string `json:"snapshot"`
	DestroyLater bool   `json:"destroy_later,omitempty"` // -r
}

type ListReq struct {
	Names     []string `json:"names,omitempty"`
	Recursive bool     `json:"recursive,omitempty"`
	Depth     int      `json:"depth,omitempty"` // -d N; 0 = unlimited when Recursive
	Types     []string `json:"types,omitempty"` // filesystem, volume, snapshot, all
	Props     []string `json:"props"`           // columns wanted (property names, "name")
}

// PropValue is one property of one dataset.
type PropValue struct {
	Value string `json:"value"` // human form (1.5G, on, -)
	Exact string `json:"exact"` // -p form (bytes, seconds)
	// Source: "local", "default", "inherited from X", "received", "-" (read-only/none)
	Source string `json:"source"`
}

// DatasetRow is one dataset with the properties asked for.
type DatasetRow struct {
	Name  string               `json:"name"`
	Type  string               `json:"type"` // filesystem, volume, snapshot
	Props map[string]PropValue `json:"properties"`
}

type ListResp struct {
	Rows []DatasetRow `json:"rows"`
}

type GetReq struct {
	Names     []string `json:"names,omitempty"`
	Recursive bool     `json:"recursive,omitempty"`
	Depth     int      `json:"depth,omitempty"`
	Types     []string `json:"types,omitempty"`
	Props     []string `json:"props"` // ["all"] for every property
	Sources   []string `json:"sources,omitempty"`
}

type SetReq struct {
	Name  string            `json:"name"`
	Props map[string]string `json:"props"`
}

type InheritReq struct {
	Name      string `json:"name"`
	Prop      string `json:"prop"`
	Recursive bool   `json:"recursive,omitempty"`
}

// KeyNeed tells the CLI which datasets a load-key would unlock and whether it
// must read key material for them (keylocation=prompt).
type KeyNeedReq struct {
	Name      string `json:"name,omitempty"`
	Recursive bool   `json:"recursive,omitempty"`
	All       bool   `json:"all,omitempty"`
	Location  string `json:"location,omitempty"` // -L
}

type KeyNeed struct {
	Dataset     string `json:"dataset"` // an encryption root
	KeyFormat   string `json:"keyformat"`
	KeyLocation string `json:"keylocation"` // effective (after -L)
	KeyStatus   string `json:"keystatus"`
}

type KeyNeedResp struct {
	Roots []KeyNeed `json:"roots"`
}

type LoadKeyReq struct {
	Name     string `json:"name"` // one encryption root
	NoOp     bool   `json:"noop,omitempty"`
	Location string `json:"location,omitempty"` // -L
	Key      []byte `json:"key,omitempty"`      // material read by the CLI when location is prompt
}

type UnloadKeyReq struct {
	Name      string `json:"name,omitempty"`
	Recursive bool   `json:"recursive,omitempty"`
	All       bool   `json:"all,omitempty"`
}

type UnloadKeyResp struct {
	Unloaded []string `json:"unloaded"`
}

type ChangeKeyReq struct {
	Name    string            `json:"name"`
	Load    bool              `json:"load,omitempty"`    // -l
	Inherit bool              `json:"inherit,omitempty"` // -i
	Props   map[string]string `json:"props,omitempty"`   // keyformat, keylocation, pbkdf2iters, pbkdf2 alternatives
	Key     []byte            `json:"key,omitempty"`     // new key material (prompt)
	// OldKey is material for -l when the key is not loaded yet.
	OldKey []byte `json:"old_key,omitempty"`
}

type Empty struct{}

// Method names (the URL path after /v1/).
const (
	MPoolCreate  = "pool.create"
	MPoolList    = "pool.list"
	MPoolStatus  = "pool.status"
	MPoolImport  = "pool.import"
	MPoolExport  = "pool.export"
	MPoolDestroy = "pool.destroy"
	MPoolScrub   = "pool.scrub"
	MCreate      = "create"
	MDestroy     = "destroy"
	MSnapshot    = "snapshot"
	MRollback    = "rollback"
	MList        = "list"
	MGet         = "get"
	MSet         = "set"
	MInherit     = "inherit"
	MKeyNeed     = "key.need"
	MLoadKey     = "key.load"
	MUnloadKey   = "key.unload"
	MChangeKey   = "key.change"
	MPing        = "ping"
)
