package api

import "context"

// Remotes: backups of datasets in S3-compatible object storage, as chains
// of raw streams (docs/design/s3.md). The daemon keeps each remote's
// credentials sealed; no response carries a secret key.

// Method names of the remote verbs.
const (
	MRemoteAdd     = "remote.add"
	MRemoteList    = "remote.list"
	MRemoteRemove  = "remote.remove"
	MRemoteSend    = "remote.send"
	MRemoteBackups = "remote.backups"
	MRemoteReceive = "remote.receive"
)

// RemoteAddReq adds a remote. SecretKey is key material read by the CLI
// (never from argv); the daemon seals it and wipes its copy.
type RemoteAddReq struct {
	Name      string `json:"name"`
	URL       string `json:"url"`                // s3://BUCKET[/PREFIX]
	Endpoint  string `json:"endpoint,omitempty"` // http(s)://HOST[:PORT] or HOST[:PORT]
	Region    string `json:"region,omitempty"`
	Insecure  bool   `json:"insecure,omitempty"` // plain HTTP
	AccessKey string `json:"access_key"`
	SecretKey []byte `json:"secret_key"`
}

// RemoteAddResp says whether the bucket was created.
type RemoteAddResp struct {
	CreatedBucket bool `json:"created_bucket"`
}

// RemoteInfo is one remote as `remote list` shows it: no credentials.
type RemoteInfo struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	Endpoint string `json:"endpoint"`
	Region   string `json:"region"`
	Insecure bool   `json:"insecure"`
}

// RemoteListResp lists the remotes, sorted by name.
type RemoteListResp struct {
	Remotes []RemoteInfo `json:"remotes"`
}

// RemoteNameReq names a remote.
type RemoteNameReq struct {
	Name string `json:"name"`
}

// RemoteSendReq sends Snapshot raw to Remote: incremental from From when
// given (@snap or ds@snap; the remote must hold it), else from the newest
// backup of the dataset on the remote when that snapshot still exists
// locally, else full.
type RemoteSendReq struct {
	Remote   string `json:"remote"`
	Snapshot string `json:"snapshot"`
	From     string `json:"from,omitempty"`
}

// RemoteBackup is one stream object of a dataset on a remote.
type RemoteBackup struct {
	Name     string `json:"name"`
	GUID     uint64 `json:"guid"`
	FromGUID uint64 `json:"from_guid"`
	From     string `json:"from,omitempty"` // the base's snapshot name, when the remote has it
	Object   string `json:"object"`
	Bytes    int64  `json:"bytes"`
	SHA256   string `json:"sha256"`
	Created  int64  `json:"created"`
}

// RemoteSendResp is the stream that was uploaded.
type RemoteSendResp struct {
	Backup  RemoteBackup `json:"backup"`
	Seconds float64      `json:"seconds"`
}

// RemoteBackupsReq lists the backups of Dataset on Remote.
type RemoteBackupsReq struct {
	Remote  string `json:"remote"`
	Dataset string `json:"dataset"`
}

// RemoteBackupsResp lists them in upload order.
type RemoteBackupsResp struct {
	Dataset string         `json:"dataset"`
	Backups []RemoteBackup `json:"backups"`
}

// RemoteReceiveReq restores Snapshot (DATASET@SNAP, as named on the remote)
// into Target: the chain's full stream and incrementals, or only those
// after Target's newest snapshot when that is part of the chain.
type RemoteReceiveReq struct {
	Remote   string `json:"remote"`
	Snapshot string `json:"snapshot"`
	Target   string `json:"target"`
	Force    bool   `json:"force,omitempty"` // -F
}

// RemoteReceiveResp lists the snapshots received.
type RemoteReceiveResp struct {
	Received []string `json:"received"`
	Bytes    int64    `json:"bytes"`
	Seconds  float64  `json:"seconds"`
}

// RemoteBackend is the part of Backend that serves the remote verbs.
type RemoteBackend interface {
	RemoteAdd(ctx context.Context, caller Caller, req RemoteAddReq) (RemoteAddResp, error)
	RemoteList(ctx context.Context, caller Caller) (RemoteListResp, error)
	RemoteRemove(ctx context.Context, caller Caller, req RemoteNameReq) error
	RemoteSend(ctx context.Context, caller Caller, req RemoteSendReq) (RemoteSendResp, error)
	RemoteBackups(ctx context.Context, caller Caller, req RemoteBackupsReq) (RemoteBackupsResp, error)
	RemoteReceive(ctx context.Context, caller Caller, req RemoteReceiveReq) (RemoteReceiveResp, error)
}

// RegisterRemote adds the remote verbs served by b. The secret key of a
// remote.add request is wiped when the call returns.
func (s *Server) RegisterRemote(b RemoteBackend) {
	s.methods[MRemoteAdd] = with(func(ctx context.Context, c Caller, req RemoteAddReq) (RemoteAddResp, error) {
		defer clear(req.SecretKey)
		return b.RemoteAdd(ctx, c, req)
	})
	s.methods[MRemoteList] = noReq(func(ctx context.Context, c Caller) (any, error) { return b.RemoteList(ctx, c) })
	s.methods[MRemoteRemove] = noResp(b.RemoteRemove)
	s.methods[MRemoteSend] = with(b.RemoteSend)
	s.methods[MRemoteBackups] = with(b.RemoteBackups)
	s.methods[MRemoteReceive] = with(b.RemoteReceive)
}
