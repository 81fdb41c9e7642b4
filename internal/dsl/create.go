package dsl

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"coffer/internal/crypto"
	"coffer/internal/dmu"
	"coffer/internal/format"
	"coffer/internal/keysrc"
	"coffer/internal/pool"
	"coffer/internal/props"
)

// createPlan is a validated create: applying it cannot fail on bad input.
type createPlan struct {
	name     string
	typ      string
	parent   *dsRec
	props    map[string]string // canonical, without the key properties
	volsize  uint64
	volblock uint32
	suite    crypto.Suite
	root     bool     // a new encryption root
	ki       *keyInfo // for a root
	wk       crypto.Secret
	wrapBy   crypto.Secret // the wrapping key of the master key (wk, or the parent root's)
	mk       *crypto.DatasetKey
}

func (pl *createPlan) wipe() {
	if pl.wk != nil {
		pl.wk.Wipe()
	}
	if pl.mk != nil {
		pl.mk.Wipe()
	}
}

// CreateOpts are the options of create.
type CreateOpts struct {
	Parents bool
	Volume  bool
	Volsize uint64
	Sparse  bool
	Props   map[string]string
	Key     []byte // key material read by the client (keylocation=prompt)
}

// Create makes a file system or volume.
func (dp *Pool) Create(ctx context.Context, name string, o CreateOpts) error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if err := props.ValidDatasetName(name); err != nil {
		return errf(CodeInvalid, "cannot create '%s': %v", name, err)
	}
	if pool, _, _ := strings.Cut(name, "/"); pool != dp.Name() {
		return errf(CodeNotFound, "cannot create '%s': no such pool '%s'", name, pool)
	}
	if dp.lookup(name) != nil {
		if o.Parents {
			return nil // zfs create -p: "completes successfully" when it exists
		}
		return errf(CodeExists, "cannot create '%s': dataset already exists", name)
	}
	parentName := props.Parent(name)
	parent := dp.lookup(parentName)
	var missing []string
	if parent == nil {
		if !o.Parents {
			return errf(CodeNotFound, "cannot create '%s': parent does not exist", name)
		}
		for pn := parentName; dp.lookup(pn) == nil; pn = props.Parent(pn) {
			missing = append([]string{pn}, missing...)
		}
	}
	typ := "filesystem"
	if o.Volume {
		typ = "volume"
	}
	// Plan the missing parents as plain file systems that inherit, then the
	// dataset itself; refuse before anything is written.
	var plans []*createPlan
	for _, pn := range missing {
		pl, err := dp.planCreateUnder(pn, "filesystem", 0, nil, nil, plans)
		if err != nil {
			return err
		}
		plans = append(plans, pl)
	}
	p := o.Props
	if o.Volume && !o.Sparse {
		if _, set := p["refreservation"]; !set {
			p = maps.Clone(p)
			if p == nil {
				p = map[string]string{}
			}
			vs := o.Volsize
			if v, ok := p["volsize"]; ok {
				vs, _ = props.ParseSize(v)
			}
			p["refreservation"] = strconv.FormatUint(vs, 10)
		}
	}
	pl, err := dp.planCreateUnder(name, typ, o.Volsize, p, o.Key, plans)
	if err != nil {
		for _, p := range plans {
			p.wipe()
		}
		return err
	}
	plans = append(plans, pl)
	return dp.txgDo(func(txg uint64) error {
		for _, p := range plans {
			if err := dp.applyCreate(txg, p); err != nil {
				return err
			}
		}
		return nil
	})
}

// planCreateUnder plans a dataset whose parent may itself be planned.
func (dp *Pool) planCreateUnder(name, typ string, volsize uint64, p map[string]string, key []byte, pending []*createPlan) (*createPlan, error) {
	var parent *dsRec
	if pn := props.Parent(name); pn != "" {
		parent = dp.lookup(pn)
		if parent == nil {
			for _, pl := range pending {
				if pl.name == pn {
					parent = pl.asRec()
				}
			}
		}
		if parent == nil {
			return nil, errf(CodeNotFound, "cannot create '%s': parent does not exist", name)
		}
		if parent.Type != "filesystem" {
			return nil, errf(CodeInvalid, "cannot create '%s': parent is not a filesystem", name)
		}
	}
	return dp.plan(name, typ, parent, volsize, p, key)
}

// asRec is a stand-in parent record for a planned dataset.
func (pl *createPlan) asRec() *dsRec {
	r := &dsRec{Name: pl.name, Type: pl.typ, Suite: uint8(pl.suite), Props: pl.props}
	if pl.parent != nil {
		r.EncRoot = pl.parent.EncRoot
		r.Parent = pl.parent.ID
	}
	r.ID = ^uint64(0)
	return r
}

func (dp *Pool) planCreate(name, typ string, volsize uint64, p map[string]string, key []byte) (*createPlan, error) {
	return dp.plan(name, typ, nil, volsize, p, key)
}

