package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

func newPoolCheckCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "check [-j] POOL",
		Short: "Verify a pool's consistency: every block reference, checksum and space map",
		Long: `Commit, then read every block reachable from the pool's metadata and
verify its checksum (no key is needed), check that no two blocks overlap,
that the allocator holds exactly the reachable blocks, and that every
dataset's referenced space matches its tree. Exit 1 when a problem is
found; each is printed on its own line.`,
		Example: `  coffer pool check tank
  coffer pool check -j tank`,
		Args: exactArgs(1, "pool"),
		RunE: runE(func(ctx context.Context, args []string) error {
			var resp api.PoolCheckResp
			if err := a.call(ctx, api.MPoolCheck, api.PoolNameReq{Name: args[0]}, &resp); err != nil {
				return err
			}
			if asJSON {
				if err := (printer{w: a.env.Stdout}).json(resp); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.env.Stdout, "pool %s: %d blocks, %s checked, %d problems\n", resp.Pool, resp.Blocks, nicenum(resp.Bytes, 0), len(resp.Problems))
				for _, p := range resp.Problems {
					fmt.Fprintln(a.env.Stdout, p)
				}
			}
			if len(resp.Problems) > 0 {
				return fmt.Errorf("pool '%s' is inconsistent: %d problems", resp.Pool, len(resp.Problems))
			}
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	return cmd
}
