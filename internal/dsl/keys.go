package dsl

import (
	"errors"

	"coffer/internal/crypto"
	"coffer/internal/keysrc"
	"coffer/internal/props"
)

// KeyRoot is an encryption root whose key a load-key would load.
type KeyRoot struct {
	Dataset     string
	KeyFormat   string
	KeyLocation string // effective: the -L override or the property
	KeyStatus   string
}

// Busy, when set, reports whether a dataset is in use (mounted or
// exported) so that its key cannot be unloaded.
func (dp *Pool) SetBusy(f func(name string) bool) {
	dp.mu.Lock()
	dp.busy = f
	dp.mu.Unlock()
}

func (dp *Pool) keyStatus(r *dsRec) string {
	if l := dp.live[r.ID]; l != nil && l.key != nil {
		return "available"
	}
	return "unavailable"
}

// KeyLoaded reports whether the key of encryption root name is loaded.
func (dp *Pool) KeyLoaded(name string) bool {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	r := dp.lookup(name)
	return r != nil && r.Suite != 0 && dp.keyStatus(r) == "available"
}

// Exists reports whether dataset or snapshot name exists.
func (dp *Pool) Exists(name string) bool {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	return dp.lookup(name) != nil
}

// KeyRoots returns the encryption roots selected like load-key selects
// them: name itself, or with recursive every root at or below name; with
// all, every root of the pool.
func (dp *Pool) KeyRoots(name string, recursive, all bool, location string) ([]KeyRoot, error) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	roots, err := dp.selectRoots("load key for", name, recursive, all)
	if err != nil {
		return nil, err
	}
	out := make([]KeyRoot, 0, len(roots))
	for _, r := range roots {
		loc := r.KeyInfo.Location
		if location != "" {
			loc = location
		} else if p := props.KeyProvider(r.KeyInfo.SealedBy); p != "" && loc == "prompt" {
			// A raw replica of a provider root: nothing to read from the
			// user; LoadKey says to name the provider with -L.
			loc = "sealed:" + p
		}
		out = append(out, KeyRoot{r.Name, r.KeyInfo.Format, loc, dp.keyStatus(r)})
	}
	return out, nil
}

func (dp *Pool) selectRoots(verb, name string, recursive, all bool) ([]*dsRec, error) {
	var scope *dsRec
	if all {
		scope = dp.root()
	} else {
		scope = dp.lookup(name)
		if scope == nil || scope.Type == "snapshot" {
			return nil, errf(CodeNotFound, "cannot open '%s': dataset does not exist", name)
		}
		if !recursive {
			if scope.Suite == 0 {
				return nil, errf(CodeInvalid, "cannot %s '%s': dataset is not encrypted", verb, name)
			}
			if scope.EncRoot != scope.ID {
				return nil, errf(CodeInvalid, "cannot %s '%s': keys can only be loaded and unloaded on encryption roots ('%s' is the encryption root)", verb, name, dp.nameOf(scope.EncRoot))
			}
			return []*dsRec{scope}, nil
		}
	}
	var out []*dsRec
	for _, d := range dp.descendants(scope) {
		if d.Suite != 0 && d.EncRoot == d.ID {
			out = append(out, d)
		}
	}
	return out, nil
}

// userWrappingKey derives an encryption root's wrapping key from material.
func (dp *Pool) userWrappingKey(r *dsRec, material []byte) (crypto.Secret, error) {
	ki := r.KeyInfo
	parsed, err := keysrc.Parse(ki.Format, material)
	if err != nil {
		return nil, errf(CodeKey, "%v", err)
	}
	defer clear(parsed)
	if ki.Format != "passphrase" {
		return crypto.Secret(append([]byte(nil), parsed...)), nil
	}
	params := crypto.KDFParams{KDF: crypto.KDF(ki.KDF), Salt: ki.Salt, Iters: ki.Iters, MemoryKiB: ki.Memory, Threads: ki.Threads}
	wk, err := dp.kdf.derive(parsed, params)
	if err != nil {
		return nil, errf(CodeIO, "%v", err)
	}
	return wk, nil
}

