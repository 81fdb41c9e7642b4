package cli

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type poolListOptions struct {
	scripted bool     // -H
	exact    bool     // -p
	columns  []string // -o
	json     bool     // -j
}

func newPoolListCommand(a *app) *cobra.Command {
	var opts poolListOptions
	cmd := &cobra.Command{
		Use:   "list [-Hpj] [-o property[,...]] [POOL]...",
		Short: "List pools with their size, usage and health",
		Long: `List pools. Columns (-o): name, size, allocated (alloc), free,
capacity (cap), health, guid, txg. Default: name,size,alloc,free,cap,health.`,
		Example: `  coffer pool list
  coffer pool list -Hp -o name,free
  coffer pool list -j tank`,
		RunE: runE(func(ctx context.Context, args []string) error { return runPoolList(ctx, a, opts, args) }),
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.scripted, "scripted", "H", false, "no header, tab-separated columns")
	f.BoolVarP(&opts.exact, "parsable", "p", false, "exact numbers (bytes)")
	f.StringArrayVarP(&opts.columns, "output", "o", nil, "comma-separated columns")
	f.BoolVarP(&opts.json, "json", "j", false, "JSON output")
	return cmd
}

var poolColumns = map[string]string{
	"name": "name", "size": "size", "allocated": "allocated", "alloc": "allocated",
	"free": "free", "capacity": "capacity", "cap": "capacity", "health": "health",
	"guid": "guid", "txg": "txg",
}

var poolHeaders = map[string]string{
	"name": "NAME", "size": "SIZE", "allocated": "ALLOC", "free": "FREE",
	"capacity": "CAP", "health": "HEALTH", "guid": "GUID", "txg": "TXG",
}

func runPoolList(ctx context.Context, a *app, opts poolListOptions, args []string) error {
	cols := []string{"name", "size", "allocated", "free", "capacity", "health"}
	if len(opts.columns) > 0 {
		cols = nil
		for _, o := range opts.columns {
			for _, c := range strings.Split(o, ",") {
				canon, ok := poolColumns[c]
				if !ok {
					return usagef("bad property list: invalid property '%s'", c)
				}
				cols = append(cols, canon)
			}
		}
	}
	var pools []api.PoolInfo
	if err := a.call(ctx, api.MPoolList, nil, &pools); err != nil {
		return err
	}
	var failed error
	if len(args) > 0 {
		var keep []api.PoolInfo
		for _, name := range args {
			i := slices.IndexFunc(pools, func(p api.PoolInfo) bool { return p.Name == name })
			if i < 0 {
				fmt.Fprintf(a.env.Stderr, "cannot open '%s': no such pool\n", name)
				failed = &exitError{1}
				continue
			}
			keep = append(keep, pools[i])
		}
		pools = keep
	}
	p := printer{w: a.env.Stdout, scripted: opts.scripted}
	if opts.json {
		doc := struct {
			OutputVersion outputVersion       `json:"output_version"`
			Pools         map[string]jsonPool `json:"pools"`
		}{newOutputVersion("coffer pool list"), map[string]jsonPool{}}
		for _, pool := range pools {
			jp := jsonPool{
				Name: pool.Name, Type: "POOL", State: pool.Health,
				PoolGUID: strconv.FormatUint(pool.GUID, 10), Txg: strconv.FormatUint(pool.Txg, 10),
				Properties: map[string]jsonProp{},
			}
			for _, c := range cols {
				if c != "name" {
					jp.Properties[c] = jsonProp{poolCell(pool, c, opts.exact), jsonSource{"NONE", "-"}}
				}
			}
			doc.Pools[pool.Name] = jp
		}
		if err := p.json(doc); err != nil {
			return err
		}
		return failed
	}
	if len(pools) == 0 && len(args) == 0 {
		fmt.Fprintln(a.env.Stdout, "no pools available")
		return nil
	}
	header := make([]string, len(cols))
	for i, c := range cols {
		header[i] = poolHeaders[c]
	}
	var rows [][]string
	for _, pool := range pools {
		row := make([]string, len(cols))
		for i, c := range cols {
			row[i] = poolCell(pool, c, opts.exact)
		}
		rows = append(rows, row)
	}
	p.table(header, rows)
	return failed
}

type jsonPool struct {
	Name       string              `json:"name"`
	Type       string              `json:"type"`
	State      string              `json:"state"`
	PoolGUID   string              `json:"pool_guid"`
	Txg        string              `json:"txg"`
	Properties map[string]jsonProp `json:"properties"`
}

func poolCell(p api.PoolInfo, col string, exact bool) string {
	bytes := func(n uint64) string {
		if exact {
			return strconv.FormatUint(n, 10)
		}
		return nicenum(n, niceBytes)
	}
	switch col {
	case "name":
		return p.Name
	case "size":
		return bytes(p.Size)
	case "allocated":
		return bytes(p.Allocated)
	case "free":
		return bytes(p.Free)
	case "capacity":
		pct := uint64(0)
		if p.Size > 0 {
			pct = p.Allocated * 100 / p.Size
		}
		if exact {
			return strconv.FormatUint(pct, 10)
		}
		return strconv.FormatUint(pct, 10) + "%"
	case "health":
		return p.Health
	case "guid":
		return strconv.FormatUint(p.GUID, 10)
	case "txg":
		return strconv.FormatUint(p.Txg, 10)
	}
	return "-"
}
