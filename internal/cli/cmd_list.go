package cli

import (
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type listOptions struct {
	recursive bool     // -r
	depth     int      // -d; -1 when not given
	types     []string // -t
	scripted  bool     // -H
	exact     bool     // -p
	columns   []string // -o
	json      bool     // -j
}

// defaultListColumns are zfs list's defaults, for every -t.
var defaultListColumns = []string{"name", "used", "available", "referenced", "mountpoint"}

func newListCommand(a *app) *cobra.Command {
	opts := listOptions{depth: -1}
	cmd := &cobra.Command{
		Use:   "list [-Hpjr] [-d DEPTH] [-t TYPE[,...]] [-o PROPERTY[,...]] [DATASET]...",
		Short: "List datasets and their properties",
		Long: `List file systems and volumes (-t snapshot or -t all for snapshots too).
Default columns: name,used,avail,refer,mountpoint. -r lists descendants,
-d N descendants down to depth N (implies -r). -H prints no header and
separates columns with one tab; -p prints exact numbers; -j prints JSON
shaped like OpenZFS 2.3's "zfs list -j".`,
		Example: `  coffer list
  coffer list -r -t all tank
  coffer list -Hp -o name,used,keystatus -r tank
  coffer list -j tank/media | jq '.datasets["tank/media"].properties.used.value'`,
		RunE: runE(func(ctx context.Context, args []string) error { return runList(ctx, a, opts, args) }),
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.recursive, "recursive", "r", false, "include descendants")
	f.IntVarP(&opts.depth, "depth", "d", -1, "descend at most this deep (implies -r)")
	f.StringArrayVarP(&opts.types, "type", "t", nil, "filesystem, volume, snapshot, all (comma-separated)")
	f.BoolVarP(&opts.scripted, "scripted", "H", false, "no header, tab-separated columns")
	f.BoolVarP(&opts.exact, "parsable", "p", false, "exact numbers")
	f.StringArrayVarP(&opts.columns, "output", "o", nil, "comma-separated columns")
	f.BoolVarP(&opts.json, "json", "j", false, "JSON output")
	return cmd
}

func runList(ctx context.Context, a *app, opts listOptions, args []string) error {
	cols := defaultListColumns
	if len(opts.columns) > 0 {
		var err error
		if cols, err = parsePropList(opts.columns); err != nil {
			return err
		}
	}
	types, err := parseTypes(opts.types)
	if err != nil {
		return err
	}
	req := api.ListReq{Names: args, Recursive: opts.recursive, Types: types, Props: slices.Clone(cols)}
	if err := applyDepth(&req.Recursive, &req.Depth, opts.depth); err != nil {
		return err
	}
	var resp api.ListResp
	if err := a.call(ctx, api.MList, req, &resp); err != nil {
		return err
	}
	p := printer{w: a.env.Stdout, scripted: opts.scripted}
	if opts.json {
		doc := jsonDatasets{newOutputVersion("coffer list"), map[string]jsonDataset{}}
		for _, row := range resp.Rows {
			jd := newJSONDataset(row)
			for _, c := range cols {
				if c != "name" {
					jd.Properties[c] = jsonProp{cell(row, c, opts.exact), sourceJSON(source(row, c))}
				}
			}
			doc.Datasets[row.Name] = jd
		}
		return p.json(doc)
	}
	if len(resp.Rows) == 0 {
		// zfs prints this on stderr and succeeds.
		fmt.Fprintln(a.env.Stderr, "no datasets available")
		return nil
	}
	header := make([]string, len(cols))
	for i, c := range cols {
		header[i] = propHeader(c)
	}
	rows := make([][]string, 0, len(resp.Rows))
	for _, row := range resp.Rows {
		r := make([]string, len(cols))
		for i, c := range cols {
			r[i] = cell(row, c, opts.exact)
		}
		rows = append(rows, r)
	}
	p.table(header, rows)
	return nil
}

// applyDepth maps -d N onto the request: N > 0 is recursive to depth N;
// -d 0 is the named datasets only.
func applyDepth(recursive *bool, depth *int, d int) error {
	switch {
	case d < -1:
		return usagef("invalid depth %d", d)
	case d == 0:
		*recursive, *depth = false, 0
	case d > 0:
		*recursive, *depth = true, d
	}
	return nil
}