// unwrapTree unwraps the master keys of every dataset under encryption
// root r with wk. Nothing is kept unless all succeed.
func (dp *Pool) unwrapTree(r *dsRec, wk crypto.Secret) (map[uint64]*crypto.DatasetKey, map[uint64]*crypto.DatasetKey, error) {
	keys := map[uint64]*crypto.DatasetKey{}
	newKeys := map[uint64]*crypto.DatasetKey{}
	fail := func(err error) (map[uint64]*crypto.DatasetKey, map[uint64]*crypto.DatasetKey, error) {
		for _, k := range keys {
			k.Wipe()
		}
		for _, k := range newKeys {
			k.Wipe()
		}
		return nil, nil, err
	}
	for _, d := range dp.descendants(r) {
		if d.EncRoot != r.ID {
			continue
		}
		var w crypto.WrappedKey
		if err := w.UnmarshalBinary(d.Wrapped); err != nil {
			return fail(errf(CodeIO, "cannot load key for '%s': wrapped key of '%s' is damaged", r.Name, d.Name))
		}
		k, err := crypto.Unwrap(wk, w, nil)
		if err != nil {
			if errors.Is(err, crypto.ErrWrongKey) && d.ID == r.ID {
				return fail(errf(CodeKey, "cannot load key for '%s': incorrect key or passphrase", r.Name))
			}
			return fail(errf(CodeIO, "cannot load key for '%s': wrapped key of '%s' does not open: %v", r.Name, d.Name, err))
		}
		keys[d.ID] = k
		nk, err := unwrapRekey(d, wk)
		if err != nil {
			return fail(errf(CodeIO, "cannot load key for '%s': %v", r.Name, err))
		}
		if nk != nil {
			newKeys[d.ID] = nk
		}
	}
	return keys, newKeys, nil
}

// LoadKey loads the key of encryption root name. material is what the
// client read for keylocation=prompt; other locations are read here. With
// noop the key is only checked.
func (dp *Pool) LoadKey(name string, noop bool, location string, material []byte) error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	roots, err := dp.selectRoots("load key for", name, false, false)
	if err != nil {
		return err
	}
	r := roots[0]
	if dp.keyStatus(r) == "available" && !noop {
		return errf(CodeExists, "cannot load key for '%s': key already loaded", name)
	}
	loc := r.KeyInfo.Location
	sealedBy := props.KeyProvider(r.KeyInfo.SealedBy)
	if location == "" && loc == "prompt" && sealedBy != "" && len(material) == 0 {
		return errf(CodeKey, "cannot load key for '%s': its key was sealed by the %s key provider of the sending pool: name one with -L (coffer load-key -L '%s' %s)", name, sealedBy, r.KeyInfo.SealedBy, name)
	}
	if location != "" && location != loc {
		switch p := props.KeyProvider(location); {
		case p != "" && p == sealedBy:
			// A raw replica of a provider root: open the blob it carries
			// with this host's location of the same provider.
			if err := props.ValidKeyLocation(location); err != nil {
				return errf(CodeInvalid, "cannot load key for '%s': %v", name, err)
			}
		case p != "" && sealedBy != "":
			return errf(CodeInvalid, "cannot load key for '%s': its key was sealed by the %s key provider, not %s", name, sealedBy, p)
		case p != "":
			return errf(CodeInvalid, "cannot load key for '%s': a key provider location cannot be given with -L (its key is made by change-key -o keylocation=%s)", name, location)
		default:
			if err := keysrc.ValidLocation(location); err != nil {
				return errf(CodeInvalid, "cannot load key for '%s': %v", name, err)
			}
		}
		loc = location
	}
	var raw []byte
	if props.KeyProvider(loc) != "" {
		raw, err = dp.openProviderKey(loc, r.KeyInfo.Sealed)
	} else {
		raw, err = dp.material(loc, material)
	}
	if err != nil {
		return errf(CodeOf(err), "cannot load key for '%s': %s", name, err.Error())
	}
	defer clear(raw)
	wk, err := dp.userWrappingKey(r, raw)
	if err != nil {
		return errf(CodeOf(err), "cannot load key for '%s': %s", name, err.Error())
	}
	keys, newKeys, err := dp.unwrapTree(r, wk)
	if err != nil {
		wk.Wipe()
		return err
	}
	if noop {
		wk.Wipe()
		for _, k := range keys {
			k.Wipe()
		}
		for _, k := range newKeys {
			k.Wipe()
		}
		return nil
	}
	for id, k := range keys {
		l := dp.live[id]
		l.key, l.newKey, l.os = k, newKeys[id], nil
	}
	dp.wk[r.ID] = wk
	return nil
}

