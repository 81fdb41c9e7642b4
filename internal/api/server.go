package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"
)

// MaxRequestBytes bounds a request body.
const MaxRequestBytes = 1 << 20

// Server exposes a Backend over HTTP on a Unix socket and, when asked,
// on TCP (ServeTCP). Every call is authenticated (peer credentials or an
// API token) and authorized by the caller's role (roles.go).
type Server struct {
	backend Backend
	log     *slog.Logger
	methods map[string]handler
	streams map[string]streamHandler // send, receive: see send.go
	// allow decides whether a socket peer is an admin by its uid;
	// default: uid 0 or our own uid.
	allow func(Caller) bool
	users *Users // configured users; nil: none
	// audit records refused key operations and user management (set by
	// the daemon with SetAudit).
	audit func(c Caller, method string, err error)

	sockMu sync.Mutex
	socket string // path of the Unix socket being served, for its mode
}

type handler func(ctx context.Context, c Caller, body io.Reader) (any, error)

// NewServer returns a Server for b. A nil logger discards logs.
func NewServer(b Backend, logger *slog.Logger) *Server {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	self := os.Getuid()
	s := &Server{
		backend: b,
		log:     logger,
		allow:   func(c Caller) bool { return peerAllowed(c.UID, self) },
	}
	s.methods = map[string]handler{
		MPing:        noReq(func(ctx context.Context, c Caller) (any, error) { return Empty{}, b.Ping(ctx, c) }),
		MPoolCreate:  noResp(b.PoolCreate),
		MPoolList:    noReq(func(ctx context.Context, c Caller) (any, error) { return b.PoolList(ctx, c) }),
		MPoolStatus:  with(b.PoolStatus),
		MPoolImport:  with(b.PoolImport),
		MPoolExport:  noResp(b.PoolExport),
		MPoolDestroy: noResp(b.PoolDestroy),
		MPoolScrub:   noResp(b.PoolScrub),
		MCreate:      noResp(b.Create),
		MDestroy:     noResp(b.Destroy),
		MSnapshot:    noResp(b.Snapshot),
		MRollback:    noResp(b.Rollback),
		MList:        with(b.List),
		MGet:         with(b.Get),
		MSet:         noResp(b.Set),
		MInherit:     noResp(b.Inherit),
		MKeyNeed:     with(b.KeyNeed),
		MLoadKey:     noResp(b.LoadKey),
		MUnloadKey:   with(b.UnloadKey),
		MChangeKey:   noResp(b.ChangeKey),

		MSendEstimate: with(b.SendEstimate),
		MReceiveAbort: noResp(b.ReceiveAbort),
	}
	s.streams = s.streamHandlers()
	return s
}

// peerAllowed is the access rule: root, or the user the daemon runs as.
func peerAllowed(uid, self int) bool { return uid == 0 || uid == self }

func decode[Req any](body io.Reader) (Req, error) {
	var req Req
	err := json.NewDecoder(body).Decode(&req)
	if errors.Is(err, io.EOF) {
		err = nil // empty body: zero request
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return req, Errorf(CodeInvalid, "request too large (limit %d bytes)", mbe.Limit)
		}
		return req, Errorf(CodeUsage, "bad request: %v", err)
	}
	return req, nil
}

func with[Req, Resp any](f func(context.Context, Caller, Req) (Resp, error)) handler {
	return func(ctx context.Context, c Caller, body io.Reader) (any, error) {
		req, err := decode[Req](body)
		defer wipeKeys(&req)
		if err != nil {
			return nil, err
		}
		return f(ctx, c, req)
	}
}

func noResp[Req any](f func(context.Context, Caller, Req) error) handler {
	return with(func(ctx context.Context, c Caller, req Req) (Empty, error) {
		return Empty{}, f(ctx, c, req)
	})
}

func noReq(f func(context.Context, Caller) (any, error)) handler {
	return func(ctx context.Context, c Caller, body io.Reader) (any, error) {
		_, _ = io.Copy(io.Discard, body)
		return f(ctx, c)
	}
}

// wipeKeys zeroes the key material of a decoded request.
func wipeKeys(req any) {
	switch r := req.(type) {
	case *PoolCreateReq:
		clear(r.Key)
	case *CreateReq:
		clear(r.Key)
	case *LoadKeyReq:
		clear(r.Key)
	case *ChangeKeyReq:
		clear(r.Key)
		clear(r.OldKey)
	case *UnlockReq:
		clear(r.Key)
		for k := range r.Manifest {
			r.Manifest[k] = ""
		}
	case *KeystoreProtectReq:
		clear(r.Passphrase)
	case *KeystoreUnlockReq:
		clear(r.Passphrase)
	case *CredentialAddReq:
		clear(r.Key)
	}
}

type peerKey struct{}

type peer struct {
	caller Caller
	err    error
}

