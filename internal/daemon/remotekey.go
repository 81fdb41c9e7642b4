package daemon

import (
	"bytes"
	"errors"

	"coffer/internal/crypto"
	"coffer/internal/keystore"
	"coffer/internal/remote"
)

// remoteKeyID is the keystore entry holding the key that seals the S3
// secret keys of the remotes (docs/design/s3.md).
const remoteKeyID = "remote-sealing-key"

var errKeystoreLocked = errors.New("keystore is locked: run 'coffer keystore unlock'")

// remoteSealingKey is the remotes' sealing key from the keystore, made on
// first use; while the keystore is locked remote operations fail.
func (d *Daemon) remoteSealingKey(create bool) (crypto.Secret, error) {
	st := d.keys.store
	if st == nil || st.Status() != "unlocked" {
		return nil, errKeystoreLocked
	}
	if e, ok := st.Get(remoteKeyID); ok && len(e.Secret) == 32 {
		return crypto.Secret(e.Secret), nil
	}
	if !create {
		return nil, errors.New("no remote sealing key in the keystore")
	}
	k, err := crypto.RandomBytes(32)
	if err != nil {
		return nil, err
	}
	if err := st.Put(remoteKeyID, keystore.Entry{Kind: "credential", Name: "remote sealing key", Secret: k}); err != nil {
		clear(k)
		return nil, err
	}
	return crypto.Secret(k), nil
}

// migrateRemoteKey moves <state>/remote-secret.key, the plain sealing key
// of older versions, into the keystore and deletes the file. It waits
// while the keystore is locked; a keystore that already holds a different
// key keeps the file and says so.
func (d *Daemon) migrateRemoteKey() {
	st := d.keys.store
	if st == nil || st.Status() != "unlocked" {
		return
	}
	old, err := remote.ReadLegacyKey(d.opts.StateDir)
	if err != nil {
		d.log.Error("remote sealing key not migrated", "err", err)
		return
	}
	if old == nil {
		return
	}
	defer old.Wipe()
	if e, ok := st.Get(remoteKeyID); ok {
		same := bytes.Equal(e.Secret, old)
		clear(e.Secret)
		if !same {
			d.log.Error("remote sealing key not migrated: the keystore already holds another one; " + remote.LegacyKeyFile + " is kept")
			return
		}
	} else if err := st.Put(remoteKeyID, keystore.Entry{Kind: "credential", Name: "remote sealing key", Secret: old}); err != nil {
		d.log.Error("remote sealing key not migrated", "err", err)
		return
	}
	if err := remote.RemoveLegacyKey(d.opts.StateDir); err != nil {
		d.log.Error("remove the migrated remote sealing key file", "err", err)
		return
	}
	d.log.Info("remote sealing key moved into the keystore", "removed", remote.LegacyKeyFile)
}
