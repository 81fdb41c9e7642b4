// Command coffer is the coffer CLI and daemon.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"coffer/internal/api"
	"coffer/internal/cli"
	"coffer/internal/daemon"
)

func main() {
	cli.RunDaemon = runDaemon
	// Exit codes: 0 ok, 1 error, 2 usage (cli.Main maps errors).
	os.Exit(cli.Main(context.Background(), cli.OSEnv(), os.Args[1:]))
}

func runDaemon(ctx context.Context, o cli.DaemonOptions) error {
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit keeps the heap near what the dirty data and block
		// buffers need instead of letting it double between collections.
		debug.SetMemoryLimit(192 << 20)
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(o.Stderr, &slog.HandlerOptions{Level: level}))
	return daemon.Run(ctx, daemon.Options{StateDir: o.StateDir, Socket: o.Socket, TPM: o.TPM, Logger: log,
		HTTP: api.TCPOptions{Addr: o.HTTPAddr, CertFile: o.HTTPCert, KeyFile: o.HTTPKey}})
}