// ConnContext records the peer credentials of a new Unix socket
// connection; it is meant for http.Server.ConnContext.
func (s *Server) ConnContext(ctx context.Context, c net.Conn) context.Context {
	caller, err := peerCred(c)
	caller.Transport = TransportUnix
	if fc, ok := c.(*fdConn); ok {
		ctx = context.WithValue(ctx, connKey{}, fc)
	}
	return context.WithValue(ctx, peerKey{}, peer{caller, err})
}

// tcpConnContext marks a TCP connection: its caller is known only from the
// token of each request.
func (s *Server) tcpConnContext(ctx context.Context, _ net.Conn) context.Context {
	return context.WithValue(ctx, peerKey{}, peer{caller: Caller{UID: -1, PID: -1, Transport: TransportHTTP}})
}

// SetUsers makes the server resolve users other than root and its own uid
// from u, and serves the user management methods with it.
func (s *Server) SetUsers(u *Users) {
	s.users = u
	u.changed = s.applySocketMode
	s.methods[MUserAdd] = with(u.Add)
	s.methods[MUserList] = noReq(func(ctx context.Context, c Caller) (any, error) { return u.List(ctx, c) })
	s.methods[MUserRemove] = noResp(u.Remove)
	s.methods[MUserSetRole] = noResp(u.SetRole)
}

// Methods lists every method the server serves, sorted.
func (s *Server) Methods() []string {
	var out []string
	for m := range s.methods {
		out = append(out, m)
	}
	for m := range s.streams {
		out = append(out, m)
	}
	sort.Strings(out)
	return out
}

// SetAudit sets the recorder of refused key operations and of user
// management calls.
func (s *Server) SetAudit(f func(c Caller, method string, err error)) { s.audit = f }

// identify resolves who the caller is and its role.
func (s *Server) identify(r *http.Request, p peer) (Caller, *Error) {
	c := p.caller
	if c.Transport == TransportHTTP {
		tok, ok := bearer(r.Header.Get("Authorization"))
		if !ok {
			return c, Errorf(CodeAuth, "authentication required: send the header 'Authorization: Bearer TOKEN' (coffer --token-file FILE)")
		}
		var rec UserRecord
		if s.users != nil {
			rec, ok = s.users.ByToken(tok)
		} else {
			ok = false
		}
		if !ok {
			return c, Errorf(CodeAuth, "authentication failed: unknown API token")
		}
		c.User, c.Role = rec.Name, rec.Role
		if rec.UID != nil {
			c.UID = *rec.UID
		}
		return c, nil
	}
	if p.err != nil {
		return c, Permission("permission denied: peer credentials unavailable")
	}
	if s.allow(c) {
		c.Role = RoleAdmin
		if c.UID == 0 {
			c.User = "root"
		} else {
			c.User = "daemon"
		}
		return c, nil
	}
	if s.users != nil {
		if rec, ok := s.users.ByUID(c.UID); ok {
			c.User, c.Role = rec.Name, rec.Role
			return c, nil
		}
	}
	return c, Permission("permission denied: uid %d is not a coffer user (an admin can add it: coffer user add NAME --role ROLE --uid %d)", c.UID, c.UID)
}

// ServeHTTP serves POST /v1/<method>. The request context must carry the
// peer put there by ConnContext (Unix socket) or by ServeTCP; without it
// every call is refused.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	method := strings.TrimPrefix(r.URL.Path, "/v1/")
	p, ok := r.Context().Value(peerKey{}).(peer)
	var result any
	var err error
	var idErr *Error
	if ok {
		p.caller, idErr = s.identify(r, p)
	}
	_, isStream := s.streams[method]
	_, isMethod := s.methods[method]
	switch {
	case !ok:
		err = Permission("permission denied")
	case idErr != nil:
		err = idErr
		if KeyMethod(method) {
			s.auditDenied(p.caller, method, idErr)
		}
	case !strings.HasPrefix(r.URL.Path, "/v1/"):
		err = Errorf(CodeUsage, "unknown API path %q", r.URL.Path)
	case r.Method != http.MethodPost:
		err = Errorf(CodeUsage, "method %s not allowed, use POST", r.Method)
	case (isStream || isMethod) && !Allowed(p.caller.Role, method):
		err = denied(method, p.caller.Role)
		if KeyMethod(method) || strings.HasPrefix(method, "user.") {
			s.auditDenied(p.caller, method, err)
		}
	default:
		if sh, found := s.streams[method]; found {
			n, serr := sh(w, r, p.caller)
			s.logCall(r.Context(), method, p.caller, start, AsError(serr), true, n)
			return
		}
		h, found := s.methods[method]
		if !found {
			err = Errorf(CodeUsage, "unknown API method %q", method)
			break
		}
		body := http.MaxBytesReader(w, r.Body, MaxRequestBytes)
		result, err = s.call(r.Context(), h, p.caller, method, body)
		if strings.HasPrefix(method, "user.") && method != MUserList && s.audit != nil {
			s.audit(p.caller, method, err)
		}
	}
	apiErr := AsError(err)
	s.logCall(r.Context(), method, p.caller, start, apiErr, false, 0)
	writeResponse(w, result, apiErr)
}

