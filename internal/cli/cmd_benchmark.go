package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"coffer/internal/crypto"
	"coffer/internal/props"
)

type benchmarkOptions struct {
	seconds float64
	block   string
}

func newBenchmarkCommand(a *app) *cobra.Command {
	opts := benchmarkOptions{seconds: 0.5, block: "128K"}
	cmd := &cobra.Command{
		Use:   "benchmark crypto [--time SECONDS] [--block SIZE]",
		Short: "Measure this machine's encryption throughput per suite",
		Long: `Seal blocks with every encryption suite on one core and print MB/s, as
gocryptfs -speed does, so that you can pick a suite for this machine. The
daemon is not needed.`,
		Example: `  coffer benchmark crypto
  coffer benchmark crypto --block 16K --time 2`,
		Args: exactArgs(1, "what to benchmark (crypto)"),
		RunE: runE(func(ctx context.Context, args []string) error {
			if args[0] != "crypto" {
				return usagef("unknown benchmark '%s' (want: crypto)", args[0])
			}
			bs, err := props.ParseSize(opts.block)
			if err != nil || bs == 0 || bs > 16<<20 {
				return usagef("bad --block '%s'", opts.block)
			}
			d := time.Duration(opts.seconds * float64(time.Second))
			for _, s := range crypto.Supported() {
				mbps := crypto.Throughput(s, int(bs), d) / 1e6
				fmt.Fprintf(a.env.Stdout, "%-12s %8.0f MB/s\n", s, mbps)
			}
			return nil
		}),
	}
	cmd.Flags().Float64Var(&opts.seconds, "time", opts.seconds, "seconds per suite")
	cmd.Flags().StringVar(&opts.block, "block", opts.block, "block size")
	return cmd
}
