package cli

import (
	"context"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type poolScrubOptions struct{}

func newPoolScrubCommand(a *app) *cobra.Command {
	var opts poolScrubOptions
	return &cobra.Command{
		Use:   "scrub POOL",
		Short: "Start a scrub: read and verify every block, repair from mirror copies",
		Example: `  coffer pool scrub tank
  coffer pool status tank   # progress and result`,
		Args: exactArgs(1, "pool"),
		RunE: runE(func(ctx context.Context, args []string) error { return runPoolScrub(ctx, a, opts, args) }),
	}
}

func runPoolScrub(ctx context.Context, a *app, _ poolScrubOptions, args []string) error {
	return a.call(ctx, api.MPoolScrub, api.PoolNameReq{Name: args[0]}, nil)
}