func (dp *Pool) plan(name, typ string, parent *dsRec, volsize uint64, in map[string]string, key []byte) (*createPlan, error) {
	fail := func(code, f string, a ...any) (*createPlan, error) {
		return nil, errf(code, "cannot create '%s': %s", name, fmt.Sprintf(f, a...))
	}
	ptype := props.TypeFilesystem
	if typ == "volume" {
		ptype = props.TypeVolume
	}
	pl := &createPlan{name: name, typ: typ, parent: parent, props: map[string]string{}}
	keyProps := map[string]string{}
	for k, v := range in {
		cv, err := props.Validate(k, v, ptype)
		if err != nil {
			return fail(CodeInvalid, "%v", err)
		}
		d, _ := props.Lookup(k)
		switch d.Name {
		case "encryption", "keyformat", "keylocation", "pbkdf2iters", "pbkdf2kdf", "pbkdf2salt":
			keyProps[d.Name] = cv
		case "volsize":
			n, _ := strconv.ParseUint(cv, 10, 64)
			volsize = n
		default:
			pl.props[d.Name] = cv
		}
	}
	if typ == "volume" {
		vb := uint64(16384)
		if v, ok := pl.props["volblocksize"]; ok {
			vb, _ = strconv.ParseUint(v, 10, 64)
		}
		if volsize == 0 {
			return fail(CodeInvalid, "volume size cannot be zero")
		}
		if volsize%vb != 0 {
			return fail(CodeInvalid, "volume size must be a multiple of volume block size")
		}
		pl.volsize, pl.volblock = volsize, uint32(vb)
	}
	if err := dp.planKey(pl, keyProps, key); err != nil {
		return nil, errf(CodeOf(err), "cannot create '%s': %s", name, err.Error())
	}
	return pl, nil
}

// planKey decides the encryption of a new dataset (OpenZFS rules).
func (dp *Pool) planKey(pl *createPlan, kp map[string]string, material []byte) error {
	parent := pl.parent
	parentEnc := parent != nil && parent.Suite != 0
	enc, hasEnc := kp["encryption"]
	kf := kp["keyformat"]
	if kf == "none" {
		kf = ""
	}
	if !hasEnc {
		switch {
		case kf != "":
			enc = props.DefaultEncryption
		case parentEnc:
			enc = crypto.Suite(parent.Suite).String()
		default:
			enc = "off"
		}
	}
	if enc == "off" {
		if parentEnc {
			return errf(CodeInvalid, "encryption cannot be turned off for a child of an encrypted dataset")
		}
		for _, k := range []string{"keyformat", "keylocation", "pbkdf2iters", "pbkdf2kdf", "pbkdf2salt"} {
			if v, ok := kp[k]; ok && v != "none" {
				return errf(CodeInvalid, "'%s' requires encryption", k)
			}
		}
		return nil
	}
	suite, err := crypto.ParseSuite(enc)
	if err != nil {
		return errf(CodeInvalid, "%v", err)
	}
	pl.suite = suite
	if kf == "" {
		if !parentEnc {
			return errf(CodeInvalid, "keyformat must be specified when creating an encryption root")
		}
		for _, k := range []string{"keylocation", "pbkdf2iters", "pbkdf2kdf", "pbkdf2salt"} {
			if _, ok := kp[k]; ok {
				return errf(CodeInvalid, "'%s' can only be set on an encryption root (give keyformat too)", k)
			}
		}
		wk := dp.wk[parent.EncRoot]
		if wk == nil {
			return errf(CodeKey, "encryption key of '%s' is not loaded", dp.nameOf(parent.EncRoot))
		}
		pl.wrapBy = wk
	} else {
		ki, wk, err := dp.newUserKey(kf, kp, material)
		if err != nil {
			return err
		}
		pl.root, pl.ki, pl.wk, pl.wrapBy = true, ki, wk, wk
	}
	mk, err := crypto.NewDatasetKey(suite)
	if err != nil {
		return err
	}
	pl.mk = mk
	return nil
}

