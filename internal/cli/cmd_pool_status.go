package cli

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type poolStatusOptions struct {
	json  bool // -j
	exact bool // -p
}

func newPoolStatusCommand(a *app) *cobra.Command {
	var opts poolStatusOptions
	cmd := &cobra.Command{
		Use:   "status [-jp] [POOL]",
		Short: "Show the health, vdev tree, error counters and scrub state of pools",
		Example: `  coffer pool status
  coffer pool status tank
  coffer pool status -j tank | jq '.pools.tank.state'`,
		Args: maxArgs(1),
		RunE: runE(func(ctx context.Context, args []string) error { return runPoolStatus(ctx, a, opts, args) }),
	}
	cmd.Flags().BoolVarP(&opts.json, "json", "j", false, "JSON output")
	cmd.Flags().BoolVarP(&opts.exact, "parsable", "p", false, "exact numbers")
	return cmd
}

func runPoolStatus(ctx context.Context, a *app, opts poolStatusOptions, args []string) error {
	var req api.PoolNameReq
	if len(args) == 1 {
		req.Name = args[0]
	}
	var pools []api.PoolStatus
	if err := a.call(ctx, api.MPoolStatus, req, &pools); err != nil {
		return err
	}
	if opts.json {
		doc := struct {
			OutputVersion outputVersion             `json:"output_version"`
			Pools         map[string]api.PoolStatus `json:"pools"`
		}{newOutputVersion("coffer pool status"), map[string]api.PoolStatus{}}
		doc.OutputVersion.VersMinor = 2 // 0.2 added version and latest_version
		for _, p := range pools {
			doc.Pools[p.Name] = p
		}
		return printer{w: a.env.Stdout}.json(doc)
	}
	if len(pools) == 0 {
		fmt.Fprintln(a.env.Stdout, "no pools available")
		return nil
	}
	for i, p := range pools {
		if i > 0 {
			fmt.Fprintln(a.env.Stdout)
		}
		writePoolStatus(a.env.Stdout, p, a.location(), opts.exact)
	}
	return nil
}

// writePoolStatus prints one pool the way `zpool status` does.
func writePoolStatus(w io.Writer, p api.PoolStatus, loc *time.Location, exact bool) {
	num := func(n uint64) string {
		if exact {
			return strconv.FormatUint(n, 10)
		}
		return nicenum(n, niceNum)
	}
	bytes := func(n uint64) string {
		if exact {
			return strconv.FormatUint(n, 10)
		}
		return nicenum(n, niceBytes)
	}
	fmt.Fprintf(w, "  pool: %s\n", p.Name)
	fmt.Fprintf(w, " state: %s\n", p.State)
	if p.Version > 0 && p.Version < p.Latest {
		fmt.Fprintf(w, "status: The pool is formatted with an older on-disk version (%d). It is\n"+
			"\tfully usable; its new blocks keep xxhash64 checksums.\n", p.Version)
		fmt.Fprintf(w, "action: Upgrade it with 'coffer pool upgrade %s' for XXH3-64 checksums.\n"+
			"\tOnce upgraded, a coffer that predates version %d cannot import it.\n", p.Name, p.Latest)
	}
	fmt.Fprintf(w, "  scan: %s\n", scanLine(p.Scrub, loc, bytes))
	fmt.Fprintf(w, "config:\n\n")

	// The pool line carries the sum of its top-level vdevs.
	root := api.VdevStatus{Name: p.Name, State: p.State, Children: p.Vdevs}
	for _, v := range p.Vdevs {
		root.Read += v.Read
		root.Write += v.Write
		root.Cksum += v.Cksum
	}
	width := max(10, vdevNameWidth(root, 0))
	fmt.Fprintf(w, "\t%-*s  %-8s %5s %5s %5s\n", width, "NAME", "STATE", "READ", "WRITE", "CKSUM")
	var walk func(v api.VdevStatus, depth int)
	walk = func(v api.VdevStatus, depth int) {
		fmt.Fprintf(w, "\t%*s%-*s  %-8s %5s %5s %5s\n", depth, "", width-depth, v.Name, v.State,
			num(v.Read), num(v.Write), num(v.Cksum))
		for _, c := range v.Children {
			walk(c, depth+2)
		}
	}
	walk(root, 0)
	errs := p.Errors
	if errs == "" {
		errs = "No known data errors"
	}
	fmt.Fprintf(w, "\nerrors: %s\n", errs)
	names := make([]string, 0, len(p.KeysWaiting))
	for n := range p.KeysWaiting {
		names = append(names, n)
	}
	sort.Strings(names)
	for i, n := range names {
		label := "  keys:"
		if i > 0 {
			label = "      "
		}
		fmt.Fprintf(w, "%s %s locked: %s\n", label, n, p.KeysWaiting[n])
	}
}

func vdevNameWidth(v api.VdevStatus, depth int) int {
	w := depth + len(v.Name)
	for _, c := range v.Children {
		w = max(w, vdevNameWidth(c, depth+2))
	}
	return w
}

func scanLine(s api.ScrubStatus, loc *time.Location, bytes func(uint64) string) string {
	when := func(unix int64) string { return time.Unix(unix, 0).In(loc).Format(time.ANSIC) }
	switch s.State {
	case "scanning":
		pct := 0.0
		if s.Total > 0 {
			pct = 100 * float64(s.Examined) / float64(s.Total)
		}
		return fmt.Sprintf("scrub in progress since %s\n\t%s scanned, %s total\n\t%s repaired, %.2f%% done",
			when(s.Start), bytes(s.Examined), bytes(s.Total), bytes(s.Repaired), pct)
	case "finished":
		d := max(s.End-s.Start, 0)
		dur := fmt.Sprintf("%02d:%02d:%02d", d/3600%24, d/60%60, d%60)
		if days := d / 86400; days > 0 {
			dur = fmt.Sprintf("%d days %s", days, dur)
		}
		return fmt.Sprintf("scrub repaired %s in %s with %d errors on %s",
			bytes(s.Repaired), dur, s.Errors, when(s.End))
	case "canceled":
		return fmt.Sprintf("scrub canceled on %s", when(s.End))
	default:
		return "none requested"
	}
}
