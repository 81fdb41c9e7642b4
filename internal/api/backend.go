package api

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Caller identifies who calls: on the Unix socket the process on the other
// end, from the kernel's peer credentials (not from anything the client
// says); over HTTP the user whose API token the request carries (UID and
// PID are then -1 unless the user is configured with a uid). User and Role
// are resolved by the server before the Backend is called.
type Caller struct {
	UID       int
	GID       int
	PID       int
	User      string // "root", "daemon" (the daemon's own uid), or a configured user
	Role      Role
	Transport string // TransportUnix or TransportHTTP
}

// Transports.
const (
	TransportUnix = "unix"
	TransportHTTP = "http"
)

// Backend is what the daemon implements: one method per method constant in
// types.go. Methods return an *Error to choose the error code the client sees;
// any other error is reported as CodeInternal with its message.
//
// Request fields named Key or OldKey hold key material read by the CLI. The
// server wipes them as soon as the method returns: copy what you keep.
type Backend interface {
	Ping(ctx context.Context, caller Caller) error

	PoolCreate(ctx context.Context, caller Caller, req PoolCreateReq) error
	PoolList(ctx context.Context, caller Caller) ([]PoolInfo, error)
	// PoolStatus reports the named pool, or every pool when req.Name is empty.
	PoolStatus(ctx context.Context, caller Caller, req PoolNameReq) ([]PoolStatus, error)
	PoolImport(ctx context.Context, caller Caller, req PoolImportReq) (PoolImportResp, error)
	PoolExport(ctx context.Context, caller Caller, req PoolNameReq) error
	PoolDestroy(ctx context.Context, caller Caller, req PoolNameReq) error
	PoolScrub(ctx context.Context, caller Caller, req PoolNameReq) error

	Create(ctx context.Context, caller Caller, req CreateReq) error
	Destroy(ctx context.Context, caller Caller, req DestroyReq) error
	Snapshot(ctx context.Context, caller Caller, req SnapshotReq) error
	Rollback(ctx context.Context, caller Caller, req RollbackReq) error
	// List returns one row per dataset with the properties in req.Props.
	List(ctx context.Context, caller Caller, req ListReq) (ListResp, error)
	// Get returns one row per dataset with the properties asked for; with
	// Props ["all"], every property the dataset has.
	Get(ctx context.Context, caller Caller, req GetReq) (ListResp, error)
	Set(ctx context.Context, caller Caller, req SetReq) error
	Inherit(ctx context.Context, caller Caller, req InheritReq) error

	KeyNeed(ctx context.Context, caller Caller, req KeyNeedReq) (KeyNeedResp, error)
	LoadKey(ctx context.Context, caller Caller, req LoadKeyReq) error
	UnloadKey(ctx context.Context, caller Caller, req UnloadKeyReq) (UnloadKeyResp, error)
	ChangeKey(ctx context.Context, caller Caller, req ChangeKeyReq) error

	// SendEstimate sizes the stream Send would write for req, without
	// writing it, and names any warning the user must see.
	SendEstimate(ctx context.Context, caller Caller, req SendReq) (SendEstimate, error)
	// Send writes the whole stream of req to w and returns when it is
	// written (w is not safe for concurrent use). An error returned before
	// the first byte reaches the client as an ordinary error; after it, in
	// a trailer: the stream the receiver got is then incomplete. A failed
	// write to w means the client went away; return it.
	Send(ctx context.Context, caller Caller, req SendReq, w io.Writer) error
	// Receive reads a stream from r and receives it as req says. r ends at
	// the end of the stream the client sent; it does not have to be read to
	// its end after an error.
	Receive(ctx context.Context, caller Caller, req ReceiveReq, r io.Reader) (ReceiveResp, error)
	// ReceiveAbort discards the saved state of an interrupted resumable
	// receive into req.Target (`receive -A`).
	ReceiveAbort(ctx context.Context, caller Caller, req ReceiveAbortReq) error

	// The remote verbs (remote.go); served once the daemon calls
	// Server.RegisterRemote.
	RemoteBackend
}

// Errorf returns an *Error with the given code and a formatted message. The
// message is shown to the user as it is, so write it zfs-style:
// "cannot open 'tank/x': dataset does not exist".
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// NotFound, Exists, Invalid, KeyError, Busy and Permission are shorthands for
// Errorf with the matching code.
func NotFound(format string, args ...any) *Error   { return Errorf(CodeNotFound, format, args...) }
func Exists(format string, args ...any) *Error     { return Errorf(CodeExists, format, args...) }
func Invalid(format string, args ...any) *Error    { return Errorf(CodeInvalid, format, args...) }
func KeyError(format string, args ...any) *Error   { return Errorf(CodeKey, format, args...) }
func Busy(format string, args ...any) *Error       { return Errorf(CodeBusy, format, args...) }
func Permission(format string, args ...any) *Error { return Errorf(CodePermission, format, args...) }

// AsError converts any error to the *Error sent on the wire: an *Error found
// with errors.As keeps its code and message, anything else becomes
// CodeInternal with err.Error() as the message.
func AsError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternal, Message: err.Error()}
}

// ErrorCode returns the code of an *Error in err's chain, or "" if there is none.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
