package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

func newPoolUpgradeCommand(a *app) *cobra.Command {
	var asJSON, all bool
	cmd := &cobra.Command{
		Use:   "upgrade [-j] [-a | POOL]",
		Short: "Raise a pool's on-disk format to the latest version, or list pools that are older",
		Long: `Without POOL, list the imported pools whose format is older than the one
this coffer writes. With POOL, raise its format to the latest version, as
"zpool upgrade" enables a pool's features. Version 2 checksums new blocks
with XXH3-64 instead of xxhash64, which costs a sixth as much on every
write and read; blocks already written keep their checksums. A coffer that
predates the new version cannot import the pool afterwards; there is no way
back. A pool that is already at the latest version is left as it is. -a
upgrades every imported pool that is older.`,
		Example: `  coffer pool upgrade
  coffer pool upgrade tank
  coffer pool upgrade -a`,
		Args: maxArgs(1),
		RunE: runE(func(ctx context.Context, args []string) error {
			if all && len(args) > 0 {
				return usagef("-a cannot be combined with a pool name")
			}
			if len(args) == 0 && !all {
				return listUpgradable(ctx, a)
			}
			names := args
			if all {
				old, _, err := olderPools(ctx, a)
				if err != nil {
					return err
				}
				names = nil
				for _, p := range old {
					names = append(names, p.Name)
				}
			}
			for _, name := range names {
				var resp api.PoolUpgradeResp
				if err := a.call(ctx, api.MPoolUpgrade, api.PoolNameReq{Name: name}, &resp); err != nil {
					return err
				}
				if asJSON {
					if err := (printer{w: a.env.Stdout}).json(resp); err != nil {
						return err
					}
				} else if resp.From == resp.To {
					fmt.Fprintf(a.env.Stdout, "pool '%s' is already at format version %d\n", resp.Pool, resp.To)
				} else {
					fmt.Fprintf(a.env.Stdout, "pool '%s' upgraded from format version %d to %d\n", resp.Pool, resp.From, resp.To)
				}
			}
			if all && len(names) == 0 && !asJSON {
				fmt.Fprintln(a.env.Stdout, "no pools to upgrade")
			}
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output (one object per upgraded pool)")
	cmd.Flags().BoolVarP(&all, "all", "a", false, "upgrade every imported pool that is older than the latest version")
	return cmd
}

// olderPools returns the imported pools older than the latest format
// version, and that version (0 when no pool is imported).
func olderPools(ctx context.Context, a *app) ([]api.PoolStatus, int, error) {
	var pools []api.PoolStatus
	if err := a.call(ctx, api.MPoolStatus, api.PoolNameReq{}, &pools); err != nil {
		return nil, 0, err
	}
	var old []api.PoolStatus
	latest := 0
	for _, p := range pools {
		latest = max(latest, p.Latest)
		if p.Version < p.Latest {
			old = append(old, p)
		}
	}
	return old, latest, nil
}

// listUpgradable prints the pools older than the latest format version.
func listUpgradable(ctx context.Context, a *app) error {
	old, latest, err := olderPools(ctx, a)
	if err != nil {
		return err
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
