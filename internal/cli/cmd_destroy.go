package cli

import (
	"context"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type destroyOptions struct {
	recursive bool // -r
	force     bool // -f
	dryRun    bool // -n
}

func newDestroyCommand(a *app) *cobra.Command {
	var opts destroyOptions
	cmd := &cobra.Command{
		Use:   "destroy [-fnr] DATASET|SNAPSHOT",
		Short: "Destroy a dataset or snapshot (its keys are destroyed with it)",
		Long: `Destroy a file system, volume or snapshot. -r also destroys children and
snapshots; -f unmounts busy file systems; -n checks without destroying.
The dataset's wrapped keys go with it: what remains on disk is unreadable.`,
		Example: `  coffer destroy tank/old
  coffer destroy -r tank/projects
  coffer destroy tank/home@yesterday`,
		Args: exactArgs(1, "dataset"),
		RunE: runE(func(ctx context.Context, args []string) error { return runDestroy(ctx, a, opts, args) }),
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.recursive, "recursive", "r", false, "destroy children and snapshots too")
	f.BoolVarP(&opts.force, "force", "f", false, "force unmount")
	f.BoolVarP(&opts.dryRun, "dry-run", "n", false, "check only, destroy nothing")
	return cmd
}

func runDestroy(ctx context.Context, a *app, opts destroyOptions, args []string) error {
	req := api.DestroyReq{Name: args[0], Recursive: opts.recursive, Force: opts.force, DryRun: opts.dryRun}
	return a.call(ctx, api.MDestroy, req, nil)
}
