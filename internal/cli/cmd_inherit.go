package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type inheritOptions struct {
	recursive bool // -r
}

func newInheritCommand(a *app) *cobra.Command {
	var opts inheritOptions
	cmd := &cobra.Command{
		Use:   "inherit [-r] PROPERTY DATASET...",
		Short: "Clear a local property so that it is inherited (or the default)",
		Example: `  coffer inherit compression tank/home
  coffer inherit -r mountpoint tank`,
		Args: minArgs(2, "property or dataset"),
		RunE: runE(func(ctx context.Context, args []string) error { return runInherit(ctx, a, opts, args) }),
	}
	cmd.Flags().BoolVarP(&opts.recursive, "recursive", "r", false, "inherit on descendants too")
	return cmd
}

func runInherit(ctx context.Context, a *app, opts inheritOptions, args []string) error {
	prop, ok := canonicalProp(args[0])
	if !ok || prop == "name" {
		return usagef("invalid property '%s'", args[0])
	}
	failed := false
	for _, ds := range args[1:] {
		err := a.call(ctx, api.MInherit, api.InheritReq{Name: ds, Prop: prop, Recursive: opts.recursive}, nil)
		if err != nil {
			if len(args) == 2 {
				return err
			}
			fmt.Fprintln(a.env.Stderr, err)
			failed = true
		}
	}
	if failed {
		return &exitError{1}
	}
	return nil
}
