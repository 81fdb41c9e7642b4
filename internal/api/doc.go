// Package api is the transport between `coffer <verb>` (the client) and
// `coffer daemon` (the server): JSON over HTTP over a Unix socket, or over
// TCP with API tokens (docs/design/access.md).
//
// types.go is the wire contract. This package adds the Backend interface the
// daemon implements, the Server that exposes a Backend on a socket, and the
// Client the CLI uses.
//
// Invariants:
//   - Every call is authenticated: on the socket by its peer credentials
//     (SO_PEERCRED; uid 0 and the daemon's own uid are admins, other uids
//     only when configured in Users), on TCP by an API token whose SHA-256
//     is in Users. Unauthenticated HTTP calls get 401.
//   - Every call is authorized by the caller's role against MethodRoles
//     before the Backend runs; a method without an entry is refused.
//   - Request bodies are never logged: they can hold key material.
//   - Key material in requests is wiped by the server once the Backend
//     call returns; a Backend that keeps key bytes must copy them.
//   - A Backend error that is an *Error keeps its code; any other error is
//     sent as CodeInternal with its message.
package api