// newUserKey validates a new user key (create, change-key) and derives the
// wrapping key from its material.
func (dp *Pool) newUserKey(kf string, kp map[string]string, material []byte) (*keyInfo, crypto.Secret, error) {
	ki := &keyInfo{Format: kf, Location: kp["keylocation"]}
	if ki.Location == "" || ki.Location == "none" {
		ki.Location = "prompt"
	}
	if err := props.ValidKeyLocation(ki.Location); err != nil {
		return nil, nil, errf(CodeInvalid, "%v", err)
	}
	if kf != "passphrase" {
		for _, k := range []string{"pbkdf2iters", "pbkdf2kdf", "pbkdf2salt"} {
			if _, ok := kp[k]; ok {
				return nil, nil, errf(CodeInvalid, "'%s' only applies to keyformat=passphrase", k)
			}
		}
	}
	if prov := props.KeyProvider(ki.Location); prov != "" {
		if kf != "raw" {
			return nil, nil, errf(CodeInvalid, "keylocation '%s' needs keyformat=raw: the %s provider generates the key", ki.Location, prov)
		}
		wk, sealed, err := dp.newProviderKey(ki.Location)
		if err != nil {
			return nil, nil, err
		}
		ki.Sealed = sealed
		return ki, wk, nil
	}
	raw, err := dp.material(ki.Location, material)
	if err != nil {
		return nil, nil, err
	}
	defer clear(raw)
	parsed, err := keysrc.Parse(kf, raw)
	if err != nil {
		return nil, nil, errf(CodeInvalid, "%v", err)
	}
	defer clear(parsed)
	if kf != "passphrase" {
		return ki, crypto.Secret(append([]byte(nil), parsed...)), nil
	}
	kdf := crypto.KDFPBKDF2
	if kp["pbkdf2kdf"] == "argon2id" {
		kdf = crypto.KDFArgon2id
	}
	var iters uint64
	if v, ok := kp["pbkdf2iters"]; ok {
		iters, _ = strconv.ParseUint(v, 10, 32)
	}
	params, err := crypto.NewKDFParams(kdf, uint32(iters))
	if err != nil {
		return nil, nil, errf(CodeInvalid, "%v", err)
	}
	if kp["pbkdf2salt"] != "random" {
		// Default: the pool's passphrase salt, so that roots sharing a
		// passphrase unlock with one derivation (docs/design/crypto.md).
		if params.Salt, err = dp.passSalt(); err != nil {
			return nil, nil, errf(CodeIO, "%v", err)
		}
	}
	wk, err := dp.kdf.derive(parsed, params)
	if err != nil {
		return nil, nil, errf(CodeInvalid, "%v", err)
	}
	ki.KDF, ki.Salt, ki.Iters, ki.Memory, ki.Threads = uint8(params.KDF), params.Salt, params.Iters, params.MemoryKiB, params.Threads
	return ki, wk, nil
}

// passSalt returns the pool's passphrase salt, making it on first use (it
// is committed with the txg of the change that first uses it); dp.mu held.
func (dp *Pool) passSalt() ([]byte, error) {
	if len(dp.m.PassSalt) != crypto.KDFSaltLen {
		s, err := crypto.RandomBytes(crypto.KDFSaltLen)
		if err != nil {
			return nil, err
		}
		dp.m.PassSalt = s
	}
	return append([]byte(nil), dp.m.PassSalt...), nil
}

// material returns key material: what the client sent for prompt, else
// what the location holds.
func (dp *Pool) material(loc string, given []byte) ([]byte, error) {
	if loc == "prompt" {
		if len(given) == 0 {
			return nil, errf(CodeKey, "keylocation is prompt but no key was given")
		}
		return append([]byte(nil), given...), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	b, err := keysrc.Fetch(ctx, loc, dp.opts.HTTPClient)
	if err != nil {
		return nil, errf(CodeKey, "%v", err)
	}
	return b, nil
}

func (dp *Pool) nameOf(id uint64) string {
	if r := dp.m.Datasets[id]; r != nil {
		return r.Name
	}
	return "?"
}

// applyCreate writes a planned dataset in txg.
func (dp *Pool) applyCreate(txg uint64, pl *createPlan) error {
	m := dp.m
	id := m.NextID
	m.NextID++
	r := &dsRec{
		ID: id, GUID: pool.NewGUID(), Name: pl.name, Type: pl.typ, Created: time.Now().Unix(), CreateTxg: txg,
		Props: pl.props, Volsize: pl.volsize, Suite: uint8(pl.suite),
	}
	if pl.parent != nil {
		r.Parent = dp.lookup(pl.parent.Name).ID // a planned parent exists by now
	}
	if len(r.Props) == 0 {
		r.Props = nil
	}
	if pl.suite != crypto.Off {
		w, err := crypto.Wrap(pl.wrapBy, pl.mk, nil)
		if err != nil {
			return err
		}
		wb, err := w.MarshalBinary()
		if err != nil {
			return err
		}
		r.Wrapped, r.KeyGUID = wb, pl.mk.GUID()
		if pl.root {
			r.EncRoot, r.KeyInfo = id, pl.ki
		} else {
			r.EncRoot = dp.lookup(pl.parent.Name).EncRoot
		}
	}
	kind := format.ObjsetFilesystem
	if pl.typ == "volume" {
		kind = format.ObjsetVolume
	}
	m.Datasets[id] = r
	os := dmu.Create(dp.p, dmu.Options{Kind: kind, Key: pl.mk, Suite: pl.suite, Acct: &acct{dp: dp, r: r}})
	dp.tune(os, r)
	if pl.typ == "volume" {
		if _, err := os.NewObjectAt(VolumeObject, format.ObjectVolume, pl.volblock, txg); err != nil {
			return err
		}
	}
	root, err := os.Sync(txg)
	if err != nil {
		delete(m.Datasets, id)
		return errf(CodeIO, "cannot create '%s': %v", pl.name, err)
	}
	r.Root = root
	r.Written = r.Referenced
	if r.Parent != 0 {
		r.PrevSnapTxg = 0
	}
	dp.live[id] = &liveDS{key: pl.mk, os: os}
	if pl.root {
		dp.wk[id] = pl.wk
	}
	return nil
}

// VolumeObject is the object that holds a volume's data.
const VolumeObject = 1

// validateKeyProp checks a key property given to change-key.
func validateKeyProp(k, v string) (string, error) {
	return props.Validate(k, v, props.TypeFilesystem)
}
