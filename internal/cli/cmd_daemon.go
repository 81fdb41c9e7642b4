package cli

import (
	"context"
	"errors"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

func newDaemonCommand(a *app) *cobra.Command {
	opts := DaemonOptions{StateDir: "/var/lib/coffer", LogLevel: "info", ReadAheadKB: 1024}
	cmd := &cobra.Command{
		Use:   "daemon [--state DIR] [--socket PATH] [--http ADDR [--http-cert FILE --http-key FILE]] [--tpm DEV] [--fuse-read-ahead KB] [--log-level LEVEL]",
		Short: "Run the coffer daemon: hold pools and keys, serve the API",
		Long: `Run the daemon in the foreground. It holds the pools open and the loaded
keys in memory and serves the API on a Unix socket. Root and the daemon's
own user are admins there; other local users may call only when an admin
made them users with a uid ("coffer user add NAME --role ROLE --uid N"),
with that user's role.

--http ADDR also serves the same API over HTTP on TCP, each request
authenticated by an API token ("Authorization: Bearer TOKEN"; tokens come
from "coffer user add"). With --http-cert and --http-key it is HTTPS;
plain HTTP is refused on anything but a loopback address.

--fuse-read-ahead KB is the kernel's read-ahead on the FUSE mounts
(default 1024: a sequential reader's data comes in 1 MiB requests);
0 keeps the kernel's default (128 KiB).

Stop it with SIGINT or SIGTERM. Restarting it locks every encrypted dataset
whose key is not unlocked automatically.`,
		Example: `  coffer daemon
  coffer daemon --state /srv/coffer/state --socket /run/coffer/coffer.sock
  coffer daemon --http 127.0.0.1:8443
  coffer daemon --http 0.0.0.0:8443 --http-cert /etc/coffer/cert.pem --http-key /etc/coffer/key.pem
  coffer daemon --fuse-read-ahead 0
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
	f.StringVar(&opts.HTTPAddr, "http", "", "also serve the HTTP API (token auth) on HOST:PORT")
	f.StringVar(&opts.HTTPCert, "http-cert", "", "TLS certificate (PEM) for --http: serve HTTPS")
	f.StringVar(&opts.HTTPKey, "http-key", "", "TLS private key (PEM) for --http-cert")
	f.StringVar(&opts.TPM, "tpm", "", "TPM 2.0 device, or tcp://HOST:PORT for swtpm (default /dev/tpmrm0)")
	f.IntVar(&opts.ReadAheadKB, "fuse-read-ahead", opts.ReadAheadKB, "kernel read-ahead of FUSE mounts in KiB (0: the kernel's default)")
	f.StringVar(&opts.LogLevel, "log-level", opts.LogLevel, "debug, info, warn or error")
	return cmd
}

func runDaemon(ctx context.Context, a *app, opts DaemonOptions, _ []string) error {
	if RunDaemon == nil {
		return errors.New("daemon not built in")
	}
	opts.Stderr = a.env.Stderr
	if opts.ReadAheadKB < 0 || opts.ReadAheadKB > 65536 {
		return usagef("invalid --fuse-read-ahead '%d': must be 0 (the kernel's default) to 65536 KiB", opts.ReadAheadKB)
	}
	if opts.HTTPAddr == "" && (opts.HTTPCert != "" || opts.HTTPKey != "") {
		return usagef("--http-cert and --http-key need --http ADDR")
	}
	if opts.HTTPAddr != "" {
		if err := api.CheckTCP(api.TCPOptions{Addr: opts.HTTPAddr, CertFile: opts.HTTPCert, KeyFile: opts.HTTPKey}); err != nil {
			return err
		}
	}
	return RunDaemon(ctx, opts)
}
