package cli

import (
	"context"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type unmountOptions struct {
	force bool // -f
}

func newUnmountCommand(a *app) *cobra.Command {
	var opts unmountOptions
	cmd := &cobra.Command{
		Use:     "unmount [-f] FILESYSTEM|MOUNTPOINT",
		Aliases: []string{"umount"},
		Short:   "Unmount a file system",
		Long: `Unmount a mounted file system, named by dataset or mountpoint. Everything
it wrote is committed first. A file system in use is refused
("pool or dataset is busy") unless -f forces it: the FUSE connection is
aborted and the mountpoint detached, and processes using it get errors.`,
		Example: `  coffer unmount tank/media
  coffer umount /tank/media
  coffer unmount -f tank/media`,
		Args: maxArgs(1),
		RunE: runE(func(ctx context.Context, args []string) error { return runUnmount(ctx, a, opts, args) }),
	}
	cmd.Flags().BoolVarP(&opts.force, "force", "f", false, "unmount even when busy")
	return cmd
}

func runUnmount(ctx context.Context, a *app, opts unmountOptions, args []string) error {
	if len(args) == 0 {
		return usagef("missing dataset argument")
	}
	return a.call(ctx, api.MUnmount, api.UnmountReq{Name: args[0], Force: opts.force}, nil)
}
