// Package clitest runs the coffer CLI in-process for tests: give it
// arguments, stdin bytes and a daemon socket; get stdout, stderr and the
// exit code. It is shared by the CLI's own tests (against a fake backend)
// and end-to-end tests (against the real daemon).
package clitest

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"time"

	"coffer/internal/api"
	"coffer/internal/cli"
)

// Result is the outcome of one CLI run.
type Result struct {
	Stdout string
	Stderr string
	Code   int
}

// Options configure a run.
type Options struct {
	// Socket is the daemon's socket ($COFFER_SOCKET).
	Socket string
	// Stdin is what the command reads on standard input (not a terminal).
	Stdin []byte
	// Terminal, if set, makes stdin a terminal: key material is read from it.
	Terminal cli.Terminal
	// Env holds further environment variables.
	Env map[string]string
}

// Run runs `coffer args...` against the daemon at socket with stdin.
func Run(ctx context.Context, socket string, stdin []byte, args ...string) Result {
	return RunWith(ctx, Options{Socket: socket, Stdin: stdin}, args...)
}

// RunWith runs `coffer args...` with opts. Times print in UTC.
func RunWith(ctx context.Context, opts Options, args ...string) Result {
	var stdout, stderr bytes.Buffer
	env := cli.Env{
		Stdin:  bytes.NewReader(opts.Stdin),
		Stdout: &stdout,
		Stderr: &stderr,
		Getenv: func(k string) string {
			if k == api.EnvSocket {
				return opts.Socket
			}
			return opts.Env[k]
		},
		Location: time.UTC,
	}
	if opts.Terminal != nil {
		env.Terminal = opts.Terminal
	}
	code := cli.Main(ctx, env, args)
	return Result{Stdout: stdout.String(), Stderr: stderr.String(), Code: code}
}

// Terminal is a scripted terminal: each ReadPassword returns the next line.
type Terminal struct {
	mu    sync.Mutex
	lines []string
	reads int
}

// NewTerminal returns a terminal that answers with lines, in order.
func NewTerminal(lines ...string) *Terminal { return &Terminal{lines: lines} }

// ReadPassword returns the next scripted line.
func (t *Terminal) ReadPassword() ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.reads >= len(t.lines) {
		return nil, errors.New("EOF")
	}
	t.reads++
	return []byte(t.lines[t.reads-1]), nil
}

// Reads is how many times ReadPassword was called.
func (t *Terminal) Reads() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.reads
}
