package cli

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// Environment variables that hold a remote's credentials for `remote add`
// (instead of standard input; never argv).
const (
	envS3AccessKey = "COFFER_S3_ACCESS_KEY"
	envS3SecretKey = "COFFER_S3_SECRET_KEY"
)

func newRemoteCommand(a *app) *cobra.Command {
	remote := &cobra.Command{
		Use:   "remote COMMAND",
		Short: "Back up datasets to S3-compatible object storage, and restore them",
		Long: `A remote is a bucket (and key prefix) of S3-compatible object storage. Backups
are raw send streams, so the storage holds ciphertext only: a full stream,
then incrementals, listed in a manifest per dataset. The daemon keeps each
remote's credentials, the secret key sealed in its state directory.`,
		Example: `  echo "$ACCESS_KEY:$SECRET_KEY" | coffer remote add -o endpoint=https://s3.example.com offsite s3://backups/host1
  coffer remote send offsite tank/media@monday
  coffer remote list-backups offsite tank/media
  coffer remote receive offsite tank/media@monday tank/media-restored`,
		Args: cobra.ArbitraryArgs,
		RunE: groupRunE,
	}
	remote.AddCommand(
		newRemoteAddCommand(a),
		newRemoteListCommand(a),
		newRemoteRemoveCommand(a),
		newRemoteSendCommand(a),
		newRemoteBackupsCommand(a),
		newRemoteReceiveCommand(a),
	)
	return remote
}

// readS3Credentials reads ACCESS_KEY:SECRET_KEY from the environment
// (both variables set), else from the terminal without echo, else as one
// line of standard input. The caller wipes the secret.
func readS3Credentials(a *app, name string) (access string, secret []byte, err error) {
	if ak, sk := a.getenv(envS3AccessKey), a.getenv(envS3SecretKey); ak != "" || sk != "" {
		if ak == "" || sk == "" {
			return "", nil, fmt.Errorf("cannot read credentials: set both %s and %s", envS3AccessKey, envS3SecretKey)
		}
		return ak, []byte(sk), nil
	}
	k := newKeyReader(a)
	defer k.wipe()
	var line []byte
	if a.env.Terminal != nil {
		line, err = k.prompt(fmt.Sprintf("Enter ACCESS_KEY:SECRET_KEY for remote '%s':", name))
	} else {
		line, err = k.fromStdin("passphrase")
	}
	if err != nil {
		if strings.Contains(err.Error(), "no data on standard input") {
			return "", nil, fmt.Errorf("cannot read credentials: no data on standard input (want one line ACCESS_KEY:SECRET_KEY, or set %s and %s)", envS3AccessKey, envS3SecretKey)
		}
		return "", nil, err
	}
	defer clear(line)
	i := bytes.IndexByte(line, ':')
	if i <= 0 || i == len(line)-1 {
		return "", nil, errors.New("cannot read credentials: want one line ACCESS_KEY:SECRET_KEY")
	}
	return string(line[:i]), bytes.Clone(line[i+1:]), nil
}

// remoteTime formats a backup's creation time for tables.
func remoteTime(a *app, unix int64, exact bool) string {
	if exact {
		return fmt.Sprint(unix)
	}
	return time.Unix(unix, 0).In(a.location()).Format("Mon Jan _2 15:04 2006")
}
