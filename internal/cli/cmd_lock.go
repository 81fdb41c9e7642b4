package cli

import (
	"context"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type lockOptions struct {
	force bool // -f
}

func newLockCommand(a *app) *cobra.Command {
	var opts lockOptions
	cmd := &cobra.Command{
		Use:   "lock [-f] DATASET",
		Short: "Unmount an encryption root's file systems and unload its key",
		Long: `Lock an encryption root, as TrueNAS's Lock button does: its file systems
(and those of every dataset that inherits its key) are unmounted, then the
key is unloaded. A busy file system refuses unless -f, which ends the open
handles first.`,
		Example: `  coffer lock tank/media
  coffer lock -f tank/media      # even with files open`,
		Args: exactArgs(1, "dataset"),
		RunE: runE(func(ctx context.Context, args []string) error {
			return a.call(ctx, api.MLock, api.LockReq{Name: args[0], Force: opts.force}, nil)
		}),
	}
	cmd.Flags().BoolVarP(&opts.force, "force", "f", false, "unmount busy file systems")
	return cmd
}
