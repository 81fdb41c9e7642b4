package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type loadKeyOptions struct {
	recursive bool   // -r
	all       bool   // -a
	noop      bool   // -n
	location  string // -L
}

func newLoadKeyCommand(a *app) *cobra.Command {
	var opts loadKeyOptions
	cmd := &cobra.Command{
		Use:   "load-key [-rn] [-L KEYLOCATION] -a | DATASET",
		Short: "Load the key of encrypted datasets so that they can be mounted and read",
		Long: `Load the wrapping key of an encryption root (-r: of the encryption roots
below DATASET too; -a: of every encryption root). -L overrides keylocation
for this load. -n checks the key without loading it.

Keys at file:// and https:// locations are fetched by the daemon. For
keylocation=prompt the key is read here: at a terminal, asked once per
encryption root without echo; from a pipe, one line per encryption root
(passphrase, hex) or the whole input (raw: 32 bytes per root when several).
With -r or -a, "N / M key(s) successfully loaded" is printed.`,
		Example: `  echo 'correct horse battery' | coffer load-key tank/media
  coffer load-key -L file:///root/tank.key tank/secret
  coffer load-key -a
  coffer load-key -n tank/media    # check the passphrase only
  coffer load-key -L 'kmip://kms:5696?ca=/etc/coffer/ca.pem&cert=/etc/coffer/host.pem&key=/etc/coffer/host.key' backup/vault   # a raw replica of a kmip root`,
		Annotations: map[string]string{"usage": "load-key [-rn] [-L KEYLOCATION] DATASET\nload-key [-n] [-L KEYLOCATION] -a"},
		Args:        maxArgs(1),
		RunE:        runE(func(ctx context.Context, args []string) error { return runLoadKey(ctx, a, opts, args) }),
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.recursive, "recursive", "r", false, "also the encryption roots below DATASET")
	f.BoolVarP(&opts.all, "all", "a", false, "every encryption root")
	f.BoolVarP(&opts.noop, "noop", "n", false, "check the key, do not load it")
	f.StringVarP(&opts.location, "location", "L", "", "key location for this load (prompt, file:///PATH, https://URL)")
	return cmd
}

func runLoadKey(ctx context.Context, a *app, opts loadKeyOptions, args []string) error {
	req := api.KeyNeedReq{Recursive: opts.recursive, All: opts.all, Location: opts.location}
	switch {
	case opts.all && len(args) > 0:
		return usagef("cannot specify dataset with -a")
	case opts.all && opts.recursive:
		return usagef("-a and -r are mutually exclusive")
	case !opts.all && len(args) == 0:
		return usagef("missing dataset argument")
	case !opts.all:
		req.Name = args[0]
	}
	var need api.KeyNeedResp
	if err := a.call(ctx, api.MKeyNeed, req, &need); err != nil {
		return err
	}
	many := opts.all || opts.recursive
	kr := newKeyReader(a)
	defer kr.wipe()
	prompts := 0
	for _, r := range need.Roots {
		if r.KeyLocation == "prompt" && r.KeyStatus != "available" {
			prompts++
		}
	}
	kr.many = prompts > 1

	attempted, loaded := 0, 0
	for _, root := range need.Roots {
		if many && root.KeyStatus == "available" {
			continue
		}
		attempted++
		err := loadOneKey(ctx, a, kr, root, opts)
		if err != nil {
			if !many {
				return err
			}
			fmt.Fprintln(a.env.Stderr, err)
			continue
		}
		loaded++
	}
	if many {
		fmt.Fprintf(a.env.Stdout, "%d / %d key(s) successfully loaded\n", loaded, attempted)
		if loaded != attempted {
			return &exitError{1}
		}
	}
	return nil
}

func loadOneKey(ctx context.Context, a *app, kr *keyReader, root api.KeyNeed, opts loadKeyOptions) error {
	req := api.LoadKeyReq{Name: root.Dataset, NoOp: opts.noop, Location: opts.location}
	// An available key is the daemon's to report ("Key already loaded").
	if root.KeyLocation == "prompt" && root.KeyStatus != "available" {
		key, err := kr.existingKey(root.KeyFormat, root.Dataset)
		if err != nil {
			return err
		}
		defer clear(key)
		req.Key = key
	}
	return a.call(ctx, api.MLoadKey, req, nil)
}
