package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type remoteBackupsOptions struct {
	scripted bool // -H
	exact    bool // -p
	json     bool // -j
}

func newRemoteBackupsCommand(a *app) *cobra.Command {
	var opts remoteBackupsOptions
	cmd := &cobra.Command{
		Use:   "list-backups [-Hpj] NAME DATASET",
		Short: "List the backup chain of a dataset on a remote",
		Long: `List the streams the remote NAME holds of DATASET, in the order they were
sent: the snapshot, full or the snapshot it is incremental from, size,
when it was sent, and the object. -H: no header, tab-separated; -p: exact
bytes and Unix seconds; -j: one line of JSON (with GUIDs and SHA-256).`,
		Example: `  coffer remote list-backups offsite tank/media
  coffer remote list-backups -j offsite tank/media`,
		Args: exactArgs(2, "remote name or dataset"),
		RunE: runE(func(ctx context.Context, args []string) error { return runRemoteBackups(ctx, a, opts, args) }),
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.scripted, "scripted", "H", false, "no header, tab-separated")
	f.BoolVarP(&opts.exact, "parsable", "p", false, "exact numbers")
	f.BoolVarP(&opts.json, "json", "j", false, "JSON output")
	return cmd
}

// remoteBackupsJSON is the -j document of `remote list-backups`.
type remoteBackupsJSON struct {
	OutputVersion outputVersion      `json:"output_version"`
	Remote        string             `json:"remote"`
	Dataset       string             `json:"dataset"`
	Backups       []api.RemoteBackup `json:"backups"`
}

func runRemoteBackups(ctx context.Context, a *app, opts remoteBackupsOptions, args []string) error {
	var resp api.RemoteBackupsResp
	if err := a.call(ctx, api.MRemoteBackups, api.RemoteBackupsReq{Remote: args[0], Dataset: args[1]}, &resp); err != nil {
		return err
	}
	p := printer{w: a.env.Stdout, scripted: opts.scripted}
	if opts.json {
		return p.json(remoteBackupsJSON{OutputVersion: newOutputVersion("coffer remote list-backups"), Remote: args[0], Dataset: resp.Dataset, Backups: resp.Backups})
	}
	if len(resp.Backups) == 0 {
		fmt.Fprintf(a.env.Stderr, "no backups of '%s' on remote '%s'\n", args[1], args[0])
		return nil
	}
	var rows [][]string
	for _, b := range resp.Backups {
		from := "full"
		if b.FromGUID != 0 {
			from = b.From
			if from == "" {
				from = fmt.Sprintf("guid %d (missing)", b.FromGUID)
			}
		}
		size := nicenum(uint64(b.Bytes), niceNum)
		if opts.exact {
			size = fmt.Sprint(b.Bytes)
		}
		rows = append(rows, []string{b.Name, from, size, remoteTime(a, b.Created, opts.exact), b.Object})
	}
	p.table([]string{"SNAPSHOT", "FROM", "SIZE", "SENT", "OBJECT"}, rows)
	return nil
}
