package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type receiveOptions struct {
	verbose   bool     // -v
	force     bool     // -F
	noMount   bool     // -u
	resumable bool     // -s
	props     []string // -o
	exclude   []string // -x
	abort     bool     // -A
}

func newReceiveCommand(a *app) *cobra.Command {
	var opts receiveOptions
	cmd := &cobra.Command{
		Use:     "receive [-vFus] [-o property=value]... [-x property]... DATASET",
		Aliases: []string{"recv"},
		Short:   "Create datasets and snapshots from a stream on standard input",
		Long: `Read a stream written by "coffer send" from standard input (which must not
be a terminal) and create the dataset and snapshots it holds under DATASET.
A corrupted, truncated or mismatched stream is refused and the target is
left as it was.

A full stream creates DATASET; an incremental one adds snapshots to it,
which must then be at the stream's starting snapshot. -F first rolls
DATASET back to its latest snapshot, discarding changes made on the
receiving side. -u does not mount what was received. -o sets a
property on the received dataset (overriding a sent one); -x keeps a sent
property from being set (the dataset inherits it instead).

A raw (send -w) stream of an encrypted dataset arrives encrypted, with
keystatus unavailable, and stays that way until "load-key" with the
original key.

-s saves the state of an interrupted receive: the target's
receive_resume_token property then holds the token for "send -t". -A
discards that saved state. -v prints a progress line every second while
the stream is read (with an estimate of the time left when standard input
is a file), then each snapshot received and a closing line, on stderr.`,
		Example: `  coffer send -w tank/media@first | ssh backup coffer receive -u backup/media
  coffer send -w -I @first tank/media@third | ssh backup coffer receive -u backup/media
  coffer receive -v -F -o mountpoint=/srv/restore backup/home < /backup/home.stream
  coffer recv -s -x mountpoint backup/media < media.stream
  coffer receive -A backup/media`,
		Annotations: map[string]string{"usage": "receive [-vFus] [-o property=value]... [-x property]... DATASET\nreceive -A DATASET"},
		Args:        exactArgs(1, "dataset"),
		RunE:        runE(func(ctx context.Context, args []string) error { return runReceive(ctx, a, opts, args) }),
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.verbose, "verbose", "v", false, "print what was received on stderr")
	f.BoolVarP(&opts.force, "force", "F", false, "roll the target back to its latest snapshot first")
	f.BoolVarP(&opts.noMount, "nomount", "u", false, "do not mount the received file systems")
	f.BoolVarP(&opts.resumable, "resumable", "s", false, "save the state of an interrupted receive for send -t")
	f.StringArrayVarP(&opts.props, "property", "o", nil, "set a property on the received dataset (repeatable)")
	f.StringArrayVarP(&opts.exclude, "exclude", "x", nil, "do not set this sent property (repeatable)")
	f.BoolVarP(&opts.abort, "abort", "A", false, "discard the saved state of an interrupted receive")
	return cmd
}

// receiveRequest maps the command line to the API request.
func receiveRequest(opts receiveOptions, args []string) (api.ReceiveReq, error) {
	props, err := parseAssignments(opts.props)
	if err != nil {
		return api.ReceiveReq{}, err
	}
	req := api.ReceiveReq{Target: args[0], Force: opts.force, NoMount: opts.noMount, Resumable: opts.resumable, Props: props}
	for _, x := range opts.exclude {
		if x == "" {
			return req, usagef("missing property name for -x")
		}
		if c, known := canonicalProp(x); known {
			x = c
		}
		if _, both := props[x]; both {
			return req, usagef("property '%s' specified with both -o and -x", x)
		}
		req.Exclude = append(req.Exclude, x)
	}
	return req, nil
}

// remaining is what is left to read of f when it is a regular file (the
// size of the stream to come), else 0 (unknown).
func remaining(f *os.File) uint64 {
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		return 0
	}
	off, err := f.Seek(0, io.SeekCurrent)
	if err != nil || off > fi.Size() {
		return 0
	}
	return uint64(fi.Size() - off)
}

func runReceive(ctx context.Context, a *app, opts receiveOptions, args []string) error {
	if opts.abort {
		if opts.verbose || opts.force || opts.noMount || opts.resumable || len(opts.props) > 0 || len(opts.exclude) > 0 {
			return usagef("-A cannot be combined with other options")
		}
		return a.call(ctx, api.MReceiveAbort, api.ReceiveAbortReq{Target: args[0]}, nil)
	}
	req, err := receiveRequest(opts, args)
	if err != nil {
		return err
	}
	if a.env.Terminal != nil || isTerminal(a.env.Stdin) {
		return errors.New("cannot receive: standard input is a terminal")
	}
	in := &countingReader{r: a.env.Stdin}
	f, isFile := a.env.Stdin.(*os.File)
	var prog *progress
	if opts.verbose {
		var total uint64
		if isFile {
			total = remaining(f)
		}
		prog = newProgress(a.env.Stderr, a.location(), req.Target, total, false, in.n.Load)
		prog.receive = true
		prog.run(progressInterval)
	}
	start := time.Now()
	c, err := a.apiClient()
	if err != nil {
		prog.stop()
		return err
	}
	var resp api.ReceiveResp
	if isFile {
		// The daemon reads the stream from our standard input itself.
		resp, err = c.ReceiveFile(ctx, req, f, &in.n)
		in.n.Store(resp.Bytes)
	} else {
		resp, err = c.Receive(ctx, req, in)
	}
	prog.stop()
	if err != nil {
		return err
	}
	if opts.verbose {
		for _, s := range resp.Received {
			fmt.Fprintf(a.env.Stderr, "received snapshot %s\n", s)
		}
		fmt.Fprint(a.env.Stderr, summary("received", in.n.Load(), time.Since(start)))
	}
	return nil
}
