package daemon

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"coffer/internal/api"
	"coffer/internal/dsl"
	"coffer/internal/keystore"
	"coffer/internal/pkcs11"
)

var _ api.KeysBackend = (*Daemon)(nil)

const fileWarning = "the system secret is stored in plain on this host (file protection): whoever reads the disk can unlock the key-format datasets; protect it with 'coffer keystore protect tpm2' or 'coffer keystore protect passphrase'"

// keys is the daemon's key custody state.
type keys struct {
	store *keystore.Store
	audit struct {
		sync.Mutex
		f *os.File
	}
}

// openKeystore opens (or, at first start, creates) the system keystore and
// unseals it when its protection allows it without a person.
func (d *Daemon) openKeystore() error {
	st, err := keystore.Open(filepath.Join(d.opts.StateDir, "keystore"))
	if err != nil {
		return err
	}
	d.keys.store = st
	ctx := context.Background()
	if !st.Initialized() {
		// First start: the TPM when there is one, else a plain file, loudly
		// warned (SPEC §6).
		if d.tpmPresent() {
			err := st.Init(ctx, tpmProtector{device: d.tpmDevice(), pcrs: []int{7}})
			if err == nil {
				d.log.Info("keystore created", "protection", "tpm2", "device", d.tpmDevice(), "pcrs", "7")
				return nil
			}
			d.log.Error("TPM present but sealing failed; falling back to file protection", "err", err)
		}
		d.log.Warn("keystore created", "protection", "file", "warning", fileWarning)
		return st.Init(ctx, keystore.FileProtector{})
	}
	kind, _ := st.Protection()
	switch kind {
	case "tpm2":
		if err := d.unsealTPM(ctx, st, nil); err != nil {
			d.log.Error("keystore locked", "protection", "tpm2", "reason", err)
		}
		return nil
	case "pkcs11":
		_, params := st.Protection()
		if err := st.Unlock(ctx, pkcs11Protector{uri: params["uri"]}); err != nil {
			d.log.Error("keystore locked: waiting for the PKCS#11 token", "reason", err)
		}
		return nil
	case "kmip":
		_, params := st.Protection()
		if err := st.Unlock(ctx, &kmipProtector{uri: params["uri"]}); err != nil {
			// No cached copy of the key yet: the daemon waits for the server.
			d.log.Error("keystore locked: waiting for the KMIP server (no cached key)", "reason", err)
		}
		return nil
	case "file":
		d.log.Warn("keystore protection is file", "warning", fileWarning)
		return st.Unlock(ctx, keystore.FileProtector{})
	case "passphrase":
		d.log.Warn("keystore waits for the admin passphrase: run 'coffer keystore unlock'")
		return nil
	}
	d.log.Error("keystore protection not supported by this build", "protection", kind)
	return nil
}

// autoUnlock loads the keys of key-format encryption roots kept in the
// keystore; passphrase roots stay locked. A failure does not stop others.
func (d *Daemon) autoUnlock() {
	if d.keys.store == nil || d.keys.store.Status() != "unlocked" {
		return
	}
	for _, dp := range d.sortedPools() {
		for name, r := range dp.RootGUIDs() {
			if r.Format == "passphrase" {
				continue
			}
			e, ok := d.keys.store.Get(fmt.Sprintf("dataset:%d", r.GUID))
			if !ok {
				continue
			}
			material := e.Secret
			if r.Format == "hex" {
				material = []byte(hex.EncodeToString(e.Secret))
			}
			err := dp.LoadKey(name, false, "prompt", material)
			clear(material)
			clear(e.Secret)
			d.auditLog(api.Caller{}, "auto-unlock", name, err)
			if err != nil {
				d.log.Error("automatic unlock failed", "dataset", name, "err", err)
			} else {
				d.log.Info("unlocked from the keystore", "dataset", name)
			}
		}
		d.resumeRekeys(dp)
	}
}

// rememberKeys puts the loaded keys of the key-format roots at and below
// name into the keystore, for automatic unlock at the next start.
func (d *Daemon) rememberKeys(dp *dsl.Pool, name string) {
	if d.keys.store == nil || d.keys.store.Status() != "unlocked" {
		return
	}
	ks, err := dp.ExportKeys(name, true)
	if err != nil {
		return
	}
	for _, k := range ks {
		err := d.keys.store.Put(fmt.Sprintf("dataset:%d", k.GUID), keystore.Entry{Kind: "dataset-key", Name: k.Dataset, Format: k.Format, Secret: k.Key})
		clear(k.Key)
		if err != nil {
			d.log.Error("cannot keep key in the keystore", "dataset", k.Dataset, "err", err)
		}
	}
}

