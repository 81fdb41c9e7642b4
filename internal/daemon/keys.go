package daemon

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"coffer/internal/api"
	"coffer/internal/dsl"
	"coffer/internal/keystore"
	"coffer/internal/pkcs11"
	"coffer/internal/props"
)

var _ api.KeysBackend = (*Daemon)(nil)

const fileWarning = "the system secret is stored in plain on this host (file protection): whoever reads the disk can unlock the key-format datasets; protect it with 'coffer keystore protect tpm2' or 'coffer keystore protect passphrase'"

// keys is the daemon's key custody state.
type keys struct {
	store *keystore.Store
	// waiting: encryption roots with a provider keylocation that stayed
	// locked at start, and why (guarded by Daemon.mu).
	waiting map[string]string
	audit   struct {
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
	case "pkcs11", "kmip":
		// A remote key: when it does not answer, the TPM-sealed cache (if
		// any) opens the keystore (key persistence).
		_, params := st.Protection()
		var p keystore.Protector = pkcs11Protector{uri: params["uri"]}
		if kind == "kmip" {
			p = &kmipProtector{uri: params["uri"]}
		}
		if err := st.UnlockOrCache(ctx, p, tpmProtector{device: d.tpmDevice()}); err != nil {
			d.log.Error("keystore locked", "protection", kind, "reason", st.Status())
		} else if n := st.Note(); n != "" {
			d.log.Warn("keystore "+n, "protection", kind)
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
// keystore and of roots whose keylocation is a key provider; passphrase
// roots stay locked. A failure does not stop others; why a root stays
// locked is kept for keystore status.
func (d *Daemon) autoUnlock() {
	storeOpen := d.keys.store != nil && d.keys.store.Status() == "unlocked"
	for _, dp := range d.sortedPools() {
		for name, r := range dp.RootGUIDs() {
			if r.Format == "passphrase" || dp.KeyLoaded(name) {
				continue
			}
			if prov := props.KeyProvider(r.Location); prov != "" {
				if cred := props.KMIPCredential(r.Location); cred != "" && !storeOpen {
					// Its client identity is in the keystore: it waits
					// for the keystore, and is tried again when
					// 'coffer keystore unlock' opens it.
					reason := fmt.Sprintf("keystore is locked: the kmip credential %s is kept in it", cred)
					d.setWaiting(name, reason)
					d.log.Warn("automatic unlock waits", "dataset", name, "provider", prov, "reason", reason)
					continue
				}
				err := dp.LoadKey(name, false, "", nil)
				d.auditLog(api.Caller{}, "auto-unlock", name, err)
				if err != nil {
					d.setWaiting(name, strings.TrimPrefix(firstLine(err), "cannot load key for '"+name+"': "))
					d.log.Error("automatic unlock failed", "dataset", name, "provider", prov, "err", err)
				} else {
					d.setWaiting(name, "")
					d.log.Info("unlocked by its key provider", "dataset", name, "provider", prov)
				}
				continue
			}
			if !storeOpen {
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

// setWaiting records why an encryption root stays locked ("" clears it).
func (d *Daemon) setWaiting(name, reason string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.keys.waiting == nil {
		d.keys.waiting = map[string]string{}
	}
	if reason == "" {
		delete(d.keys.waiting, name)
	} else {
		d.keys.waiting[name] = reason
	}
}

// keysWaiting returns the key provider roots (of pool poolName, or of all
// pools when "") that stayed locked, and why; only roots that still exist
// and are still locked are listed.
func (d *Daemon) keysWaiting(poolName string) map[string]string {
	d.mu.Lock()
	waiting := maps.Clone(d.keys.waiting)
	d.mu.Unlock()
	for n := range waiting {
		pn, _, _ := strings.Cut(n, "/")
		if poolName != "" && pn != poolName {
			delete(waiting, n)
			continue
		}
		if dp, err := d.poolOf(n); err != nil || dp.KeyLoaded(n) || !dp.Exists(n) {
			delete(waiting, n)
		}
	}
	if len(waiting) == 0 {
		return nil
	}
	return waiting
}

// rememberKeys puts the loaded keys of the key-format roots at and below
// name into the keystore, for automatic unlock at the next start. Roots
// whose key a provider holds are never kept there (and a key kept before a
// change-key to a provider is dropped).
func (d *Daemon) rememberKeys(dp *dsl.Pool, name string) {
	for n, r := range dp.RootGUIDs() {
		if n == name || strings.HasPrefix(n, name+"/") {
			d.setWaiting(n, "")
			if props.KeyProvider(r.Location) != "" && d.keys.store != nil && d.keys.store.Status() == "unlocked" {
				if err := d.keys.store.Delete(fmt.Sprintf("dataset:%d", r.GUID)); err != nil {
					d.log.Error("cannot drop a kept key from the keystore", "dataset", n, "err", err)
				}
			}
		}
	}
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

// auditRecord is one line of the audit log: who, what, when, outcome.
// Never key material: errors are the user-facing messages, which hold none.
type auditRecord struct {
	Time      string `json:"time"`
	UID       int    `json:"uid"`
	PID       int    `json:"pid"`
	User      string `json:"user,omitempty"`
	Role      string `json:"role,omitempty"`
	Transport string `json:"transport,omitempty"`
	Op        string `json:"op"`
	Dataset   string `json:"dataset,omitempty"`
	Outcome   string `json:"outcome"` // ok, failed, denied
	OK        bool   `json:"ok"`
	Error     string `json:"error,omitempty"`
}

func newAuditRecord(c api.Caller, op, dataset string, err error) auditRecord {
	r := auditRecord{
		Time: time.Now().UTC().Format(time.RFC3339Nano), UID: c.UID, PID: c.PID,
		User: c.User, Role: string(c.Role), Transport: c.Transport,
		Op: op, Dataset: dataset, Outcome: "ok", OK: err == nil,
	}
	if err != nil {
		r.Outcome = "failed"
		if code := api.ErrorCode(err); code == api.CodePermission || code == api.CodeAuth {
			r.Outcome = "denied"
		}
		r.Error = firstLine(err)
	}
	return r
}

// auditLog appends one line per key operation.
func (d *Daemon) auditLog(c api.Caller, op, dataset string, err error) {
	d.auditWrite(newAuditRecord(c, op, dataset, err))
}

// auditAPI records what the API server refuses before the backend runs
// (a role that does not allow a key operation, a bad token) and user
// management.
func (d *Daemon) auditAPI(c api.Caller, method string, err error) {
	d.auditLog(c, method, "", err)
}

// auditWrite appends records to <state>/audit.log (opened O_APPEND, mode
// 0600) in one write and fsyncs it once.
func (d *Daemon) auditWrite(recs ...auditRecord) {
	if len(recs) == 0 {
		return
	}
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
	var buf []byte
	for _, r := range recs {
		b, _ := json.Marshal(r)
		buf = append(append(buf, b...), '\n')
	}
	if _, err := a.f.Write(buf); err != nil {
		d.log.Error("audit log write", "err", err)
	}
	if err := a.f.Sync(); err != nil {
		d.log.Error("audit log sync", "err", err)
	}
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
	var waiting map[string]string
	waiting = d.keysWaiting("")
	if st == nil {
		return api.KeystoreStatus{Protection: "none", Health: "not opened", Waiting: waiting}, nil
	}
	kind, params := st.Protection()
	s := api.KeystoreStatus{Protection: kind, Health: st.Status(), Entries: st.Count(), Params: params, Waiting: waiting, Note: st.Note()}
	s.Cache, s.CacheParams = st.Cache()
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
		if u, err := url.Parse(req.Options["uri"]); err == nil && u.Query().Has("cred") {
			return api.Invalid("cannot protect the keystore with kmip: %v", errKMIPCredForKeystore)
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
	var cache keystore.Protector
	if v, ok := req.Options["tpm-cache"]; ok {
		if req.Kind != "kmip" && req.Kind != "pkcs11" {
			return api.Invalid("cannot protect the keystore with %s: a TPM cache is only for kmip and pkcs11", req.Kind)
		}
		pcrs, err := parsePCRs(v)
		if err != nil {
			return api.Invalid("cannot protect the keystore with %s: TPM cache: %v", req.Kind, err)
		}
		if !d.tpmPresent() {
			return api.KeyError("cannot protect the keystore with %s: TPM cache: no TPM answers at %s", req.Kind, d.tpmDevice())
		}
		cache = tpmProtector{device: d.tpmDevice(), pcrs: pcrs}
	}
	err := d.keys.store.ReprotectCached(ctx, p, cache)
	op := "keystore-protect " + req.Kind
	if cache != nil {
		op += " tpm-cache"
	}
	d.auditLog(c, op, "", err)
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
	d.migrateRemoteKey()
	d.autoUnlock()
	if err := d.mountAll(""); err != nil {
		d.log.Error("mount after keystore unlock", "err", err)
	}
	return nil
}

// KeystoreUncache drops the TPM-sealed cache of the system secret: from
// then on the keystore opens only through its protection.
func (d *Daemon) KeystoreUncache(ctx context.Context, c api.Caller, req api.Empty) error {
	st := d.keys.store
	if st == nil {
		return api.Invalid("cannot drop the keystore cache: the keystore is not open")
	}
	had, err := st.DropCache()
	if err == nil && !had {
		err = api.Invalid("cannot drop the keystore cache: there is none")
	}
	d.auditLog(c, "keystore-uncache", "", err)
	if err != nil {
		if _, ok := err.(*api.Error); ok {
			return err
		}
		return api.Errorf(api.CodeIO, "cannot drop the keystore cache: %v", err)
	}
	return nil
}
