package cli

import (
	"context"
	"strings"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type remoteAddOptions struct {
	props []string // -o endpoint=, region=, insecure=
}

func newRemoteAddCommand(a *app) *cobra.Command {
	var opts remoteAddOptions
	cmd := &cobra.Command{
		Use:   "add [-o endpoint=URL] [-o region=R] [-o insecure=on] NAME s3://BUCKET[/PREFIX]",
		Short: "Add a remote: an S3 bucket to back datasets up to",
		Long: `Add a remote named NAME for the bucket BUCKET (backups go under PREFIX).
The daemon checks that it can reach the bucket with the credentials and
creates the bucket when it does not exist.

The credentials are never taken from the command line: they are read as one
line ACCESS_KEY:SECRET_KEY from standard input (asked without echo at a
terminal), or from COFFER_S3_ACCESS_KEY and COFFER_S3_SECRET_KEY. The daemon
keeps the secret key sealed in its state directory; no command prints it.

Options: endpoint=https://HOST[:PORT] (default https://s3.amazonaws.com; a
bare HOST[:PORT] means https), region=R, insecure=on for plain HTTP (an
http:// endpoint needs it).`,
		Example: `  echo 'AKIAEXAMPLE:wJalrXUtnFEMI/K7MDENG' | coffer remote add offsite s3://backups/host1
  COFFER_S3_ACCESS_KEY=minio COFFER_S3_SECRET_KEY=minio123 \
    coffer remote add -o endpoint=http://127.0.0.1:9000 -o insecure=on lab s3://coffer`,
		Args: exactArgs(2, "remote name or URL"),
		RunE: runE(func(ctx context.Context, args []string) error { return runRemoteAdd(ctx, a, opts, args) }),
	}
	cmd.Flags().StringArrayVarP(&opts.props, "option", "o", nil, "endpoint=URL, region=R or insecure=on|off (repeatable)")
	return cmd
}

func runRemoteAdd(ctx context.Context, a *app, opts remoteAddOptions, args []string) error {
	req := api.RemoteAddReq{Name: args[0], URL: args[1]}
	if !strings.HasPrefix(req.URL, "s3://") {
		return usagef("invalid remote URL '%s': want s3://BUCKET[/PREFIX]", req.URL)
	}
	seen := map[string]bool{}
	for _, o := range opts.props {
		k, v, ok := strings.Cut(o, "=")
		if !ok {
			return usagef("missing '=' for property=value argument")
		}
		if seen[k] {
			return usagef("property '%s' specified multiple times", k)
		}
		seen[k] = true
		switch k {
		case "endpoint":
			req.Endpoint = v
		case "region":
			req.Region = v
		case "insecure":
			switch v {
			case "on":
				req.Insecure = true
			case "off":
			default:
				return usagef("invalid value '%s' for 'insecure': want on or off", v)
			}
		default:
			return usagef("invalid option '%s': want endpoint, region or insecure", k)
		}
	}
	access, secret, err := readS3Credentials(a, req.Name)
	if err != nil {
		return err
	}
	defer clear(secret)
	req.AccessKey, req.SecretKey = access, secret
	return a.call(ctx, api.MRemoteAdd, req, nil)
}
