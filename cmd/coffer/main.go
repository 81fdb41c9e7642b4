// Command coffer is the coffer CLI and daemon.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	_ "net/http/pprof" // served only when COFFER_PPROF names a loopback address
	"os"
	"os/signal"
	"runtime"
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
	if addr := os.Getenv("COFFER_PPROF"); addr != "" {
		if err := servePprof(addr); err != nil {
			return err
		}
		log.Info("profiling listener", "addr", addr)
	}
	return daemon.Run(ctx, daemon.Options{StateDir: o.StateDir, Socket: o.Socket, TPM: o.TPM, Logger: log,
		HTTP: api.TCPOptions{Addr: o.HTTPAddr, CertFile: o.HTTPCert, KeyFile: o.HTTPKey}})
}

// servePprof serves net/http/pprof (CPU, heap, block and mutex profiles) on
// a loopback address, for performance work: COFFER_PPROF=127.0.0.1:6060.
func servePprof(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("COFFER_PPROF: %v", err)
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("COFFER_PPROF: %s is not a loopback address", host)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("COFFER_PPROF: %v", err)
	}
	runtime.SetBlockProfileRate(100_000) // one sample per 100 µs blocked
	runtime.SetMutexProfileFraction(10)
	go http.Serve(ln, nil)
	return nil
}
