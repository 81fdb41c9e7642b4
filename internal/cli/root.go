package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"coffer/internal/api"
)

// Version is the version `coffer version` reports; set with -ldflags.
var Version = "dev"

// DaemonOptions are the flags of `coffer daemon`.
type DaemonOptions struct {
	StateDir string // --state
	Socket   string // --socket
	HTTPAddr string // --http; empty: no HTTP listener
	HTTPCert string // --http-cert
	HTTPKey  string // --http-key
	TPM      string // --tpm: device or tcp://HOST:PORT
	LogLevel string // --log-level: debug, info, warn, error
	// ReadAheadKB is --fuse-read-ahead: the kernel read-ahead of FUSE
	// mounts in KiB, 0 for the kernel's default.
	ReadAheadKB int
	Stderr      io.Writer
}

// RunDaemon runs the daemon until ctx is done. The daemon package sets it
// (from cmd/coffer); when nil, `coffer daemon` fails with "daemon not built in".
var RunDaemon func(ctx context.Context, opts DaemonOptions) error

// Env is the outside world of one CLI run.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment; os.Getenv when nil.
	Getenv func(string) string
	// Terminal reads secrets without echo. Nil when stdin is not a
	// terminal: key material is then read from Stdin.
	Terminal Terminal
	// Location is the time zone for printed times; time.Local when nil.
	Location *time.Location
}

// Terminal reads one line without echo (golang.org/x/term on a real tty).
type Terminal interface {
	ReadPassword() ([]byte, error)
}

// OSEnv is the environment of the real process.
func OSEnv() Env {
	env := Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	if fd := int(os.Stdin.Fd()); term.IsTerminal(fd) {
		env.Terminal = ttyTerminal{fd: fd, stderr: os.Stderr}
	}
	return env
}

type ttyTerminal struct {
	fd     int
	stderr io.Writer
}

