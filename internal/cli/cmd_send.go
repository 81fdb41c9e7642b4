package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type sendOptions struct {
	raw           bool   // -w
	replicate     bool   // -R
	incremental   string // -i
	intermediates string // -I
	verbose       bool   // -v
	parsable      bool   // -P
	dryRun        bool   // -n
	token         string // -t
}

func newSendCommand(a *app) *cobra.Command {
	var opts sendOptions
	cmd := &cobra.Command{
		Use:   "send [-wRvPn] [-i SNAPSHOT | -I SNAPSHOT] SNAPSHOT",
		Short: "Write a stream of a snapshot to standard output",
		Long: `Write a replication stream of SNAPSHOT to standard output, for
"coffer receive" on this or another machine. Standard output must not be a
terminal.

A full stream holds the whole snapshot. -i SNAP makes it incremental from
SNAP (an earlier snapshot of the same dataset, "@snap" or "ds@snap") to
SNAPSHOT; -I SNAP does the same and also sends every snapshot in between.
-R sends the dataset's descendants, their properties and snapshots too.

-w (raw) sends the blocks exactly as stored, still encrypted: the receiver
needs no key and cannot read the data until "load-key" with the original
key. Without -w, an encrypted dataset is sent decrypted (plaintext); a
warning is printed on stderr.

-n estimates the stream size and sends nothing. -v prints the estimate,
then a progress line every second and a closing line on stderr; -P prints
the estimate in a parsable form (with -v, the progress lines too).
-t TOKEN resumes an interrupted send from the receive_resume_token of the
target of a "receive -s".`,
		Example: `  coffer send -w tank/media@first | ssh backup coffer receive -u backup/media
  coffer send -w -I @first tank/media@third | ssh backup coffer receive -u backup/media
  coffer send -R -i tank@monday tank@tuesday > /backup/tank-tuesday.stream
  coffer send -nvP tank/home@now
  coffer send -t 1-c8f7a3b2-f0-789c... | ssh backup coffer receive -s backup/media`,
		Annotations: map[string]string{"usage": "send [-wRvPn] [-i SNAPSHOT | -I SNAPSHOT] SNAPSHOT\nsend [-vPn] -t TOKEN"},
		Args:        maxArgs(1),
		RunE:        runE(func(ctx context.Context, args []string) error { return runSend(ctx, a, opts, args) }),
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.raw, "raw", "w", false, "raw: send blocks as stored, encrypted")
	f.BoolVarP(&opts.replicate, "replicate", "R", false, "send descendants, properties and snapshots too")
	f.StringVarP(&opts.incremental, "incremental", "i", "", "incremental from SNAPSHOT")
	f.StringVarP(&opts.intermediates, "intermediates", "I", "", "incremental from SNAPSHOT with all snapshots in between")
	f.BoolVarP(&opts.verbose, "verbose", "v", false, "print the estimate and progress on stderr")
	f.BoolVarP(&opts.parsable, "parsable", "P", false, "print the estimate (and with -v, progress) in parsable form")
	f.BoolVarP(&opts.dryRun, "dryrun", "n", false, "estimate only, send nothing")
	f.StringVarP(&opts.token, "token", "t", "", "resume the send described by a receive_resume_token")
	return cmd
}

// sendRequest maps the command line to the API request.
func sendRequest(opts sendOptions, args []string) (api.SendReq, error) {
	var req api.SendReq
	switch {
	case opts.incremental != "" && opts.intermediates != "":
		return req, usagef("-i and -I are mutually exclusive")
	case opts.token != "" && len(args) > 0:
		return req, usagef("cannot specify a snapshot with -t")
	case opts.token != "" && (opts.raw || opts.replicate || opts.incremental != "" || opts.intermediates != ""):
		return req, usagef("-t cannot be combined with -w, -R, -i or -I: the token holds them")
	case opts.token != "":
		return api.SendReq{Token: opts.token}, nil
	case len(args) == 0:
		return req, usagef("missing snapshot argument")
	}
	req = api.SendReq{Snapshot: args[0], Raw: opts.raw, Replicate: opts.replicate, From: opts.incremental}
	if opts.intermediates != "" {
		req.From, req.Intermediates = opts.intermediates, true
	}
	return req, nil
}

func runSend(ctx context.Context, a *app, opts sendOptions, args []string) error {
	req, err := sendRequest(opts, args)
	if err != nil {
		return err
	}
	if !opts.dryRun && isTerminal(a.env.Stdout) {
		return errors.New("cannot send: stream cannot be written to a terminal; redirect standard output")
	}
	var est api.SendEstimate
	if err := a.call(ctx, api.MSendEstimate, req, &est); err != nil {
		return err
	}
	if w := est.Warning; w != "" {
		if !strings.HasPrefix(strings.ToLower(w), "warning") {
			w = "warning: " + w
		}
		fmt.Fprintln(a.env.Stderr, w)
	}
	if opts.verbose || opts.parsable {
		fmt.Fprint(a.env.Stderr, estimateLines(est, opts.parsable))
	}
	if opts.dryRun {
		return nil
	}

	out := &countingWriter{w: a.env.Stdout}
	var prog *progress
	if opts.verbose {
		label := req.Snapshot
		if label == "" && len(est.Streams) > 0 {
			label = est.Streams[len(est.Streams)-1].To
		}
		prog = newProgress(a.env.Stderr, a.location(), label, est.Bytes, opts.parsable, out.n.Load)
		prog.run(progressInterval)
	}
	start := time.Now()
	c, err := a.apiClient()
	if err != nil {
		return err
	}
	if f, ok := a.env.Stdout.(*os.File); ok {
		// The daemon writes the stream to our standard output itself.
		_, err = c.SendFile(ctx, req, f, &out.n)
	} else {
		_, err = c.Send(ctx, req, out)
	}
	if prog != nil {
		prog.stop()
	}
	if err != nil {
		return err
	}
	if opts.verbose && !opts.parsable {
		fmt.Fprint(a.env.Stderr, summary("sent", out.n.Load(), time.Since(start)))
	}
	return nil
}

// apiClient is the client of the daemon, for the streaming calls that
// app.call does not cover.
func (a *app) apiClient() (*api.Client, error) { return a.connect() }
