// Package api is the transport between `coffer <verb>` (the client) and
// `coffer daemon` (the server): JSON over HTTP over a Unix socket.
//
// types.go is the wire contract. This package adds the Backend interface the
// daemon implements, the Server that exposes a Backend on a socket, and the
// Client the CLI uses.
//
// Invariants:
//   - Every connection is authenticated by its peer credentials
//     (SO_PEERCRED); only uid 0 and the daemon's own uid may call.
//   - Request bodies are never logged: they can hold key material.
//   - Key material in requests is wiped by the server once the Backend
//     call returns; a Backend that keeps key bytes must copy them.
//   - A Backend error that is an *Error keeps its code; any other error is
//     sent as CodeInternal with its message.
package api