// auditLog appends one line per key operation: who, what, when, outcome.
// Never key material: errors are the user-facing messages, which hold none.
func (d *Daemon) auditLog(c api.Caller, op, dataset string, err error) {
	a := &d.keys.audit
	a.Lock()
	defer a.Unlock()
	if a.f == nil {
		f, ferr := os.OpenFile(filepath.Join(d.opts.StateDir, "audit.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if ferr != nil {
			d.log.Error("audit log", "err", ferr)
			return
		}
		a.f = f
	}
	rec := map[string]any{"time": time.Now().UTC().Format(time.RFC3339Nano), "uid": c.UID, "pid": c.PID, "op": op, "dataset": dataset, "ok": err == nil}
	if err != nil {
		rec["error"] = firstLine(err)
	}
	b, _ := json.Marshal(rec)
	a.f.Write(append(b, '\n'))
	a.f.Sync()
}

func (d *Daemon) KeyExport(ctx context.Context, c api.Caller, req api.KeyExportReq) (api.KeyExportResp, error) {
	resp := api.KeyExportResp{Keys: map[string]string{}}
	dp, err := d.poolOf(req.Name)
	if err != nil {
		return resp, err
	}
	ks, err := dp.ExportKeys(req.Name, req.Recursive)
	d.auditLog(c, "key-export", req.Name, err)
	if err != nil {
		return resp, apiErr(err)
	}
	for _, k := range ks {
		resp.Keys[k.Dataset] = hex.EncodeToString(k.Key)
		clear(k.Key)
	}
	return resp, nil
}

func (d *Daemon) KeystoreStatus(ctx context.Context, c api.Caller) (api.KeystoreStatus, error) {
	st := d.keys.store
	if st == nil {
		return api.KeystoreStatus{Protection: "none", Health: "not opened"}, nil
	}
	kind, params := st.Protection()
	s := api.KeystoreStatus{Protection: kind, Health: st.Status(), Entries: st.Count(), Params: params}
	if kind == "file" {
		s.Warning = fileWarning
	}
	return s, nil
}

func (d *Daemon) KeystoreProtect(ctx context.Context, c api.Caller, req api.KeystoreProtectReq) error {
	var p keystore.Protector
	switch req.Kind {
	case "file":
		p = keystore.FileProtector{}
	case "passphrase":
		if len(req.Passphrase) < 8 {
			return api.Invalid("cannot protect the keystore: the admin passphrase must be at least 8 bytes")
		}
		p = keystore.PassphraseProtector{Passphrase: append([]byte(nil), req.Passphrase...)}
	case "tpm2":
		pcrs, err := parsePCRs(req.Options["pcrs"])
		if err != nil {
			return api.Invalid("cannot protect the keystore with tpm2: %v", err)
		}
		p = tpmProtector{device: d.tpmDevice(), pcrs: pcrs, pin: append([]byte(nil), req.Passphrase...)}
	case "kmip":
		if req.Options["uri"] == "" {
			return api.Errorf(api.CodeUsage, "cannot protect the keystore with kmip: give the server as kmip://HOST:PORT?ca=PATH&cert=PATH&key=PATH")
		}
		p = &kmipProtector{uri: req.Options["uri"]}
	case "pkcs11":
		if req.Options["uri"] == "" {
			return api.Errorf(api.CodeUsage, "cannot protect the keystore with pkcs11: give the token as pkcs11:token=T;object=O?module-path=PATH&pin-source=file:///PATH")
		}
		if u, err := pkcs11.ParseURI(req.Options["uri"]); err != nil {
			return api.Invalid("cannot protect the keystore with pkcs11: %v", err)
		} else if len(u.PIN) > 0 && u.PINSource == "" {
			return api.Invalid("cannot protect the keystore with pkcs11: use pin-source=file:///PATH, not pin-value: the URI is stored on the host")
		}
		p = pkcs11Protector{uri: req.Options["uri"]}
	default:
		return api.Errorf(api.CodeUsage, "unknown protection '%s' (file, passphrase, tpm2, kmip, pkcs11)", req.Kind)
	}
	err := d.keys.store.Reprotect(ctx, p)
	d.auditLog(c, "keystore-protect "+req.Kind, "", err)
	if err != nil {
		return api.Errorf(api.CodeKey, "cannot protect the keystore: %v", err)
	}
	return nil
}

func (d *Daemon) KeystoreUnlock(ctx context.Context, c api.Caller, req api.KeystoreUnlockReq) error {
	st := d.keys.store
	var err error
	switch kind, _ := st.Protection(); kind {
	case "passphrase":
		err = st.Unlock(ctx, keystore.PassphraseProtector{Passphrase: append([]byte(nil), req.Passphrase...)})
	case "tpm2": // the PIN
		err = d.unsealTPM(ctx, st, append([]byte(nil), req.Passphrase...))
	default:
		return api.Invalid("cannot unlock the keystore: its protection is %s; it needs no passphrase", kind)
	}
	d.auditLog(c, "keystore-unlock", "", err)
	if err != nil {
		return api.KeyError("cannot unlock the keystore: %v", err)
	}
	d.autoUnlock()
	if err := d.mountAll(""); err != nil {
		d.log.Error("mount after keystore unlock", "err", err)
	}
	return nil
}
