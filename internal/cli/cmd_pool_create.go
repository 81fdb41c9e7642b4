package cli

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type poolCreateOptions struct {
	rootProps []string // -O
	force     bool     // -f
}

func newPoolCreateCommand(a *app) *cobra.Command {
	var opts poolCreateOptions
	cmd := &cobra.Command{
		Use:   "create [-f] [-O property=value]... POOL VDEV...",
		Short: "Create a pool from directories",
		Long: `Create a pool named POOL from one or more top-level vdevs.

A vdev is a directory. "DIR DIR" makes two single vdevs (striped);
"mirror DIR DIR..." makes one mirror that keeps every block on each side;
"mirror A B mirror C D" makes two mirrors. Relative paths are made absolute.

-O sets properties of the pool's root dataset. With -O keyformat=... and no
keylocation (or keylocation=prompt) the key is read as for "coffer create".`,
		Example: `  coffer pool create tank /srv/coffer/d1
  coffer pool create tank mirror /srv/d1 /srv/d2 mirror /srv/d3 /srv/d4
  echo 'correct horse battery' | coffer pool create -O encryption=on -O keyformat=passphrase tank /srv/d1`,
		Args: minArgs(1, "pool name"),
		RunE: runE(func(ctx context.Context, args []string) error { return runPoolCreate(ctx, a, opts, args) }),
	}
	cmd.Flags().StringArrayVarP(&opts.rootProps, "root-property", "O", nil, "set a property of the root dataset (repeatable)")
	cmd.Flags().BoolVarP(&opts.force, "force", "f", false, "use vdev directories that are not empty; allow mixed vdev types")
	return cmd
}

func runPoolCreate(ctx context.Context, a *app, opts poolCreateOptions, args []string) error {
	props, err := parseAssignments(opts.rootProps)
	if err != nil {
		return err
	}
	vdevs, err := parseVdevs(args[1:], opts.force)
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			return err
		}
		return fmt.Errorf("cannot create '%s': %w", args[0], err)
	}
	req := api.PoolCreateReq{Name: args[0], Vdevs: vdevs, Props: props, Force: opts.force}
	if format, ok := needsNewKey(props); ok {
		kr := newKeyReader(a)
		defer kr.wipe()
		if req.Key, err = kr.newKey(format, ""); err != nil {
			return err
		}
		defer clear(req.Key)
	}
	return a.call(ctx, api.MPoolCreate, req, nil)
}

// parseVdevs parses zpool's vdev grammar: "DIR..." single vdevs, "mirror
// DIR DIR..." one mirror each.
func parseVdevs(args []string, force bool) ([]api.VdevSpec, error) {
	if len(args) == 0 {
		return nil, usagef("missing vdev specification")
	}
	var vdevs []api.VdevSpec
	var cur *api.VdevSpec
	singles, mirrors := 0, 0
	for _, arg := range args {
		if arg == "mirror" {
			vdevs = append(vdevs, api.VdevSpec{Mirror: true})
			cur = &vdevs[len(vdevs)-1]
			mirrors++
			continue
		}
		path, err := filepath.Abs(arg)
		if err != nil {
			return nil, fmt.Errorf("cannot resolve '%s': %w", arg, err)
		}
		if cur != nil {
			cur.Paths = append(cur.Paths, path)
			continue
		}
		vdevs = append(vdevs, api.VdevSpec{Paths: []string{path}})
		singles++
	}
	for _, v := range vdevs {
		if v.Mirror && len(v.Paths) < 2 {
			return nil, usagef("invalid vdev specification: mirror requires at least 2 devices")
		}
	}
	if singles > 0 && mirrors > 0 && !force {
		// One line (docs/cli.md "Error format"), where zpool prints three.
		return nil, errors.New("invalid vdev specification: mismatched replication level: both single and mirror vdevs are present (use -f to override)")
	}
	return vdevs, nil
}
