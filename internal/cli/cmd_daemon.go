package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

func newDaemonCommand(a *app) *cobra.Command {
	opts := DaemonOptions{StateDir: "/var/lib/coffer", LogLevel: "info"}
	cmd := &cobra.Command{
		Use:   "daemon [--state DIR] [--socket PATH] [--http ADDR] [--tpm DEV] [--log-level LEVEL]",
		Short: "Run the coffer daemon: hold pools and keys, serve the API",
		Long: `Run the daemon in the foreground. It holds the pools open and the loaded
keys in memory and serves the API on a Unix socket (mode 0600; only root
and the daemon's own user may call), and the HTTP API for the web UI when
--http is given. Stop it with SIGINT or SIGTERM. Restarting it locks every
encrypted dataset whose key is not unlocked automatically.`,
		Example: `  coffer daemon
  coffer daemon --state /srv/coffer/state --socket /run/coffer/coffer.sock
  COFFER_SOCKET=/tmp/c.sock coffer daemon --state /tmp/state`,
		Args: exactArgs(0, ""),
		RunE: runE(func(ctx context.Context, args []string) error {
			if opts.Socket == "" {
				opts.Socket = a.socketPath()
			}
			return runDaemon(ctx, a, opts, args)
		}),
	}
	f := cmd.Flags()
	f.StringVar(&opts.StateDir, "state", opts.StateDir, "state directory")
	f.StringVar(&opts.Socket, "socket", "", "API socket (default $"+api.EnvSocket+" or "+api.DefaultSocket+")")
	f.StringVar(&opts.HTTPAddr, "http", "", "also serve the HTTP API and web UI on this address")
	f.StringVar(&opts.TPM, "tpm", "", "TPM 2.0 device, or tcp://HOST:PORT for swtpm (default /dev/tpmrm0)")
	f.StringVar(&opts.LogLevel, "log-level", opts.LogLevel, "debug, info, warn or error")
	return cmd
}

func runDaemon(ctx context.Context, a *app, opts DaemonOptions, _ []string) error {
	if RunDaemon == nil {
		return errors.New("daemon not built in")
	}
	opts.Stderr = a.env.Stderr
	return RunDaemon(ctx, opts)
}
