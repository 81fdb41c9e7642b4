package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type unlockOptions struct {
	recursive bool   // -r
	force     bool   // -f
	manifest  string // --manifest FILE
}

func newUnlockCommand(a *app) *cobra.Command {
	var opts unlockOptions
	cmd := &cobra.Command{
		Use:   "unlock [-r] [-f] [--manifest FILE] DATASET",
		Short: "Load an encryption root's key and mount its file systems",
		Long: `Unlock an encryption root, as TrueNAS's Unlock does: load its key (read
here when its keylocation is prompt: at a terminal asked once, else read
once from stdin) and mount its file systems. -r also unlocks the
encryption roots below it that take the same key; roots with another key
stay locked and are listed. -f moves a non-empty mount directory aside
(renamed DIR.coffer-moved-TIME) instead of failing. --manifest FILE takes
the keys from a 'coffer key export' manifest (TrueNAS's key file), e.g. to
unlock a replicated tree on a backup host.`,
		Example: `  echo 'correct horse battery' | coffer unlock tank/media
  coffer unlock -r tank            # children that share the passphrase too
  coffer unlock -f tank/media      # a stray file in the mount directory
  coffer unlock -r --manifest backup-keys.json backup`,
		Args: exactArgs(1, "dataset"),
		RunE: runE(func(ctx context.Context, args []string) error { return runUnlock(ctx, a, opts, args[0]) }),
	}
	cmd.Flags().BoolVarP(&opts.recursive, "recursive", "r", false, "also the encryption roots below that take the same key")
	cmd.Flags().BoolVarP(&opts.force, "force", "f", false, "move non-empty mount directories aside")
	cmd.Flags().StringVar(&opts.manifest, "manifest", "", "JSON key manifest from 'coffer key export'")
	return cmd
}

func runUnlock(ctx context.Context, a *app, opts unlockOptions, name string) error {
	var need api.KeyNeedResp
	if err := a.call(ctx, api.MKeyNeed, api.KeyNeedReq{Name: name, Recursive: opts.recursive}, &need); err != nil {
		return err
	}
	req := api.UnlockReq{Name: name, Recursive: opts.recursive, Force: opts.force}
	if opts.manifest != "" {
		b, err := os.ReadFile(opts.manifest)
		if err != nil {
			return fmt.Errorf("cannot read manifest: %v", err)
		}
		defer clear(b)
		if err := json.Unmarshal(b, &req.Manifest); err != nil || len(req.Manifest) == 0 {
			return fmt.Errorf("cannot read manifest '%s': not a JSON object of dataset keys", opts.manifest)
		}
		need.Roots = nil // every key comes from the manifest
	}
	for _, r := range need.Roots {
		if r.Dataset == name && r.KeyLocation == "prompt" && r.KeyStatus != "available" {
			kr := newKeyReader(a)
			key, err := kr.existingKey(r.KeyFormat, name)
			kr.wipe()
			if err != nil {
				return err
			}
			defer clear(key)
			req.Key = key
		}
	}
	var resp api.UnlockResp
	if err := a.call(ctx, api.MUnlock, req, &resp); err != nil {
		return err
	}
	for _, m := range resp.Moved {
		fmt.Fprintf(a.env.Stderr, "moved non-empty mount directory aside: %s\n", m)
	}
	for _, s := range resp.Skipped {
		fmt.Fprintf(a.env.Stderr, "'%s' stays locked: it does not take the same key\n", s)
	}
	return nil
}
