package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

func newKeyCommand(a *app) *cobra.Command {
	key := &cobra.Command{
		Use:   "key COMMAND",
		Short: "Export dataset keys",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	var recursive bool
	export := &cobra.Command{
		Use:   "export [-r] DATASET",
		Short: "Print the keys of key-format encryption roots as a JSON manifest",
		Long: `Print a TrueNAS-style manifest {"pool/ds": "<hex key>"} with the keys of the
key-format (raw or hex) encryption roots at DATASET (-r: and below it) whose
keys are loaded. Passphrase roots are left out: their key is the passphrase.
Keep the manifest safe: it unlocks the datasets (coffer unlock --manifest).`,
		Example: `  coffer key export tank/vault > vault-keys.json
  coffer key export -r backup > backup-keys.json`,
		Args: exactArgs(1, "dataset"),
		RunE: runE(func(ctx context.Context, args []string) error {
			var resp api.KeyExportResp
			if err := a.call(ctx, api.MKeyExport, api.KeyExportReq{Name: args[0], Recursive: recursive}, &resp); err != nil {
				return err
			}
			names := make([]string, 0, len(resp.Keys))
			for n := range resp.Keys {
				names = append(names, n)
			}
			sort.Strings(names)
			ordered := make(map[string]string, len(names))
			for _, n := range names {
				ordered[n] = resp.Keys[n]
			}
			b, err := json.MarshalIndent(ordered, "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintln(a.env.Stdout, string(b))
			return nil
		}),
	}
	export.Flags().BoolVarP(&recursive, "recursive", "r", false, "also the encryption roots below")
	key.AddCommand(export)
	return key
}
