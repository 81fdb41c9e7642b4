// Package cli implements `coffer <verb>`: the zfs-style command line, a
// client of the daemon's API (internal/api). One file per command, each
// with an options struct and a run function; docs/cli.md is the contract
// for scripts.
//
// Invariants:
//   - Exit codes: 0 success, 1 error, 2 bad usage (the command line was
//     rejected before the daemon was asked, or the daemon answered
//     api.CodeUsage).
//   - Errors go to stderr as the daemon worded them; nothing else goes to
//     stderr except prompts and usage lines.
//   - Key material is read here (the daemon has no terminal), never
//     echoed, printed or logged, and wiped after the call.
package cli
