package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type mountOptions struct {
	all bool // -a
}

func newMountCommand(a *app) *cobra.Command {
	var opts mountOptions
	cmd := &cobra.Command{
		Use:   "mount [-a | FILESYSTEM]",
		Short: "Mount file systems at their mountpoint (FUSE), or list mounted ones",
		Long: `Mount a file system at its mountpoint property (default /POOL/PATH; the
directory is created if missing and must be empty). -a mounts every file
system with canmount=on whose key is loaded. Without arguments, list the
mounted file systems and their mountpoints.

readonly=on mounts read-only. Snapshots are browsable, read-only, under
MOUNTPOINT/.coffer/snapshot/NAME/. A file system whose key is not loaded
cannot be mounted ("encryption key not loaded").`,
		Example: `  coffer mount tank/media
  coffer mount -a
  coffer mount                 # list mounted file systems
  ls /tank/media/.coffer/snapshot/monday/`,
		Args: maxArgs(1),
		RunE: runE(func(ctx context.Context, args []string) error { return runMount(ctx, a, opts, args) }),
	}
	cmd.Flags().BoolVarP(&opts.all, "all", "a", false, "mount every mountable file system")
	return cmd
}

func runMount(ctx context.Context, a *app, opts mountOptions, args []string) error {
	switch {
	case opts.all && len(args) > 0:
		return usagef("cannot specify dataset with -a")
	case opts.all:
		return a.call(ctx, api.MMount, api.MountReq{All: true}, nil)
	case len(args) == 1:
		return a.call(ctx, api.MMount, api.MountReq{Name: args[0]}, nil)
	}
	var resp api.MountsResp
	if err := a.call(ctx, api.MMounts, struct{}{}, &resp); err != nil {
		return err
	}
	width := 0
	for _, m := range resp.Mounts {
		width = max(width, len(m.Name))
	}
	for _, m := range resp.Mounts {
		fmt.Fprintf(a.env.Stdout, "%-*s  %s\n", width, m.Name, m.Mountpoint)
	}
	return nil
}
