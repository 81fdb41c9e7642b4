package cli

import (
	"context"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type getOptions struct {
	recursive bool     // -r
	depth     int      // -d; -1 when not given
	types     []string // -t
	scripted  bool     // -H
	exact     bool     // -p
	fields    []string // -o
	sources   []string // -s
	json      bool     // -j
}

var getFields = map[string]string{"name": "NAME", "property": "PROPERTY", "value": "VALUE", "received": "RECEIVED", "source": "SOURCE"}

var getSources = []string{"local", "default", "inherited", "received", "temporary", "none"}

func newGetCommand(a *app) *cobra.Command {
	opts := getOptions{depth: -1}
	cmd := &cobra.Command{
		Use:   "get [-Hpjr] [-d DEPTH] [-t TYPE[,...]] [-o FIELD[,...]] [-s SOURCE[,...]] all|PROPERTY[,...] [DATASET]...",
		Short: "Show properties of datasets, with their sources",
		Long: `Show properties. Fields (-o): name, property, value, source (default all
four; received is accepted and shows "-"). Sources (-s): local, default,
inherited, received, temporary, none. A property a dataset does not have
shows "-". -j prints JSON shaped like OpenZFS 2.3's "zfs get -j".`,
		Example: `  coffer get all tank/media
  coffer get -H -o value keystatus tank/media
  coffer get -r -s local compression,encryption tank
  coffer get -p -j used,available tank`,
		Args: minArgs(1, "property"),
		RunE: runE(func(ctx context.Context, args []string) error { return runGet(ctx, a, opts, args) }),
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.recursive, "recursive", "r", false, "include descendants")
	f.IntVarP(&opts.depth, "depth", "d", -1, "descend at most this deep (implies -r)")
	f.StringArrayVarP(&opts.types, "type", "t", nil, "filesystem, volume, snapshot, all (comma-separated)")
	f.BoolVarP(&opts.scripted, "scripted", "H", false, "no header, tab-separated columns")
	f.BoolVarP(&opts.exact, "parsable", "p", false, "exact numbers")
	f.StringArrayVarP(&opts.fields, "output", "o", nil, "comma-separated fields")
	f.StringArrayVarP(&opts.sources, "source", "s", nil, "only properties from these sources (comma-separated)")
	f.BoolVarP(&opts.json, "json", "j", false, "JSON output")
	return cmd
}

func runGet(ctx context.Context, a *app, opts getOptions, args []string) error {
	fields := []string{"name", "property", "value", "source"}
	if len(opts.fields) > 0 {
		fields = nil
		for _, o := range opts.fields {
			for _, f := range strings.Split(o, ",") {
				if _, ok := getFields[f]; !ok {
					return usagef("invalid field '%s'", f)
				}
				fields = append(fields, f)
			}
		}
	}
	var sources []string
	for _, o := range opts.sources {
		for _, s := range strings.Split(o, ",") {
			if !slices.Contains(getSources, s) {
				return usagef("invalid source '%s'", s)
			}
			sources = append(sources, s)
		}
	}
	types, err := parseTypes(opts.types)
	if err != nil {
		return err
	}
	var props []string
	all := false
	for _, p := range strings.Split(args[0], ",") {
		if p == "all" {
			all = true
			continue
		}
		c, ok := canonicalProp(p)
		if !ok || p == "" || p == "name" {
			return usagef("bad property list: invalid property '%s'", p)
		}
		props = append(props, c)
	}
	if all {
		props = []string{"all"}
	}
	req := api.GetReq{Names: args[1:], Recursive: opts.recursive, Types: types, Props: props, Sources: sources}
	if err := applyDepth(&req.Recursive, &req.Depth, opts.depth); err != nil {
		return err
	}
	var resp api.ListResp
	if err := a.call(ctx, api.MGet, req, &resp); err != nil {
		return err
	}

	type entry struct {
		row  api.DatasetRow
		prop string
	}
	var entries []entry
	for _, row := range resp.Rows {
		names := props
		if all {
			names = make([]string, 0, len(row.Props))
			for p := range row.Props {
				names = append(names, p)
			}
			sortProps(names)
		}
		for _, p := range names {
			if len(sources) > 0 && !slices.Contains(sources, sourceKind(source(row, p))) {
				continue
			}
			entries = append(entries, entry{row, p})
		}
	}

	p := printer{w: a.env.Stdout, scripted: opts.scripted}
	if opts.json {
		doc := jsonDatasets{newOutputVersion("coffer get"), map[string]jsonDataset{}}
		for _, e := range entries {
			jd, ok := doc.Datasets[e.row.Name]
			if !ok {
				jd = newJSONDataset(e.row)
				doc.Datasets[e.row.Name] = jd
			}
			jd.Properties[e.prop] = jsonProp{cell(e.row, e.prop, opts.exact), sourceJSON(source(e.row, e.prop))}
		}
		return p.json(doc)
	}
	header := make([]string, len(fields))
	for i, f := range fields {
		header[i] = getFields[f]
	}
	rows := make([][]string, 0, len(entries))
	for _, e := range entries {
		r := make([]string, len(fields))
		for i, f := range fields {
			switch f {
			case "name":
				r[i] = e.row.Name
			case "property":
				r[i] = e.prop
			case "value":
				r[i] = cell(e.row, e.prop, opts.exact)
			case "source":
				r[i] = source(e.row, e.prop)
			default:
				r[i] = "-"
			}
		}
		rows = append(rows, r)
	}
	p.table(header, rows)
	return nil
}

// sourceKind maps a printed source to its -s name.
func sourceKind(src string) string {
	switch {
	case strings.HasPrefix(src, "inherited"):
		return "inherited"
	case src == "-" || src == "":
		return "none"
	}
	return src
}