// call runs a handler, turning a panic into an internal error.
func (s *Server) call(ctx context.Context, h handler, c Caller, method string, body io.Reader) (result any, err error) {
	defer func() {
		if v := recover(); v != nil {
			s.log.Error("panic in API method", "method", method, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
			result, err = nil, Errorf(CodeInternal, "internal error in %s", method)
		}
	}()
	return h(ctx, c, body)
}

func (s *Server) auditDenied(c Caller, method string, err error) {
	if s.audit != nil {
		s.audit(c, method, err)
	}
}

type response struct {
	Result any    `json:"result,omitempty"`
	Error  *Error `json:"error,omitempty"`
}

func writeResponse(w http.ResponseWriter, result any, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	if e != nil && e.Code == CodeAuth {
		w.Header().Set("WWW-Authenticate", `Bearer realm="coffer"`)
	}
	status := http.StatusOK
	if e != nil {
		status = httpStatus(e.Code)
		result = nil
	} else if result == nil {
		result = Empty{}
	}
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(response{Result: result, Error: e})
}

func httpStatus(code string) int {
	switch code {
	case CodeNotFound:
		return http.StatusNotFound
	case CodeExists, CodeBusy:
		return http.StatusConflict
	case CodeInvalid, CodeUsage:
		return http.StatusBadRequest
	case CodePermission:
		return http.StatusForbidden
	case CodeAuth:
		return http.StatusUnauthorized
	case CodeKey:
		return http.StatusUnprocessableEntity
	default:
		return http.StatusInternalServerError
	}
}

// ListenUnix creates the API socket at path with mode 0600. A socket left
// behind by a dead daemon is removed; if a daemon answers on path it fails
// with "daemon already running on PATH". Anything at path that is not a
// socket is left alone and reported.
func ListenUnix(path string) (*net.UnixListener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create socket directory: %w", err)
	}
	if err := removeStaleSocket(path); err != nil {
		return nil, err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	// The umask may have left the socket wider than 0600 for a moment; the
	// peer-credential check on every connection covers that window.
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("chmod %s: %w", path, err)
	}
	return ln, nil
}

func removeStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("check socket %s: %w", path, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket; refusing to replace it", path)
	}
	conn, err := net.DialTimeout("unix", path, 2*time.Second)
	if err == nil {
		conn.Close()
		return fmt.Errorf("daemon already running on %s", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("check socket %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale socket: %w", err)
	}
	return nil
}

// ServeUnix listens on path (see ListenUnix) and serves until ctx is done,
// then shuts down gracefully and removes the socket. It returns nil after a
// shutdown asked for by ctx.
func (s *Server) ServeUnix(ctx context.Context, path string) error {
	ln, err := ListenUnix(path)
	if err != nil {
		return err
	}
	s.sockMu.Lock()
	s.socket = path
	s.sockMu.Unlock()
	s.applySocketMode(s.users != nil && s.users.HasLocal())
	return s.Serve(ctx, ln)
}

// applySocketMode opens the socket to every local user (0666) while a
// user with a uid is configured, and closes it to root and the daemon's
// user (0600) otherwise. Access is decided per connection either way
// (identify); the mode only spares unconfigured users a connection.
func (s *Server) applySocketMode(hasLocal bool) {
	s.sockMu.Lock()
	defer s.sockMu.Unlock()
	if s.socket == "" {
		return
	}
	mode := os.FileMode(0o600)
	if hasLocal {
		mode = 0o666
	}
	if err := os.Chmod(s.socket, mode); err != nil {
		s.log.Error("socket mode", "socket", s.socket, "err", err)
	}
}

// Serve serves on ln until ctx is done. ln must be a Unix socket listener
// (peer credentials are read from its connections); it is closed on return.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if ul, ok := ln.(*net.UnixListener); ok {
		ln = fdListener{ul} // descriptor passing: fdpass.go
	}
	return s.serve(ctx, ln, s.ConnContext, "API")
}

// serve runs an HTTP server of s on ln until ctx is done, then shuts it
// down (what names it in errors: "API", "HTTP API").
func (s *Server) serve(ctx context.Context, ln net.Listener, connContext func(context.Context, net.Conn) context.Context, what string) error {
	srv := &http.Server{
		Handler:           s,
		ConnContext:       connContext,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve %s: %w", what, err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	err := srv.Shutdown(shutCtx)
	<-errc
	if err != nil {
		return fmt.Errorf("shut down %s: %w", what, err)
	}
	return nil
}
