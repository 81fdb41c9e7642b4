package cli

import (
	"context"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type remoteListOptions struct {
	scripted bool // -H
	json     bool // -j
}

func newRemoteListCommand(a *app) *cobra.Command {
	var opts remoteListOptions
	cmd := &cobra.Command{
		Use:   "list [-H] [-j]",
		Short: "List the remotes (never their credentials)",
		Long: `List the remotes: name, URL, endpoint, region. Credentials are not shown.
-H: no header, tab-separated. -j: one line of JSON.`,
		Example: `  coffer remote list
  coffer remote list -H
  coffer remote list -j`,
		Args: maxArgs(0),
		RunE: runE(func(ctx context.Context, args []string) error { return runRemoteList(ctx, a, opts, args) }),
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.scripted, "scripted", "H", false, "no header, tab-separated")
	f.BoolVarP(&opts.json, "json", "j", false, "JSON output")
	return cmd
}

// remoteListJSON is the -j document of `remote list`.
type remoteListJSON struct {
	OutputVersion outputVersion             `json:"output_version"`
	Remotes       map[string]api.RemoteInfo `json:"remotes"`
}

func runRemoteList(ctx context.Context, a *app, opts remoteListOptions, _ []string) error {
	var resp api.RemoteListResp
	if err := a.call(ctx, api.MRemoteList, struct{}{}, &resp); err != nil {
		return err
	}
	p := printer{w: a.env.Stdout, scripted: opts.scripted}
	if opts.json {
		doc := remoteListJSON{OutputVersion: newOutputVersion("coffer remote list"), Remotes: map[string]api.RemoteInfo{}}
		for _, r := range resp.Remotes {
			doc.Remotes[r.Name] = r
		}
		return p.json(doc)
	}
	var rows [][]string
	for _, r := range resp.Remotes {
		region := r.Region
		if region == "" {
			region = "-"
		}
		rows = append(rows, []string{r.Name, r.URL, r.Endpoint, region})
	}
	if len(rows) == 0 && !opts.scripted {
		a.env.Stderr.Write([]byte("no remotes\n"))
		return nil
	}
	p.table([]string{"NAME", "URL", "ENDPOINT", "REGION"}, rows)
	return nil
}
