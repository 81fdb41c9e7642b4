package cli

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type rekeyOptions struct {
	recursive bool
	asJSON    bool
	status    bool
	noWait    bool
	interval  time.Duration
}

func newRekeyCommand(a *app) *cobra.Command {
	opts := rekeyOptions{interval: progressInterval}
	cmd := &cobra.Command{
		Use:   "rekey [-r] [-j] [--no-wait | --status] DATASET",
		Short: "Give a dataset a new master key and re-encrypt every block, snapshots included",
		Long: `Deep rekey: generate a new master key for DATASET, wrap it with the
dataset's current user key, and re-encrypt every block of the dataset and
of all its snapshots with it, while the dataset stays mounted and writable.
Blocks shared between snapshots stay shared. When it is done the old master
key opens no block of the dataset; the user key (passphrase or key file) is
unchanged — change it with 'coffer change-key'.

The rekey runs in the daemon. This command prints progress on stderr and
returns when it is done (--no-wait: at once). An interrupted rekey (daemon
stopped, crash, power loss) continues when the key is loaded again, or when
this command is run again. While a rekey is unfinished, the dataset's
snapshots cannot be destroyed or rolled back to and nothing can be received
into it.

-r rekeys every encrypted dataset at or below DATASET that shares its
encryption root (each has its own master key); without it only DATASET.

A raw incremental stream between a snapshot taken before and one after a
rekey cannot be received onto a copy that has the old master key: send a
full stream once.`,
		Example: `  coffer rekey tank/secret
  coffer rekey -r tank/home
  coffer rekey --no-wait tank/big && coffer rekey --status tank/big
  coffer rekey --status -j tank/secret`,
		Args: exactArgs(1, "dataset"),
		RunE: runE(func(ctx context.Context, args []string) error { return runRekey(ctx, a, opts, args) }),
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.recursive, "recursive", "r", false, "also the datasets below sharing the encryption root")
	f.BoolVarP(&opts.asJSON, "json", "j", false, "JSON output")
	f.BoolVar(&opts.status, "status", false, "show the rekey state instead of starting one")
	f.BoolVar(&opts.noWait, "no-wait", false, "start the rekey and return")
	return cmd
}

func runRekey(ctx context.Context, a *app, opts rekeyOptions, args []string) error {
	req := api.RekeyReq{Name: args[0], Recursive: opts.recursive}
	if opts.status {
		var st api.RekeyStatusResp
		if err := a.call(ctx, api.MRekeyStatus, req, &st); err != nil {
			return err
		}
		return printRekeyStatus(a, opts, st.Datasets)
	}
	var resp api.RekeyResp
	if err := a.call(ctx, api.MRekey, req, &resp); err != nil {
		return err
	}
	if opts.noWait {
		if opts.asJSON {
			return printer{w: a.env.Stdout}.json(resp)
		}
		for _, n := range resp.Datasets {
			fmt.Fprintf(a.env.Stdout, "rekey of '%s' started\n", n)
		}
		return nil
	}
	if !opts.asJSON {
		fmt.Fprintf(a.env.Stderr, "%-8s  %7s  %7s  %-9s  %s\n", "TIME", "WRITTEN", "TOTAL", "SNAPSHOTS", "DATASET")
	}
	t := time.NewTicker(opts.interval)
	defer t.Stop()
	want := map[string]bool{}
	for _, n := range resp.Datasets {
		want[n] = true
	}
	for {
		var st api.RekeyStatusResp
		if err := a.call(ctx, api.MRekeyStatus, req, &st); err != nil {
			return err
		}
		var mine []api.RekeyStatus
		pending := false
		for _, s := range st.Datasets {
			if !want[s.Dataset] {
				continue
			}
			mine = append(mine, s)
			if s.LastError != "" {
				if opts.asJSON {
					_ = printer{w: a.env.Stdout}.json(api.RekeyStatusResp{Datasets: mine})
				}
				return fmt.Errorf("%s", s.LastError)
			}
			if s.State != "none" || s.Finished == 0 {
				pending = true
				if s.State == "running" && !opts.asJSON {
					fmt.Fprintf(a.env.Stderr, "%s  %7s  %7s  %-9s  %s\n", time.Now().Format("15:04:05"),
						nicenum(s.Bytes, niceBytes), nicenum(s.TotalSize, niceBytes),
						strconv.Itoa(s.SnapsDone)+"/"+strconv.Itoa(s.Snaps), s.Dataset)
				}
			}
		}
		if !pending {
			if opts.asJSON {
				return printer{w: a.env.Stdout}.json(api.RekeyStatusResp{Datasets: mine})
			}
			for _, s := range mine {
				fmt.Fprintf(a.env.Stdout, "rekeyed '%s': new master key, %d snapshots re-encrypted\n", s.Dataset, s.Snaps)
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func printRekeyStatus(a *app, opts rekeyOptions, sts []api.RekeyStatus) error {
	if opts.asJSON {
		return printer{w: a.env.Stdout}.json(api.RekeyStatusResp{Datasets: sts})
	}
	rows := make([][]string, 0, len(sts))
	for _, s := range sts {
		snaps, written := "-", "-"
		if s.State != "none" {
			snaps = strconv.Itoa(s.SnapsDone) + "/" + strconv.Itoa(s.Snaps)
		}
		if s.State == "running" {
			written = nicenum(s.Bytes, niceBytes) + "/" + nicenum(s.TotalSize, niceBytes)
		}
		last := "-"
		if s.LastError != "" {
			last = s.LastError
		}
		rows = append(rows, []string{s.Dataset, s.State, snaps, written, last})
	}
	printer{w: a.env.Stdout}.table([]string{"DATASET", "STATE", "SNAPSHOTS", "WRITTEN", "LAST ERROR"}, rows)
	return nil
}
