package cli

import (
	"context"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

type versionOptions struct{}

func newVersionCommand(a *app) *cobra.Command {
	var opts versionOptions
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version of coffer",
		Example: `  coffer version`,
		Args:    exactArgs(0, ""),
		RunE:    runE(func(ctx context.Context, args []string) error { return runVersion(ctx, a, opts, args) }),
	}
}

func runVersion(_ context.Context, a *app, _ versionOptions, _ []string) error {
	_, err := fmt.Fprintf(a.env.Stdout, "coffer %s (%s %s/%s)\n", Version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
