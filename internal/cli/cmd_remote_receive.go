package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type remoteReceiveOptions struct {
	force   bool // -F
	verbose bool // -v
}

func newRemoteReceiveCommand(a *app) *cobra.Command {
	var opts remoteReceiveOptions
	cmd := &cobra.Command{
		Use:   "receive [-vF] NAME DATASET@SNAP TARGET",
		Short: "Restore a snapshot from a remote",
		Long: `Restore DATASET@SNAP (as named on the remote NAME) into the dataset TARGET:
the full stream and every incremental up to SNAP, each checked against the
manifest's SHA-256 before anything is received and verified again by the
receiver. When TARGET's newest snapshot is part of the chain, only the
streams after it are received. A damaged or missing object is refused and
TARGET is left as it was. -F rolls TARGET back to its newest snapshot (or
replaces it, for a full stream) first. -v lists the snapshots received on
stderr. An encrypted dataset arrives locked: load-key with its passphrase.`,
		Example: `  coffer remote receive offsite tank/media@tuesday tank/media-restored
  coffer load-key tank/media-restored && coffer mount tank/media-restored`,
		Args: exactArgs(3, "remote name, snapshot or target"),
		RunE: runE(func(ctx context.Context, args []string) error { return runRemoteReceive(ctx, a, opts, args) }),
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.force, "force", "F", false, "roll back or replace the target first")
	f.BoolVarP(&opts.verbose, "verbose", "v", false, "list what was received on stderr")
	return cmd
}

func runRemoteReceive(ctx context.Context, a *app, opts remoteReceiveOptions, args []string) error {
	var resp api.RemoteReceiveResp
	req := api.RemoteReceiveReq{Remote: args[0], Snapshot: args[1], Target: args[2], Force: opts.force}
	if err := a.call(ctx, api.MRemoteReceive, req, &resp); err != nil {
		return err
	}
	if opts.verbose {
		for _, s := range resp.Received {
			fmt.Fprintf(a.env.Stderr, "received snapshot %s\n", s)
		}
		fmt.Fprintf(a.env.Stderr, "received %s stream in %.2f seconds (%s/sec)\n", nicenum(uint64(resp.Bytes), niceNum), resp.Seconds, rate(resp.Bytes, resp.Seconds))
	}
	return nil
}