// ReadPassword reads a line with echo off; an interrupt restores the
// terminal before the process dies.
func (t ttyTerminal) ReadPassword() ([]byte, error) {
	state, err := term.GetState(t.fd)
	if err != nil {
		return nil, err
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	defer func() { signal.Stop(sigs); close(done) }()
	go func() {
		select {
		case <-sigs:
			_ = term.Restore(t.fd, state)
			fmt.Fprintln(t.stderr)
			os.Exit(130)
		case <-done:
		}
	}()
	return term.ReadPassword(t.fd)
}

// app is what every command's run function gets.
type app struct {
	env    Env
	client *api.Client
	// The HTTP transport (global flags; else $COFFER_URL, $COFFER_TOKEN,
	// $COFFER_CA). Without a URL the CLI uses the Unix socket.
	url       string // --url
	tokenFile string // --token-file
	caFile    string // --ca-file
}

func (a *app) getenv(k string) string {
	if a.env.Getenv == nil {
		return os.Getenv(k)
	}
	return a.env.Getenv(k)
}

// socketPath is $COFFER_SOCKET, else api.DefaultSocket.
func (a *app) socketPath() string {
	if p := a.getenv(api.EnvSocket); p != "" {
		return p
	}
	return api.DefaultSocket
}

// connect returns the client: HTTP(S) when a URL is given (--url or
// $COFFER_URL), else the Unix socket.
func (a *app) connect() (*api.Client, error) {
	if a.client != nil {
		return a.client, nil
	}
	u := a.url
	if u == "" {
		u = a.getenv(api.EnvURL)
	}
	if u == "" {
		a.client = api.NewClient(a.socketPath())
		return a.client, nil
	}
	token := a.getenv(api.EnvToken)
	if a.tokenFile != "" {
		b, err := os.ReadFile(a.tokenFile)
		if err != nil {
			return nil, fmt.Errorf("cannot read token file: %v", err)
		}
		token = strings.TrimSpace(string(b))
	}
	ca := a.caFile
	if ca == "" {
		ca = a.getenv(api.EnvCA)
	}
	c, err := api.NewHTTPClient(u, token, ca)
	if err != nil {
		return nil, err
	}
	a.client = c
	return c, nil
}

func (a *app) call(ctx context.Context, method string, req, resp any) error {
	c, err := a.connect()
	if err != nil {
		return err
	}
	return c.Call(ctx, method, req, resp)
}

func (a *app) location() *time.Location {
	if a.env.Location != nil {
		return a.env.Location
	}
	return time.Local
}

// Main runs the CLI with args (without the program name) and returns the
// exit code: 0 ok, 1 error, 2 usage. Errors are printed to env.Stderr.
func Main(ctx context.Context, env Env, args []string) int {
	root := NewRootCommand(env)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	return ReportError(env.Stderr, cmd, err)
}

// NewRootCommand builds the `coffer` command tree for env.
func NewRootCommand(env Env) *cobra.Command {
	a := &app{env: env}
	root := &cobra.Command{
		Use:   "coffer COMMAND",
		Short: "ZFS-style encrypted storage pools, datasets and snapshots",
		Long: `coffer gives a machine ZFS-style native encryption in user space: pools of
encrypted datasets and volumes, snapshots, and key custody.

"coffer daemon" holds the pools; every other command is its client and finds
it at $COFFER_SOCKET (default ` + api.DefaultSocket + `), or, with --url or
$COFFER_URL, at the daemon's HTTP API with an API token (--token-file FILE
or $COFFER_TOKEN; see "coffer user add").

Exit codes: 0 success, 1 error, 2 bad usage.`,
		Example: `  coffer pool create tank mirror /srv/d1 /srv/d2
  echo 'correct horse battery' | coffer create -o encryption=on -o keyformat=passphrase tank/media
  coffer list -r tank`,
		Args:                  cobra.ArbitraryArgs,
		RunE:                  groupRunE,
		SilenceErrors:         true,
		SilenceUsage:          true,
		DisableFlagsInUseLine: true,
	}
	root.SetIn(env.Stdin)
	root.SetOut(env.Stdout)
	root.SetErr(env.Stderr)
	root.SetFlagErrorFunc(flagError)
	pf := root.PersistentFlags()
	pf.StringVar(&a.url, "url", "", "the daemon's HTTP API, https://HOST:PORT (default $"+api.EnvURL+"; else the Unix socket)")
	pf.StringVar(&a.tokenFile, "token-file", "", "file holding the API token for --url (default $"+api.EnvToken+")")
	pf.StringVar(&a.caFile, "ca-file", "", "PEM CA certificate to trust for --url (default $"+api.EnvCA+", else the system's)")
	root.CompletionOptions.HiddenDefaultCmd = true

	pool := &cobra.Command{
		Use:   "pool COMMAND",
		Short: "Manage storage pools (like zpool)",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	pool.AddCommand(
		newPoolCreateCommand(a),
		newPoolListCommand(a),
		newPoolStatusCommand(a),
		newPoolImportCommand(a),
		newPoolExportCommand(a),
		newPoolDestroyCommand(a),
		newPoolScrubCommand(a),
		newPoolCheckCommand(a),
		newPoolUpgradeCommand(a),
	)
	root.AddCommand(
		pool,
		newCreateCommand(a),
		newDestroyCommand(a),
		newSnapshotCommand(a),
		newRollbackCommand(a),
		newListCommand(a),
		newGetCommand(a),
		newSetCommand(a),
		newInheritCommand(a),
		newLoadKeyCommand(a),
		newUnloadKeyCommand(a),
		newChangeKeyCommand(a),
		newRekeyCommand(a),
		newSendCommand(a),
		newReceiveCommand(a),
		newRemoteCommand(a),  // cmd_remote*.go
		newMountCommand(a),   // cmd_mount.go
		newUnmountCommand(a), // cmd_unmount.go
		newLockCommand(a),
		newUnlockCommand(a),
		newKeyCommand(a),
		newKeystoreCommand(a),
		newHealthCommand(a),
		newUserCommand(a), // cmd_user.go
		newDaemonCommand(a),
		newBenchmarkCommand(a),
		newVersionCommand(a),
	)
	setDefaults(root)
	return root
}

// setDefaults applies the house settings to every command.
func setDefaults(c *cobra.Command) {
	c.DisableFlagsInUseLine = true
	c.Flags().SortFlags = false
	for _, sub := range c.Commands() {
		setDefaults(sub)
	}
}

// groupRunE runs for `coffer` and `coffer pool` without a known subcommand.
func groupRunE(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usagef("missing command")
	}
	return usagef("unknown command '%s'", args[0])
}

// runE adapts a command's run function to cobra, marking its errors as
// errors of the run (not of the command line).
func runE(f func(ctx context.Context, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if err := f(cmd.Context(), args); err != nil {
			var ue *usageError
			if errors.As(err, &ue) {
				return err
			}
			return &runError{err}
		}
		return nil
	}
}

type runError struct{ err error }

func (e *runError) Error() string { return e.err.Error() }
func (e *runError) Unwrap() error { return e.err }

// exitError ends the run with code after its messages were printed.
type exitError struct{ code int }

func (e *exitError) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// ReportError prints err for the user and returns the exit code for it.
func ReportError(stderr io.Writer, cmd *cobra.Command, err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	var ue *usageError
	var re *runError
	switch {
	case errors.As(err, &ue):
	case api.ErrorCode(err) == api.CodeUsage:
		ue = &usageError{msg: err.Error()}
	case errors.As(err, &re):
		fmt.Fprintln(stderr, err.Error())
		return 1
	default:
		// From cobra itself: unknown command and the like.
		ue = &usageError{msg: err.Error()}
	}
	fmt.Fprintln(stderr, ue.msg)
	if cmd != nil {
		fmt.Fprint(stderr, usageText(cmd))
	}
	return 2
}

// usageText is the "usage:" block of cmd: every form of the command.
func usageText(cmd *cobra.Command) string {
	var lines []string
	if u, ok := cmd.Annotations["usage"]; ok {
		lines = strings.Split(u, "\n")
	} else {
		lines = []string{cmd.UseLine()}
	}
	var b strings.Builder
	for i, l := range lines {
		if !strings.HasPrefix(l, "coffer") {
			l = commandPathParent(cmd) + l
		}
		if i == 0 {
			b.WriteString("usage: " + l + "\n")
		} else {
			b.WriteString("       " + l + "\n")
		}
	}
	return b.String()
}

func commandPathParent(cmd *cobra.Command) string {
	if cmd.HasParent() {
		return cmd.Parent().CommandPath() + " "
	}
	return ""
}
