package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

func newPoolUpgradeCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "upgrade [-j] [POOL]",
		Short: "Raise a pool's on-disk format to the latest version, or list pools that are older",
		Long: `Without POOL, list the imported pools whose format is older than the one
this coffer writes. With POOL, raise its format to the latest version, as
"zpool upgrade" enables a pool's features. Version 2 checksums new blocks
with XXH3-64 instead of xxhash64, which costs a sixth as much on every
write and read; blocks already written keep their checksums. A coffer that
predates the new version cannot import the pool afterwards; there is no way
back. A pool that is already at the latest version is left as it is.`,
		Example: `  coffer pool upgrade
  coffer pool upgrade tank`,
		Args: maxArgs(1),
		RunE: runE(func(ctx context.Context, args []string) error {
			if len(args) == 0 {
				return listUpgradable(ctx, a)
			}
			var resp api.PoolUpgradeResp
			if err := a.call(ctx, api.MPoolUpgrade, api.PoolNameReq{Name: args[0]}, &resp); err != nil {
				return err
			}
			if asJSON {
				return printer{w: a.env.Stdout}.json(resp)
			}
			if resp.From == resp.To {
				fmt.Fprintf(a.env.Stdout, "pool '%s' is already at format version %d\n", resp.Pool, resp.To)
			} else {
				fmt.Fprintf(a.env.Stdout, "pool '%s' upgraded from format version %d to %d\n", resp.Pool, resp.From, resp.To)
			}
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	return cmd
}

// listUpgradable prints the pools older than the latest format version.
func listUpgradable(ctx context.Context, a *app) error {
	var pools []api.PoolStatus
	if err := a.call(ctx, api.MPoolStatus, api.PoolNameReq{}, &pools); err != nil {
		return err
	}
	var old []api.PoolStatus
	latest := 0
	for _, p := range pools {
		latest = max(latest, p.Latest)
		if p.Version < p.Latest {
			old = append(old, p)
		}
	}
	if len(old) == 0 {
		if latest > 0 {
			fmt.Fprintf(a.env.Stdout, "All pools are formatted with the latest version (%d).\n", latest)
		} else {
			fmt.Fprintln(a.env.Stdout, "no pools available")
		}
		return nil
	}
	fmt.Fprintf(a.env.Stdout, "These pools are formatted with an older version than %d; upgrade one with 'coffer pool upgrade POOL':\n\n", latest)
	fmt.Fprintf(a.env.Stdout, "VERSION  POOL\n")
	for _, p := range old {
		fmt.Fprintf(a.env.Stdout, "%7d  %s\n", p.Version, p.Name)
	}
	return nil
}
