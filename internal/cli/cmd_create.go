package cli

import (
	"context"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"coffer/internal/api"
)

type createOptions struct {
	parents bool     // -p
	props   []string // -o
	volsize string   // -V
	sparse  bool     // -s
}

func newCreateCommand(a *app) *cobra.Command {
	var opts createOptions
	cmd := &cobra.Command{
		Use:   "create [-p] [-o property=value]... FILESYSTEM",
		Short: "Create a file system, or with -V a volume",
		Long: `Create a file system, or with -V SIZE a volume (a block device of SIZE bytes;
suffixes K, M, G, T, P, E). -p creates missing parents; -s makes a sparse
volume (no reservation).

Encryption: -o encryption=on (aes-256-gcm) or another algorithm, with
-o keyformat=passphrase|hex|raw and -o keylocation=prompt|file:///PATH|https://URL,
or with keyformat=raw a key provider: tpm2:[?pcrs=N,...],
kmip://HOST:PORT?ca=PATH&cert=PATH&key=PATH[&name=LABEL] or
pkcs11:token=T;object=O?module-path=PATH&pin-source=file:///PATH (the
daemon generates the key and the provider seals it; it unlocks at start).
With keylocation=prompt (the default when keyformat is given) the key is
read here: at a terminal it is asked twice without echo; from a pipe the
first line is the passphrase or hex key, and a raw key is all of stdin
(32 bytes). Without keyformat, a child inherits its parent's encryption.`,
		Example: `  coffer create tank/home
  coffer create -p -o compression=lz4 tank/a/b/c
  echo 'correct horse battery' | coffer create -o encryption=on -o keyformat=passphrase tank/media
  coffer create -o encryption=on -o keyformat=raw -o keylocation=file:///root/tank.key tank/secret
  coffer create -o encryption=on -o keyformat=raw -o keylocation=tpm2:?pcrs=7 tank/vault
  coffer create -s -V 10G tank/vm1`,
		Annotations: map[string]string{"usage": "create [-p] [-o property=value]... FILESYSTEM\ncreate [-ps] [-o property=value]... -V SIZE VOLUME"},
		Args:        exactArgs(1, "dataset name"),
		RunE:        runE(func(ctx context.Context, args []string) error { return runCreate(ctx, a, opts, args) }),
	}
	f := cmd.Flags()
	f.BoolVarP(&opts.parents, "parents", "p", false, "create missing parent datasets")
	f.StringArrayVarP(&opts.props, "property", "o", nil, "set a property (repeatable)")
	f.StringVarP(&opts.volsize, "volume", "V", "", "create a volume of this size")
	f.BoolVarP(&opts.sparse, "sparse", "s", false, "sparse volume (with -V)")
	return cmd
}

func runCreate(ctx context.Context, a *app, opts createOptions, args []string) error {
	props, err := parseAssignments(opts.props)
	if err != nil {
		return err
	}
	req := api.CreateReq{Name: args[0], Parents: opts.parents, Props: props, Sparse: opts.sparse}
	if opts.volsize != "" {
		size, err := parseSize(opts.volsize)
		if err != nil {
			return usagef("bad volume size '%s': %v", opts.volsize, err)
		}
		req.Volume, req.Volsize = true, size
	} else if opts.sparse {
		return usagef("'-s' can only be used when creating a volume")
	}
	if format, ok := needsNewKey(props); ok {
		kr := newKeyReader(a)
		defer kr.wipe()
		if req.Key, err = kr.newKey(format, ""); err != nil {
			return err
		}
		defer clear(req.Key)
	}
	return a.call(ctx, api.MCreate, req, nil)
}

// parseSize parses zfs sizes: 1048576, 512K, 1.5G, 10GB, 2TiB.
func parseSize(s string) (uint64, error) {
	num := strings.TrimRight(s, "BKMGTPEbkmgtpei")
	suffix := strings.ToUpper(s[len(num):])
	suffix = strings.TrimSuffix(strings.TrimSuffix(suffix, "IB"), "B")
	shift := 0
	switch suffix {
	case "":
	case "K":
		shift = 10
	case "M":
		shift = 20
	case "G":
		shift = 30
	case "T":
		shift = 40
	case "P":
		shift = 50
	case "E":
		shift = 60
	default:
		return 0, errInvalidSize
	}
	if num == "" {
		return 0, errInvalidSize
	}
	if n, err := strconv.ParseUint(num, 10, 64); err == nil {
		if shift > 0 && n > math.MaxUint64>>shift {
			return 0, errSizeTooLarge
		}
		return n << shift, nil
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || math.IsNaN(f) {
		return 0, errInvalidSize
	}
	v := f * math.Pow(2, float64(shift))
	if v >= math.MaxUint64 {
		return 0, errSizeTooLarge
	}
	return uint64(v), nil
}

type sizeError string

func (e sizeError) Error() string { return string(e) }

const (
	errInvalidSize  = sizeError("invalid numeric suffix")
	errSizeTooLarge = sizeError("numeric value is too large")
)
