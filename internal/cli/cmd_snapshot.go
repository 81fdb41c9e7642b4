package cli

import (
	"context"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type snapshotOptions struct {
	recursive bool     // -r
	props     []string // -o
}

func newSnapshotCommand(a *app) *cobra.Command {
	var opts snapshotOptions
	cmd := &cobra.Command{
		Use:     "snapshot [-r] [-o property=value]... DATASET@SNAPNAME...",
		Aliases: []string{"snap"},
		Short:   "Take snapshots (atomically, all at once)",
		Long: `Take read-only snapshots of datasets. All names given (and with -r, the
descendants) are snapshotted atomically. Works on locked datasets too.`,
		Example: `  coffer snapshot tank/home@monday
  coffer snapshot -r tank@nightly-2024-06-01
  coffer snapshot -o com.example:why=upgrade tank/a@pre tank/b@pre`,
		Args: minArgs(1, "snapshot"),
		RunE: runE(func(ctx context.Context, args []string) error { return runSnapshot(ctx, a, opts, args) }),
	}
	cmd.Flags().BoolVarP(&opts.recursive, "recursive", "r", false, "snapshot descendants too")
	cmd.Flags().StringArrayVarP(&opts.props, "property", "o", nil, "set a property on the snapshots (repeatable)")
	return cmd
}

func runSnapshot(ctx context.Context, a *app, opts snapshotOptions, args []string) error {
	props, err := parseAssignments(opts.props)
	if err != nil {
		return err
	}
	return a.call(ctx, api.MSnapshot, api.SnapshotReq{Names: args, Recursive: opts.recursive, Props: props}, nil)
}
