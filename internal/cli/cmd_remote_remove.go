package cli

import (
	"context"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type remoteRemoveOptions struct{}

func newRemoteRemoveCommand(a *app) *cobra.Command {
	var opts remoteRemoveOptions
	return &cobra.Command{
		Use:     "remove NAME",
		Short:   "Forget a remote and its credentials (its backups stay in the bucket)",
		Example: `  coffer remote remove offsite`,
		Args:    exactArgs(1, "remote name"),
		RunE:    runE(func(ctx context.Context, args []string) error { return runRemoteRemove(ctx, a, opts, args) }),
	}
}

func runRemoteRemove(ctx context.Context, a *app, _ remoteRemoveOptions, args []string) error {
	return a.call(ctx, api.MRemoteRemove, api.RemoteNameReq{Name: args[0]}, nil)
}
