package cli

import (
	"context"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type poolDestroyOptions struct{}

func newPoolDestroyCommand(a *app) *cobra.Command {
	var opts poolDestroyOptions
	return &cobra.Command{
		Use:     "destroy POOL",
		Short:   "Destroy a pool and everything in it",
		Example: `  coffer pool destroy tank`,
		Args:    exactArgs(1, "pool"),
		RunE:    runE(func(ctx context.Context, args []string) error { return runPoolDestroy(ctx, a, opts, args) }),
	}
}

func runPoolDestroy(ctx context.Context, a *app, _ poolDestroyOptions, args []string) error {
	return a.call(ctx, api.MPoolDestroy, api.PoolNameReq{Name: args[0]}, nil)
}
