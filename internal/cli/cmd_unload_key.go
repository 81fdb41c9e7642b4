package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type unloadKeyOptions struct {
	recursive bool // -r
	all       bool // -a
}

func newUnloadKeyCommand(a *app) *cobra.Command {
	var opts unloadKeyOptions
	cmd := &cobra.Command{
		Use:   "unload-key [-r] -a | DATASET",
		Short: "Unload keys: the datasets become locked (unreadable until load-key)",
		Long: `Forget the key of an encryption root (-r: and of the encryption roots
below it; -a: of all). Its file systems must not be mounted. With -r or -a,
"N / M key(s) successfully unloaded" is printed.`,
		Example: `  coffer unload-key tank/media
  coffer unload-key -r tank
  coffer unload-key -a`,
		Annotations: map[string]string{"usage": "unload-key [-r] DATASET\nunload-key -a"},
		Args:        maxArgs(1),
		RunE:        runE(func(ctx context.Context, args []string) error { return runUnloadKey(ctx, a, opts, args) }),
	}
	cmd.Flags().BoolVarP(&opts.recursive, "recursive", "r", false, "also the encryption roots below DATASET")
	cmd.Flags().BoolVarP(&opts.all, "all", "a", false, "every encryption root")
	return cmd
}

func runUnloadKey(ctx context.Context, a *app, opts unloadKeyOptions, args []string) error {
	req := api.UnloadKeyReq{Recursive: opts.recursive, All: opts.all}
	switch {
	case opts.all && len(args) > 0:
		return usagef("cannot specify dataset with -a")
	case opts.all && opts.recursive:
		return usagef("-a and -r are mutually exclusive")
	case !opts.all && len(args) == 0:
		return usagef("missing dataset argument")
	case !opts.all:
		req.Name = args[0]
	}
	var resp api.UnloadKeyResp
	if err := a.call(ctx, api.MUnloadKey, req, &resp); err != nil {
		return err
	}
	if opts.all || opts.recursive {
		n := len(resp.Unloaded)
		fmt.Fprintf(a.env.Stdout, "%d / %d key(s) successfully unloaded\n", n, n)
	}
	return nil
}
