package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

func newHealthCommand(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "health [-j]",
		Short: "Say whether every pool and key is available, and exactly why not",
		Long: `Ask the daemon what keeps it from serving all of its pools and datasets:
pools that did not import at start or are degraded, damaged blocks, a
keystore still locked (and why: the TPM refused, the KMIP server is
unreachable and no key is cached, ...), encryption roots whose key provider
refused at start, deep rekeys that failed. Locked passphrase roots are not
a problem: they wait for 'coffer unlock'. Prints "healthy" and exits 0, or
one line per problem ("SUBJECT: REASON") and exits 1; warnings (a keystore
secret in a plain file) are printed but keep the exit status 0. For
monitoring: 'coffer health -j' (any role may call it).`,
		Example: `  coffer health
  coffer health -j
  coffer --url https://nas:8443 --token-file /etc/coffer/monitor.token health`,
		Args: exactArgs(0, ""),
		RunE: runE(func(ctx context.Context, args []string) error {
			var resp api.HealthResp
			if err := a.call(ctx, api.MHealth, api.Empty{}, &resp); err != nil {
				return err
			}
			if asJSON {
				if err := (printer{w: a.env.Stdout}).json(resp); err != nil {
					return err
				}
			} else {
				if resp.Healthy {
					fmt.Fprintf(a.env.Stdout, "healthy: %d pools, keystore %s\n", resp.Pools, resp.Keystore)
				}
				for _, p := range resp.Problems {
					tag := ""
					if p.Warning {
						tag = "warning: "
					}
					fmt.Fprintf(a.env.Stdout, "%s%s: %s\n", tag, p.Subject, p.Reason)
				}
			}
			if !resp.Healthy {
				return &exitError{code: 1}
			}
			return nil
		}),
	}
	cmd.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	return cmd
}
