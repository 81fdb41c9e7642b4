package cli_test

import (
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"coffer/internal/cli"
)

// TestDocsCoverEveryCommand keeps docs/cli.md in step with the command tree:
// every command and every one of its flags must be described there.
func TestDocsCoverEveryCommand(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../../docs/cli.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Hidden || sub.Name() == "help" || sub.Name() == "completion" {
				continue
			}
			path := strings.TrimPrefix(sub.CommandPath(), "coffer ")
			if sub.Runnable() && !sub.HasSubCommands() {
				if !strings.Contains(doc, "coffer "+path) {
					t.Errorf("docs/cli.md does not document `coffer %s`", path)
				}
				sub.Flags().VisitAll(func(f *pflag.Flag) {
					if f.Name == "help" {
						return
					}
					short := "-" + f.Shorthand
					if f.Shorthand == "" {
						short = "--" + f.Name
					}
					if !strings.Contains(doc, short) {
						t.Errorf("docs/cli.md does not mention %s of `coffer %s`", short, path)
					}
				})
			}
			walk(sub)
		}
	}
	walk(cli.NewRootCommand(cli.Env{}))
}
