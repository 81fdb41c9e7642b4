package cli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type setOptions struct{}

func newSetCommand(a *app) *cobra.Command {
	var opts setOptions
	return &cobra.Command{
		Use:   "set PROPERTY=VALUE... DATASET",
		Short: "Set properties of a dataset",
		Example: `  coffer set compression=lz4 tank/home
  coffer set mountpoint=/srv/media readonly=on tank/media
  coffer set com.example:owner=alice tank/home`,
		Args: minArgs(2, "property=value or dataset"),
		RunE: runE(func(ctx context.Context, args []string) error { return runSet(ctx, a, opts, args) }),
	}
}

func runSet(ctx context.Context, a *app, _ setOptions, args []string) error {
	assigns, ds := args[:len(args)-1], args[len(args)-1]
	if strings.Contains(ds, "=") {
		return usagef("missing dataset argument")
	}
	props, err := parseAssignments(assigns)
	if err != nil {
		return err
	}
	return a.call(ctx, api.MSet, api.SetReq{Name: ds, Props: props}, nil)
}
