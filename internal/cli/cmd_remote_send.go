package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type remoteSendOptions struct {
	from    string // -i
	verbose bool   // -v
}

func newRemoteSendCommand(a *app) *cobra.Command {
	var opts remoteSendOptions
	cmd := &cobra.Command{
		Use:   "send [-v] [-i SNAPSHOT] NAME SNAPSHOT",
		Short: "Back a snapshot up to a remote as a raw stream",
		Long: `Send SNAPSHOT raw (blocks as stored: an encrypted dataset leaves encrypted,
without its key) to the remote NAME. Without -i the stream is incremental
from the newest backup of the dataset on the remote when that snapshot
still exists here, else it is a full stream. -i SNAPSHOT (@snap or
ds@snap) chooses the base; the remote must hold a backup of it. A snapshot
the remote already holds is refused. -v prints what was sent on stderr.`,
		Example: `  coffer remote send offsite tank/media@monday
  coffer remote send -i @monday offsite tank/media@tuesday`,
		Args: exactArgs(2, "remote name or snapshot"),
		RunE: runE(func(ctx context.Context, args []string) error { return runRemoteSend(ctx, a, opts, args) }),
	}
	f := cmd.Flags()
	f.StringVarP(&opts.from, "incremental", "i", "", "incremental from this snapshot")
	f.BoolVarP(&opts.verbose, "verbose", "v", false, "print what was sent on stderr")
	return cmd
}

func runRemoteSend(ctx context.Context, a *app, opts remoteSendOptions, args []string) error {
	var resp api.RemoteSendResp
	req := api.RemoteSendReq{Remote: args[0], Snapshot: args[1], From: opts.from}
	if err := a.call(ctx, api.MRemoteSend, req, &resp); err != nil {
		return err
	}
	if opts.verbose {
		b := resp.Backup
		kind := "full"
		if b.FromGUID != 0 {
			kind = "incremental from " + b.From
		}
		fmt.Fprintf(a.env.Stderr, "sent %s to remote '%s' (%s) as %s\n", b.Name, req.Remote, kind, b.Object)
		fmt.Fprintf(a.env.Stderr, "sent %s stream in %.2f seconds (%s/sec)\n", nicenum(uint64(b.Bytes), niceNum), resp.Seconds, rate(b.Bytes, resp.Seconds))
	}
	return nil
}

func rate(n int64, secs float64) string {
	if secs <= 0 {
		return "-"
	}
	return nicenum(uint64(float64(n)/secs), niceNum)
}
