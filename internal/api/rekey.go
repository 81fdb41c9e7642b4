package api

import "context"

// Deep rekey: a new master key for a dataset and every block of it, its
// snapshots included, re-encrypted while it stays in use.
const (
	MRekey       = "key.rekey"
	MRekeyStatus = "key.rekey.status"
)

// RekeyReq starts, or continues, the deep rekey of a dataset.
type RekeyReq struct {
	Name      string `json:"name"`
	Recursive bool   `json:"recursive,omitempty"` // -r: every dataset below sharing its encryption root
}

// RekeyStatus is the deep rekey state of one dataset.
type RekeyStatus struct {
	Dataset   string `json:"dataset"`
	State     string `json:"state"` // none, in-progress (interrupted), running
	SnapsDone int    `json:"snapshots_done"`
	Snaps     int    `json:"snapshots"`
	Started   int64  `json:"started,omitempty"` // unix seconds
	Bytes     uint64 `json:"bytes_written"`     // by the running rekey
	TotalSize uint64 `json:"bytes_total"`       // estimate
	// LastError is why the last rekey run of this dataset stopped, if it
	// failed.
	LastError string `json:"last_error,omitempty"`
	// Finished is when the last rekey run of this dataset completed.
	Finished int64 `json:"finished,omitempty"`
}

// RekeyResp lists the datasets a rekey started or continued on.
type RekeyResp struct {
	Datasets []string `json:"datasets"`
}

// RekeyStatusResp is the state of the datasets asked for.
type RekeyStatusResp struct {
	Datasets []RekeyStatus `json:"datasets"`
}

// RekeyBackend serves deep rekey.
type RekeyBackend interface {
	// Rekey validates the request and starts the rekey in the daemon; it
	// runs on after the call returns (follow it with RekeyStatus).
	Rekey(ctx context.Context, caller Caller, req RekeyReq) (RekeyResp, error)
	RekeyStatus(ctx context.Context, caller Caller, req RekeyReq) (RekeyStatusResp, error)
}

// RegisterRekey adds the deep rekey verbs served by b.
func (s *Server) RegisterRekey(b RekeyBackend) {
	s.methods[MRekey] = with(b.Rekey)
	s.methods[MRekeyStatus] = with(b.RekeyStatus)
}
