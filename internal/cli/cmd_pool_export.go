package cli

import (
	"context"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type poolExportOptions struct{}

func newPoolExportCommand(a *app) *cobra.Command {
	var opts poolExportOptions
	return &cobra.Command{
		Use:     "export POOL",
		Short:   "Export a pool: close it so that it can be imported elsewhere",
		Example: `  coffer pool export tank`,
		Args:    exactArgs(1, "pool"),
		RunE:    runE(func(ctx context.Context, args []string) error { return runPoolExport(ctx, a, opts, args) }),
	}
}

func runPoolExport(ctx context.Context, a *app, _ poolExportOptions, args []string) error {
	return a.call(ctx, api.MPoolExport, api.PoolNameReq{Name: args[0]}, nil)
}