// UnloadKey unloads keys of encryption roots; their datasets become locked.
func (dp *Pool) UnloadKey(name string, recursive, all bool) ([]string, error) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	roots, err := dp.selectRoots("unload key for", name, recursive, all)
	if err != nil {
		return nil, err
	}
	var targets []*dsRec
	for _, r := range roots {
		if dp.keyStatus(r) != "available" {
			if !recursive && !all {
				return nil, errf(CodeInvalid, "cannot unload key for '%s': key already unloaded", r.Name)
			}
			continue
		}
		for _, d := range dp.descendants(r) {
			if d.EncRoot == r.ID && dp.busy != nil && dp.busy(d.Name) {
				return nil, errf(CodeBusy, "cannot unload key for '%s': '%s' is busy", r.Name, d.Name)
			}
			if d.EncRoot == r.ID && dp.rk[d.ID] != nil {
				return nil, errf(CodeBusy, "cannot unload key for '%s': a deep rekey of '%s' is running", r.Name, d.Name)
			}
		}
		targets = append(targets, r)
	}
	if dp.anyDirty() {
		if err := dp.txgDo(nil); err != nil {
			return nil, err
		}
	}
	// A lock also forgets recent passphrase derivations.
	dp.kdf.wipe()
	var out []string
	for _, r := range targets {
		for _, d := range dp.descendants(r) {
			if d.EncRoot != r.ID {
				continue
			}
			if l := dp.live[d.ID]; l != nil && l.key != nil {
				dp.p.Cache().DropKey(l.key.GUID())
				l.key.Wipe()
				if l.newKey != nil {
					l.newKey.Wipe()
				}
				l.key, l.newKey, l.os = nil, nil, nil
			}
		}
		dp.wk[r.ID].Wipe()
		delete(dp.wk, r.ID)
		out = append(out, r.Name)
	}
	return out, nil
}

// ChangeKeyOpts are the options of change-key.
type ChangeKeyOpts struct {
	Load    bool              // -l: load the current key first if needed
	Inherit bool              // -i: inherit the parent's key again
	Props   map[string]string // keyformat, keylocation, pbkdf2iters, pbkdf2kdf
	Key     []byte            // new key material (prompt)
	OldKey  []byte            // current key material for -l (prompt)
}

// ChangeKey rewraps the master keys under a dataset with a new user key
// (making it an encryption root), or with -i with its parent's key. Data is
// never rewritten.
func (dp *Pool) ChangeKey(name string, o ChangeKeyOpts) error {
	dp.mu.Lock()
	r := dp.lookup(name)
	if r == nil || r.Type == "snapshot" {
		dp.mu.Unlock()
		return errf(CodeNotFound, "cannot open '%s': dataset does not exist", name)
	}
	if r.Suite == 0 {
		dp.mu.Unlock()
		return errf(CodeInvalid, "cannot change key for '%s': dataset is not encrypted", name)
	}
	oldRoot := dp.m.Datasets[r.EncRoot]
	loaded := dp.wk[oldRoot.ID] != nil
	dp.mu.Unlock()
	if !loaded && o.Load {
		if err := dp.LoadKey(oldRoot.Name, false, "", o.OldKey); err != nil {
			return err
		}
		loaded = true
	}
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if dp.wk[oldRoot.ID] == nil {
		return errf(CodeKey, "cannot change key for '%s': encryption key not loaded (use -l)", name)
	}
	// Datasets whose master keys are rewrapped: r's tree under the old root.
	var tree []*dsRec
	for _, d := range dp.descendants(r) {
		if d.EncRoot == oldRoot.ID {
			if d.Rekey != nil {
				return rekeyBusy("change key for", name, d)
			}
			tree = append(tree, d)
		}
	}
	var newWK crypto.Secret
	var ki *keyInfo
	newRoot := r.ID
	if o.Inherit {
		if len(o.Props) > 0 {
			return errf(CodeInvalid, "cannot change key for '%s': properties cannot be given with -i", name)
		}
		if r.EncRoot != r.ID {
			return errf(CodeInvalid, "cannot change key for '%s': key inheritance can only be performed on encryption roots", name)
		}
		parent := dp.parentOf(r)
		if parent == nil || parent.Suite == 0 {
			return errf(CodeInvalid, "cannot change key for '%s': parent is not encrypted", name)
		}
		newRoot = parent.EncRoot
		newWK = dp.wk[newRoot]
		if newWK == nil {
			return errf(CodeKey, "cannot change key for '%s': encryption key of '%s' is not loaded", name, dp.nameOf(newRoot))
		}
	} else {
		kp := map[string]string{}
		for k, v := range o.Props {
			switch k {
			case "keyformat", "keylocation", "pbkdf2iters", "pbkdf2kdf", "pbkdf2salt":
			default:
				return errf(CodeInvalid, "cannot change key for '%s': only keyformat, keylocation, pbkdf2iters, pbkdf2kdf and pbkdf2salt can be changed", name)
			}
			cv, err := validateKeyProp(k, v)
			if err != nil {
				return errf(CodeInvalid, "cannot change key for '%s': %v", name, err)
			}
			kp[k] = cv
		}
		kf := kp["keyformat"]
		if kf == "" || kf == "none" {
			kf = oldRoot.KeyInfo.Format
		}
		if _, ok := kp["keylocation"]; !ok && r.ID == oldRoot.ID && kf == oldRoot.KeyInfo.Format {
			kp["keylocation"] = oldRoot.KeyInfo.Location
		}
		var err error
		ki, newWK, err = dp.newUserKey(kf, kp, o.Key)
		if err != nil {
			return errf(CodeOf(err), "cannot change key for '%s': %s", name, err.Error())
		}
	}
	// Wrap everything first; nothing changes unless all succeed.
	wrapped := map[uint64][]byte{}
	for _, d := range tree {
		l := dp.live[d.ID]
		w, err := crypto.Wrap(newWK, l.key, nil)
		if err == nil {
			var b []byte
			b, err = w.MarshalBinary()
			wrapped[d.ID] = b
		}
		if err != nil {
			if !o.Inherit {
				newWK.Wipe()
			}
			return errf(CodeIO, "cannot change key for '%s': %v", name, err)
		}
	}
	return dp.txgDo(func(txg uint64) error {
		for _, d := range tree {
			d.Wrapped, d.EncRoot = wrapped[d.ID], newRoot
		}
		if o.Inherit {
			r.KeyInfo = nil
			dp.wk[r.ID].Wipe()
			delete(dp.wk, r.ID)
			return nil
		}
		r.KeyInfo = ki
		if old := dp.wk[r.ID]; old != nil {
			old.Wipe()
		}
		dp.wk[r.ID] = newWK
		return nil
	})
}

