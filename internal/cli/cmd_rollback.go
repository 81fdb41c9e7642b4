package cli

import (
	"context"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type rollbackOptions struct {
	destroyLater bool // -r
}

func newRollbackCommand(a *app) *cobra.Command {
	var opts rollbackOptions
	cmd := &cobra.Command{
		Use:   "rollback [-r] SNAPSHOT",
		Short: "Roll a dataset back to a snapshot",
		Long: `Discard every change made to a dataset since SNAPSHOT. Without -r only the
most recent snapshot can be the target; -r destroys the later snapshots.`,
		Example: `  coffer rollback tank/home@monday
  coffer rollback -r tank/home@last-week`,
		Args: exactArgs(1, "snapshot"),
		RunE: runE(func(ctx context.Context, args []string) error { return runRollback(ctx, a, opts, args) }),
	}
	cmd.Flags().BoolVarP(&opts.destroyLater, "recursive", "r", false, "destroy later snapshots")
	return cmd
}

func runRollback(ctx context.Context, a *app, opts rollbackOptions, args []string) error {
	return a.call(ctx, api.MRollback, api.RollbackReq{Snapshot: args[0], DestroyLater: opts.destroyLater}, nil)
}
