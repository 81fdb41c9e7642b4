package cli

import (
	"context"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type changeKeyOptions struct {
	load    bool     // -l
	inherit bool     // -i
	props   []string // -o
}

// changeKeyProps are the properties change-key -o accepts.
var changeKeyProps = map[string]bool{"keyformat": true, "keylocation": true, "pbkdf2iters": true}

func newChangeKeyCommand(a *app) *cobra.Command {
	var opts changeKeyOptions
	cmd := &cobra.Command{
		Use:   "change-key [-l] [-o keyformat=VALUE] [-o keylocation=VALUE] [-o pbkdf2iters=VALUE] DATASET",
		Short: "Change the wrapping key of an encryption root (no data is rewritten)",
		Long: `Change the user's key (passphrase, hex or raw key) that wraps a dataset's
master keys, or with -i make the dataset inherit its parent's key again.
-l loads the current key first if it is not loaded.

When the new keylocation (given, or the current one) is prompt, the new key
is read here: asked twice at a terminal, read once from a pipe (first line;
raw: all of stdin). If -l must load a prompt key first, the current key is
read before the new one (from a pipe: the first line is the current key,
the second the new one).`,
		Example: `  printf 'old passphrase\nnew passphrase\n' | coffer change-key -l tank/media
  coffer change-key -o keyformat=raw -o keylocation=file:///root/media.key tank/media
  coffer change-key -o pbkdf2iters=1000000 tank/media
  coffer change-key -i tank/media/child`,
		Annotations: map[string]string{"usage": "change-key [-l] [-o keyformat=VALUE] [-o keylocation=VALUE] [-o pbkdf2iters=VALUE] DATASET\nchange-key -i [-l] DATASET"},
		Args:        exactArgs(1, "dataset"),
		RunE:        runE(func(ctx context.Context, args []string) error { return runChangeKey(ctx, a, opts, args) }),
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.load, "load", "l", false, "load the current key first if needed")
	f.BoolVarP(&opts.inherit, "inherit", "i", false, "inherit the parent's key")
	f.StringArrayVarP(&opts.props, "property", "o", nil, "keyformat, keylocation or pbkdf2iters (repeatable)")
	return cmd
}

func runChangeKey(ctx context.Context, a *app, opts changeKeyOptions, args []string) error {
	props, err := parseAssignments(opts.props)
	if err != nil {
		return err
	}
	for p := range props {
		if !changeKeyProps[p] {
			return usagef("invalid property '%s': change-key accepts keyformat, keylocation and pbkdf2iters", p)
		}
	}
	if opts.inherit && len(props) > 0 {
		return usagef("-i and -o are mutually exclusive")
	}
	req := api.ChangeKeyReq{Name: args[0], Load: opts.load, Inherit: opts.inherit, Props: props}

	// What the dataset has now decides what must be read.
	var cur api.ListResp
	get := api.GetReq{Names: []string{req.Name}, Props: []string{"keyformat", "keylocation", "keystatus"}}
	if err := a.call(ctx, api.MGet, get, &cur); err != nil {
		return err
	}
	var row api.DatasetRow
	if len(cur.Rows) > 0 {
		row = cur.Rows[0]
	}
	curFormat, curLocation := row.Props["keyformat"].Value, row.Props["keylocation"].Value

	kr := newKeyReader(a)
	defer kr.wipe()
	if opts.load && row.Props["keystatus"].Value == "unavailable" && curLocation == "prompt" {
		if req.OldKey, err = kr.existingKey(curFormat, req.Name); err != nil {
			return err
		}
		defer clear(req.OldKey)
	}
	if !opts.inherit {
		format, location := curFormat, curLocation
		if f, ok := props["keyformat"]; ok {
			format = f
			location = "prompt" // a new format with no new location is prompted
		}
		if l, ok := props["keylocation"]; ok {
			location = l
		}
		if location == "prompt" && format != "" && format != "none" && format != "-" {
			if req.Key, err = kr.newKey(format, req.Name); err != nil {
				return err
			}
			defer clear(req.Key)
		}
	}
	return a.call(ctx, api.MChangeKey, req, nil)
}
