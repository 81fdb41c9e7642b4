package cli

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type poolImportOptions struct {
	dirs []string // -d
}

func newPoolImportCommand(a *app) *cobra.Command {
	var opts poolImportOptions
	cmd := &cobra.Command{
		Use:   "import [-d DIR]... [POOL]",
		Short: "Import a pool, or list the pools that can be imported",
		Long: `Without POOL, list the pools found in the vdev directories (-d, or the
daemon's known directories) and import nothing. With POOL (a name or a
numeric id), import it. Imported encrypted datasets stay locked until
"coffer load-key".`,
		Example: `  coffer pool import -d /srv/d1 -d /srv/d2
  coffer pool import -d /srv/d1 tank`,
		Args: maxArgs(1),
		RunE: runE(func(ctx context.Context, args []string) error { return runPoolImport(ctx, a, opts, args) }),
	}
	cmd.Flags().StringArrayVarP(&opts.dirs, "dir", "d", nil, "search this directory for vdevs (repeatable)")
	return cmd
}

func runPoolImport(ctx context.Context, a *app, opts poolImportOptions, args []string) error {
	var req api.PoolImportReq
	for _, d := range opts.dirs {
		abs, err := filepath.Abs(d)
		if err != nil {
			return fmt.Errorf("cannot resolve '%s': %w", d, err)
		}
		req.Dirs = append(req.Dirs, abs)
	}
	if len(args) == 1 {
		req.Name = args[0]
	}
	var resp api.PoolImportResp
	if err := a.call(ctx, api.MPoolImport, req, &resp); err != nil {
		return err
	}
	if req.Name != "" {
		return nil
	}
	if len(resp.Importable) == 0 {
		fmt.Fprintln(a.env.Stderr, "no pools available to import")
		return nil
	}
	for i, p := range resp.Importable {
		if i > 0 {
			fmt.Fprintln(a.env.Stdout)
		}
		fmt.Fprintf(a.env.Stdout, "   pool: %s\n     id: %d\n  state: %s\n", p.Name, p.GUID, p.Health)
		if p.Health == "ONLINE" || p.Health == "DEGRADED" {
			fmt.Fprintln(a.env.Stdout, " action: The pool can be imported using its name or numeric identifier.")
		} else {
			fmt.Fprintln(a.env.Stdout, " action: The pool cannot be imported due to damaged devices or data.")
		}
	}
	return nil
}
