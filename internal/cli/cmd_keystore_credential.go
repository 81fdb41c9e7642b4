package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

// maxCredentialFile bounds each PEM file read for a credential, so that
// the three fit in one API request (api.MaxRequestBytes, base64 in JSON).
const maxCredentialFile = 64 << 10

func newKeystoreCredentialCommand(a *app) *cobra.Command {
	cred := &cobra.Command{
		Use:   "credential COMMAND",
		Short: "KMIP client identities kept in the keystore",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	var ca, cert, key string
	var replace bool
	add := &cobra.Command{
		Use:   "add kmip NAME --ca FILE --cert FILE --key FILE [--replace]",
		Short: "Keep a KMIP client identity (CA, certificate, private key) in the keystore",
		Long: `Read the CA certificate, the client certificate and its private key (PEM
files) and keep them in the system keystore as the kmip credential NAME,
sealed under the system secret. A key provider location then names it
instead of files: keylocation=kmip://HOST:PORT?cred=NAME[&name=LABEL].
The certificate and key must match and the CA must parse; the keystore
must be unlocked. Delete the files afterwards: the daemon never reads them.
An existing NAME is refused unless --replace is given (a renewed
certificate): the roots that name it use the new identity from then on.`,
		Example: `  coffer keystore credential add kmip kms1 --ca /etc/coffer/kms-ca.pem --cert /etc/coffer/host.pem --key /etc/coffer/host.key
  shred -u /etc/coffer/host.key
  coffer create -o keyformat=raw -o 'keylocation=kmip://kms.example:5696?cred=kms1' tank/vault
  coffer keystore credential add kmip kms1 --replace --ca /etc/coffer/kms-ca.pem --cert /etc/coffer/host-2027.pem --key /etc/coffer/host-2027.key`,
		Args: exactArgs(2, "kind and name"),
		RunE: runE(func(ctx context.Context, args []string) error {
			if args[0] != "kmip" {
				return usagef("unknown credential kind '%s' (kmip)", args[0])
			}
			if ca == "" || cert == "" || key == "" {
				return usagef("a kmip credential needs --ca, --cert and --key")
			}
			req := api.CredentialAddReq{Kind: "kmip", Name: args[1], Replace: replace}
			defer func() { clear(req.Key) }()
			for _, f := range []struct {
				path string
				dst  *[]byte
			}{{ca, &req.CA}, {cert, &req.Cert}, {key, &req.Key}} {
				b, err := readCredentialFile(f.path)
				if err != nil {
					return fmt.Errorf("cannot add kmip credential '%s': %v", args[1], err)
				}
				*f.dst = b
			}
			return a.call(ctx, api.MKeystoreCredentialAdd, req, nil)
		}),
	}
	add.Flags().StringVar(&ca, "ca", "", "PEM file: the CA that signs the KMIP server's certificate")
	add.Flags().StringVar(&cert, "cert", "", "PEM file: this host's client certificate")
	add.Flags().StringVar(&key, "key", "", "PEM file: the client certificate's private key")
	add.Flags().BoolVar(&replace, "replace", false, "replace the credential of that name (a renewed certificate)")
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [-j]",
		Short: "List the credentials: name, certificate subject and expiry, datasets using it (never a key)",
		Example: `  coffer keystore credential list
  coffer keystore credential list -j`,
		Args: exactArgs(0, ""),
		RunE: runE(func(ctx context.Context, args []string) error {
			var resp api.CredentialListResp
			if err := a.call(ctx, api.MKeystoreCredentialList, api.Empty{}, &resp); err != nil {
				return err
			}
			p := printer{w: a.env.Stdout}
			if asJSON {
				return p.json(struct {
					OutputVersion outputVersion    `json:"output_version"`
					Credentials   []api.Credential `json:"credentials"`
				}{newOutputVersion("coffer keystore credential list"), resp.Credentials})
			}
			if len(resp.Credentials) == 0 {
				a.env.Stderr.Write([]byte("no credentials\n"))
				return nil
			}
			var rows [][]string
			for _, c := range resp.Credentials {
				used := strings.Join(c.UsedBy, ",")
				rows = append(rows, []string{c.Kind, c.Name, dash(c.Subject), dash(c.NotAfter), dash(used)})
			}
			p.table([]string{"KIND", "NAME", "SUBJECT", "EXPIRES", "USED BY"}, rows)
			return nil
		}),
	}
	list.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	remove := &cobra.Command{
		Use:     "remove kmip NAME",
		Short:   "Drop a credential from the keystore (refused while a dataset's keylocation names it)",
		Example: `  coffer keystore credential remove kmip kms1`,
		Args:    exactArgs(2, "kind and name"),
		RunE: runE(func(ctx context.Context, args []string) error {
			if args[0] != "kmip" {
				return usagef("unknown credential kind '%s' (kmip)", args[0])
			}
			return a.call(ctx, api.MKeystoreCredentialRemove, api.CredentialRemoveReq{Kind: "kmip", Name: args[1]}, nil)
		}),
	}
	cred.AddCommand(add, list, remove)
	return cred
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// readCredentialFile reads one PEM file, bounded.
func readCredentialFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, maxCredentialFile+1)
	n, err := f.Read(b)
	for err == nil && n < len(b) {
		var m int
		m, err = f.Read(b[n:])
		n += m
	}
	if err != nil && err != io.EOF {
		clear(b)
		return nil, err
	}
	if n > maxCredentialFile {
		clear(b)
		return nil, fmt.Errorf("%s: larger than %d bytes", path, maxCredentialFile)
	}
	return b[:n], nil
}