// ExportedKey is the user key of a key-format (raw or hex) encryption root.
type ExportedKey struct {
	Dataset string
	GUID    uint64
	Format  string // raw, hex
	Key     []byte // the 32-byte key (hex-encode it for a manifest)
	// Location is the keylocation (RootGUIDs only).
	Location string
}

// ExportKeys returns the loaded user keys of the key-format encryption
// roots at name (with recursive, also below it). Passphrase roots are
// skipped: their key is only the passphrase, which coffer never stores.
func (dp *Pool) ExportKeys(name string, recursive bool) ([]ExportedKey, error) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	r := dp.lookup(name)
	if r == nil || r.Type == "snapshot" {
		return nil, errf(CodeNotFound, "cannot open '%s': dataset does not exist", name)
	}
	scope := []*dsRec{r}
	if recursive {
		scope = dp.descendants(r)
	}
	var out []ExportedKey
	for _, d := range scope {
		if d.Suite == 0 || d.EncRoot != d.ID || d.KeyInfo == nil || d.KeyInfo.Format == "passphrase" {
			continue
		}
		if prov := props.KeyProvider(d.KeyInfo.Location); prov != "" {
			// The key of a provider root is never handed out: it exists
			// only sealed by the provider (docs/design/key-providers.md).
			if !recursive {
				return nil, errf(CodeInvalid, "cannot export key of '%s': its key is held by the %s key provider and is never exported", d.Name, prov)
			}
			continue
		}
		wk := dp.wk[d.ID]
		if wk == nil {
			if !recursive {
				return nil, errf(CodeKey, "cannot export key of '%s': encryption key not loaded", d.Name)
			}
			continue
		}
		out = append(out, ExportedKey{Dataset: d.Name, GUID: d.GUID, Format: d.KeyInfo.Format, Key: append([]byte(nil), wk...)})
	}
	if len(out) == 0 && !recursive {
		return nil, errf(CodeInvalid, "cannot export key of '%s': not a key-format (raw or hex) encryption root", name)
	}
	return out, nil
}

// RootGUIDs returns the encryption roots of the pool with their GUIDs and
// key formats (for automatic unlock at start).
func (dp *Pool) RootGUIDs() map[string]ExportedKey {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	out := map[string]ExportedKey{}
	for _, d := range dp.m.Datasets {
		if d.Suite != 0 && d.EncRoot == d.ID && d.KeyInfo != nil && !d.Partial {
			out[d.Name] = ExportedKey{Dataset: d.Name, GUID: d.GUID, Format: d.KeyInfo.Format, Location: d.KeyInfo.Location}
		}
	}
	return out
}
