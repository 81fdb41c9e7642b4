package cli

import (
	"context"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

func newKeystoreCommand(a *app) *cobra.Command {
	ks := &cobra.Command{
		Use:   "keystore COMMAND",
		Short: "The daemon's system keystore (keys for automatic unlock, credentials)",
		Args:  cobra.ArbitraryArgs,
		RunE:  groupRunE,
	}
	var asJSON bool
	status := &cobra.Command{
		Use:   "status [-j]",
		Short: "Show how the system secret is protected and whether the keystore is open",
		Example: `  coffer keystore status
  coffer keystore status -j`,
		Args: exactArgs(0, ""),
		RunE: runE(func(ctx context.Context, args []string) error {
			var st api.KeystoreStatus
			if err := a.call(ctx, api.MKeystoreStatus, api.Empty{}, &st); err != nil {
				return err
			}
			if asJSON {
				return printer{w: a.env.Stdout}.json(st)
			}
			fmt.Fprintf(a.env.Stdout, "protection: %s\nhealth:     %s\nentries:    %d\n", st.Protection, st.Health, st.Entries)
			if st.Cache != "" {
				fmt.Fprintf(a.env.Stdout, "cache:      %s (PCRs %s)\n", st.Cache, st.CacheParams["pcrs"])
			}
			if st.Note != "" {
				fmt.Fprintf(a.env.Stdout, "note:       %s\n", st.Note)
			}
			if st.Warning != "" {
				fmt.Fprintf(a.env.Stdout, "WARNING:    %s\n", st.Warning)
			}
			names := make([]string, 0, len(st.Waiting))
			for n := range st.Waiting {
				names = append(names, n)
			}
			sort.Strings(names)
			for _, n := range names {
				fmt.Fprintf(a.env.Stdout, "waiting:    %s: %s\n", n, st.Waiting[n])
			}
			return nil
		}),
	}
	status.Flags().BoolVarP(&asJSON, "json", "j", false, "JSON output")
	var pcrs string
	var withPIN, tpmCache bool
	protect := &cobra.Command{
		Use:   "protect file|passphrase|tpm2 [--pcrs 7,...] [--pin]|kmip URI [--tpm-cache [--pcrs 7,...]]|pkcs11 URI [--tpm-cache [--pcrs 7,...]]",
		Short: "Protect the system secret another way (nothing else changes)",
		Long: `Seal the same system secret with another protection: passphrase (an admin
passphrase typed at every daemon start with 'coffer keystore unlock'; read
here like a new key: twice at a terminal, once from a pipe), tpm2 (sealed to
the TPM with a PCR policy, PCR 7 unless --pcrs says otherwise; --pin adds a
PIN that 'coffer keystore unlock' must give at every start), or file (the
secret in plain on the host, loudly warned), or kmip URI (wrapped under a
key that lives in a KMIP server; the host keeps only its ID:
kmip://HOST:PORT?ca=PATH&cert=PATH&key=PATH[&name=LABEL], the client
certificate authenticating this host; cred=NAME is refused here, as that
credential is kept inside the keystore this protection opens), or pkcs11 URI (wrapped in a PKCS#11
token by a non-extractable AES key generated there:
pkcs11:token=T;object=O?module-path=PATH&pin-source=file:///PATH).

With kmip or pkcs11, --tpm-cache also seals the secret to the TPM (PCR 7
unless --pcrs says otherwise): when the key server or token does not answer
at start, the daemon unlocks from that cache and 'coffer keystore status'
says so (key persistence). Protecting again without --tpm-cache, or
'coffer keystore uncache', drops the cache.`,
		Example: `  coffer keystore protect tpm2
  coffer keystore protect tpm2 --pcrs 0,7 --pin
  echo 'admin passphrase' | coffer keystore protect passphrase
  coffer keystore protect kmip 'kmip://kms.example:5696?ca=/etc/coffer/kms-ca.pem&cert=/etc/coffer/host.pem&key=/etc/coffer/host.key'
  coffer keystore protect kmip --tpm-cache 'kmip://kms.example:5696?ca=/etc/coffer/kms-ca.pem&cert=/etc/coffer/host.pem&key=/etc/coffer/host.key'`,
		Args: rangeArgs(1, 2, "protection"),
		RunE: runE(func(ctx context.Context, args []string) error {
			req := api.KeystoreProtectReq{Kind: args[0]}
			if args[0] == "kmip" || args[0] == "pkcs11" {
				if len(args) != 2 {
					return usagef("missing %s URI argument", args[0])
				}
				req.Options = map[string]string{"uri": args[1]}
			} else if len(args) > 1 {
				return usagef("too many arguments")
			}
			if args[0] == "tpm2" {
				req.Options = map[string]string{"pcrs": pcrs}
			}
			if tpmCache {
				if args[0] != "kmip" && args[0] != "pkcs11" {
					return usagef("--tpm-cache is only for kmip and pkcs11")
				}
				req.Options["tpm-cache"] = pcrs
			}
			if args[0] == "passphrase" || (args[0] == "tpm2" && withPIN) {
				kr := newKeyReader(a)
				p, err := kr.newKey("passphrase", "the keystore")
				kr.wipe()
				if err != nil {
					return err
				}
				defer clear(p)
				req.Passphrase = p
			}
			return a.call(ctx, api.MKeystoreProtect, req, nil)
		}),
	}
	protect.Flags().StringVar(&pcrs, "pcrs", "7", "tpm2: PCRs the seal is bound to")
	protect.Flags().BoolVar(&withPIN, "pin", false, "tpm2: also require a PIN (read like a new passphrase)")
	protect.Flags().BoolVar(&tpmCache, "tpm-cache", false, "kmip, pkcs11: also keep a TPM-sealed cache of the secret for when the key server is down")
	uncache := &cobra.Command{
		Use:     "uncache",
		Short:   "Drop the TPM-sealed cache of the system secret (kmip, pkcs11 protection)",
		Example: `  coffer keystore uncache`,
		Args:    exactArgs(0, ""),
		RunE: runE(func(ctx context.Context, args []string) error {
			return a.call(ctx, api.MKeystoreUncache, api.Empty{}, nil)
		}),
	}
	unlock := &cobra.Command{
		Use:     "unlock",
		Short:   "Give the admin passphrase so that the keystore opens (passphrase protection)",
		Example: `  echo 'admin passphrase' | coffer keystore unlock`,
		Args:    exactArgs(0, ""),
		RunE: runE(func(ctx context.Context, args []string) error {
			kr := newKeyReader(a)
			p, err := kr.existingKey("passphrase", "the keystore")
			kr.wipe()
			if err != nil {
				return err
			}
			defer clear(p)
			return a.call(ctx, api.MKeystoreUnlock, api.KeystoreUnlockReq{Passphrase: p}, nil)
		}),
	}
	ks.AddCommand(status, protect, unlock, uncache, newKeystoreCredentialCommand(a))
	return ks
}
