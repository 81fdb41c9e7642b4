// Command coffer is the coffer CLI and daemon.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
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
	runtime.GOMAXPROCS(daemon.Procs(os.Getenv("GOMAXPROCS"), runtime.GOMAXPROCS(0)))
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(o.Stderr, &slog.HandlerOptions{Level: level}))
	if addr := os.Getenv("COFFER_PPROF"); addr != "" {
		if err := servePprof(ctx, addr); err != nil {
			return err
		}
		log.Info("profiling endpoint", "addr", addr)
	}
	ra := o.ReadAheadKB
	if ra == 0 {
		ra = -1 // the kernel's default
	}
	return daemon.Run(ctx, daemon.Options{StateDir: o.StateDir, Socket: o.Socket, TPM: o.TPM, Logger: log, ReadAheadKB: ra,
		HTTP: api.TCPOptions{Addr: o.HTTPAddr, CertFile: o.HTTPCert, KeyFile: o.HTTPKey}})
}

// servePprof serves Go's profiling endpoints (/debug/pprof/) on addr, which
// must be a loopback address: profiles show code paths and timings, and
// nothing but the local benchmark tools should reach them. Opt-in through
// COFFER_PPROF=127.0.0.1:PORT.
func servePprof(ctx context.Context, addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("cannot serve COFFER_PPROF '%s': %v", addr, err)
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("cannot serve COFFER_PPROF '%s': not a loopback address", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot serve COFFER_PPROF '%s': %v", addr, err)
	}
	runtime.SetBlockProfileRate(100_000) // one sample per 100 µs blocked
	runtime.SetMutexProfileFraction(10)
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	go func() { <-ctx.Done(); srv.Close() }()
	return nil
}
