package dsl

import (
	"bytes"
	"sort"
	"strconv"
	"strings"

	"coffer/internal/crypto"
	"coffer/internal/dmu"
	"coffer/internal/format"
	"coffer/internal/pool"
	"coffer/internal/props"
)

// Sources of a property value, as zfs prints them.
const (
	SrcLocal    = "local"
	SrcDefault  = "default"
	SrcNone     = "-"
	SrcReceived = "received"
	srcInherit  = "inherited from "
)

// PropValue is one resolved property.
type PropValue struct {
	Stored string // canonical: exact numbers, "" for none
	Source string
}

func ptypeOf(r *dsRec) props.Type {
	switch r.Type {
	case "volume":
		return props.TypeVolume
	case "snapshot":
		return props.TypeSnapshot
	}
	return props.TypeFilesystem
}

// owner is the dataset a snapshot belongs to (r itself for a dataset).
func (dp *Pool) owner(r *dsRec) *dsRec {
	if r.Type == "snapshot" {
		if o := dp.m.Datasets[r.Parent]; o != nil {
			return o
		}
	}
	return r
}

// prop resolves a settable or inheritable property: local, received,
// inherited, default.
func (dp *Pool) prop(r *dsRec, name string) (string, string) {
	if v, ok := r.Props[name]; ok {
		return v, SrcLocal
	}
	if v, ok := r.Received[name]; ok {
		return v, SrcReceived
	}
	d, _ := props.Lookup(name)
	inherit := d != nil && d.Inherit
	start := r
	if r.Type == "snapshot" {
		start = dp.owner(r)
		if v, ok := start.Props[name]; ok && inherit {
			return v, srcInherit + start.Name
		}
	}
	if inherit {
		for a := dp.parentOf(start); a != nil; a = dp.parentOf(a) {
			v, ok := a.Props[name]
			if !ok {
				v, ok = a.Received[name]
			}
			if ok {
				if name == "mountpoint" {
					return props.InheritMountpoint(a.Name, v, r.Name), srcInherit + a.Name
				}
				return v, srcInherit + a.Name
			}
		}
	}
	if name == "mountpoint" {
		return props.DefaultMountpoint(r.Name), SrcDefault
	}
	if d == nil {
		return "", SrcNone
	}
	return d.Default, SrcDefault
}

// value resolves any property of r, computed ones included. ok is false
// when the property does not apply to r.
func (dp *Pool) value(r *dsRec, name string) (PropValue, bool) {
	d, known := props.Lookup(name)
	if !known {
		return PropValue{}, false
	}
	if name == "name" {
		return PropValue{r.Name, SrcNone}, true
	}
	name = d.Name
	if !props.IsUserProp(name) && !d.Applies(ptypeOf(r)) {
		return PropValue{}, false
	}
	u := func(n uint64) (PropValue, bool) { return PropValue{strconv.FormatUint(n, 10), SrcNone}, true }
	o := dp.owner(r)
	switch name {
	case "type":
		return PropValue{r.Type, SrcNone}, true
	case "creation":
		return PropValue{strconv.FormatInt(r.Created, 10), SrcNone}, true
	case "createtxg":
		return u(r.CreateTxg)
	case "guid":
		return u(r.GUID)
	case "objsetid":
		return u(r.ID)
	case "used":
		if r.Type == "snapshot" {
			return u(dp.snapUnique(r))
		}
		return u(dp.used(r))
	case "usedbysnapshots":
		return u(r.UsedBySnaps)
	case "usedbydataset":
		return u(r.Referenced)
	case "usedbychildren":
		return u(dp.used(r) - r.Referenced - r.UsedBySnaps - dp.usedByRefres(r))
	case "usedbyrefreservation":
		return u(dp.usedByRefres(r))
	case "available":
		return u(dp.p.Space().Free)
	case "referenced":
		return u(r.Referenced)
	case "logicalreferenced":
		return u(r.RefLogical)
	case "logicalused":
		return u(dp.logicalUsed(r))
	case "written":
		return u(r.Written)
	case "compressratio":
		x := 1.0
		if r.RefPhys > 0 {
			x = float64(r.RefLogical) / float64(r.RefPhys)
		}
		if x < 1 {
			x = 1
		}
		return PropValue{strconv.FormatFloat(x, 'f', 2, 64), SrcNone}, true
	case "mounted":
		return PropValue{"no", SrcNone}, true
	case "origin":
		return PropValue{"", SrcNone}, true
	case "receive_resume_token":
		if r.Resume != nil {
			return PropValue{r.Resume.token(), SrcNone}, true
		}
		return PropValue{"", SrcNone}, true
	case "volsize":
		return PropValue{strconv.FormatUint(o.Volsize, 10), SrcLocal}, true
	case "encryption":
		if o.Suite == 0 {
			return PropValue{"off", SrcDefault}, true
		}
		return PropValue{crypto.Suite(o.Suite).String(), SrcNone}, true
	case "encryptionroot":
		if o.Suite == 0 {
			return PropValue{"", SrcNone}, true
		}
		return PropValue{dp.nameOf(o.EncRoot), SrcNone}, true
	case "keystatus":
		if o.Suite == 0 {
			return PropValue{"none", SrcNone}, true
		}
		if l := dp.live[o.ID]; l != nil && l.key != nil {
			return PropValue{"available", SrcNone}, true
		}
		return PropValue{"unavailable", SrcNone}, true
	case "keyformat", "pbkdf2iters", "pbkdf2kdf", "pbkdf2salt", "keylocation":
		return dp.keyProp(r, name), true
	}
	v, src := dp.prop(r, name)
	if props.IsUserProp(name) && src == SrcDefault {
		return PropValue{"", SrcNone}, true
	}
	return PropValue{v, src}, true
}

func (dp *Pool) keyProp(r *dsRec, name string) PropValue {
	o := dp.owner(r)
	root := dp.m.Datasets[o.EncRoot]
	if o.Suite == 0 || root == nil || root.KeyInfo == nil {
		d, _ := props.Lookup(name)
		return PropValue{d.Default, SrcDefault}
	}
	ki := root.KeyInfo
	switch name {
	case "keyformat":
		return PropValue{ki.Format, SrcNone}
	case "keylocation":
		if o.ID != root.ID || r.Type == "snapshot" {
			return PropValue{"none", SrcDefault}
		}
		return PropValue{ki.Location, SrcLocal}
	case "pbkdf2iters":
		if ki.Format != "passphrase" {
			return PropValue{"0", SrcDefault}
		}
		return PropValue{strconv.FormatUint(uint64(ki.Iters), 10), SrcNone}
	case "pbkdf2kdf":
		if ki.Format != "passphrase" {
			return PropValue{"pbkdf2", SrcDefault}
		}
		return PropValue{crypto.KDF(ki.KDF).String(), SrcNone}
	case "pbkdf2salt":
		if ki.Format != "passphrase" {
			return PropValue{"pool", SrcDefault}
		}
		if len(dp.m.PassSalt) > 0 && bytes.Equal(ki.Salt, dp.m.PassSalt) {
			return PropValue{"pool", SrcNone}
		}
		return PropValue{"random", SrcNone}
	}
	return PropValue{"", SrcNone}
}

// used is a dataset's space with its snapshots, children and the
// unfulfilled part of its refreservation.
func (dp *Pool) used(r *dsRec) uint64 {
	n := r.Referenced + r.UsedBySnaps + dp.usedByRefres(r)
	for _, c := range dp.children(r) {
		n += dp.used(c)
	}
	return n
}

func (dp *Pool) logicalUsed(r *dsRec) uint64 {
	n := r.RefLogical
	for _, c := range dp.children(r) {
		n += dp.logicalUsed(c)
	}
	return n
}

// snapUnique is the space only snapshot s holds: what destroying it frees.
func (dp *Pool) snapUnique(s *dsRec) uint64 {
	prevTxg, next := dp.snapNeighbors(s)
	var n uint64
	_ = dmu.Diff(dp.p, s.Root, next, prevTxg, func(bp *format.BlockPointer) error {
		n += pool.ASize(bp)
		return nil
	})
	return n
}

// snapNeighbors returns the createtxg of the snapshot before s (0 if none)
// and the root of the version after it (the next snapshot, or the live
// dataset).
func (dp *Pool) snapNeighbors(s *dsRec) (uint64, format.BlockPointer) {
	o := dp.owner(s)
	snaps := dp.snapshots(o)
	var prev uint64
	next := o.Root
	for i, x := range snaps {
		if x.ID == s.ID {
			if i > 0 {
				prev = snaps[i-1].CreateTxg
			}
			if i+1 < len(snaps) {
				next = snaps[i+1].Root
			}
		}
	}
	return prev, next
}

// Set sets properties on a dataset.
func (dp *Pool) Set(name string, kv map[string]string) error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	r := dp.lookup(name)
	if r == nil {
		return errf(CodeNotFound, "cannot open '%s': dataset does not exist", name)
	}
	canon := map[string]string{}
	for k, v := range kv {
		var cv string
		var err error
		switch {
		case k == "keylocation":
			cv, err = dp.checkKeyLocation(r, v)
		case k == "volsize" && r.Type == "volume":
			cv, err = props.Validate(k, v, props.TypeVolume)
		case r.Type == "snapshot" && !props.IsUserProp(k):
			if _, ok := props.Lookup(k); !ok {
				err = errf(CodeInvalid, "invalid property '%s'", k)
			} else {
				err = errf(CodeInvalid, "this property can not be modified for snapshots")
			}
		default:
			cv, err = props.ValidateSet(k, v, ptypeOf(r))
		}
		if err != nil {
			return errf(CodeInvalid, "cannot set property for '%s': %s", name, strings.TrimPrefix(err.Error(), "cannot set property for '"+name+"': "))
		}
		d, _ := props.Lookup(k)
		canon[d.Name] = cv
	}
	return dp.txgDo(func(txg uint64) error {
		for k, v := range canon {
			switch k {
			case "keylocation":
				dp.m.Datasets[r.EncRoot].KeyInfo.Location = v
				continue
			case "volsize":
				n, _ := strconv.ParseUint(v, 10, 64)
				r.Volsize = n
				continue
			}
			if r.Props == nil {
				r.Props = map[string]string{}
			}
			r.Props[k] = v
		}
		dp.retune(r)
		return nil
	})
}

func (dp *Pool) checkKeyLocation(r *dsRec, v string) (string, error) {
	if r.Suite == 0 {
		return "", errf(CodeInvalid, "'keylocation' does not apply to unencrypted datasets")
	}
	if r.EncRoot != r.ID {
		return "", errf(CodeInvalid, "'keylocation' can only be set on encryption roots")
	}
	if v == "none" {
		return "", errf(CodeInvalid, "keylocation 'none' is invalid for an encryption root")
	}
	if err := props.ValidKeyLocation(v); err != nil {
		return "", err
	}
	// A provider location goes with a key the provider made: switching to
	// or from one needs a new key, which change-key makes.
	if old := r.KeyInfo; old != nil && old.Location != v && (props.KeyProvider(v) != "" || props.KeyProvider(old.Location) != "") {
		return "", errf(CodeInvalid, "a key provider keylocation is changed with 'coffer change-key -o keylocation=…', which makes a new key")
	}
	return v, nil
}

// retune re-applies compression and recordsize to open object sets below r.
func (dp *Pool) retune(r *dsRec) {
	for _, d := range dp.descendants(r) {
		if l := dp.live[d.ID]; l != nil && l.os != nil {
			dp.tune(l.os, d)
		}
	}
}

// Inherit clears a local property so that it is inherited again.
func (dp *Pool) Inherit(name, prop string, recursive bool) error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	r := dp.lookup(name)
	if r == nil {
		return errf(CodeNotFound, "cannot open '%s': dataset does not exist", name)
	}
	d, ok := props.Lookup(prop)
	if !ok {
		return errf(CodeInvalid, "invalid property '%s'", prop)
	}
	if d.ReadOnly {
		return errf(CodeInvalid, "'%s' property is read-only", d.Name)
	}
	if d.CreateOnly || d.Name == "keylocation" || d.Name == "volsize" {
		return errf(CodeInvalid, "'%s' property cannot be inherited", d.Name)
	}
	targets := []*dsRec{r}
	if recursive {
		targets = dp.descendants(r)
	}
	return dp.txgDo(func(txg uint64) error {
		for _, t := range targets {
			delete(t.Props, d.Name)
		}
		dp.retune(r)
		return nil
	})
}

// Row is one dataset and its properties.
type Row struct {
	Name  string
	Type  string
	Props map[string]PropValue
}

// ListOpts select datasets (zfs list / get).
type ListOpts struct {
	Names     []string // datasets or snapshots; empty: the pool's root
	Recursive bool
	Depth     int // with Recursive: levels below each name; 0: unlimited
	Types     props.Type
	Props     []string // "all": every property that applies
}

// List returns the selected datasets, each dataset followed by its
// snapshots and then its children.
func (dp *Pool) List(o ListOpts) ([]Row, error) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if o.Types == 0 {
		o.Types = props.TypeDataset
	}
	names := o.Names
	if len(names) == 0 {
		names = []string{dp.root().Name}
		o.Recursive = true
	}
	var rows []Row
	seen := map[uint64]bool{}
	for _, n := range names {
		r := dp.lookup(n)
		if r == nil {
			kind := "dataset"
			if strings.Contains(n, "@") {
				kind = "snapshot"
			}
			return nil, errf(CodeNotFound, "cannot open '%s': %s does not exist", n, kind)
		}
		var visit func(r *dsRec, depth int)
		visit = func(r *dsRec, depth int) {
			if seen[r.ID] {
				return
			}
			seen[r.ID] = true
			if ptypeOf(r)&o.Types != 0 {
				rows = append(rows, dp.row(r, o.Props))
			}
			if r.Type == "snapshot" || !o.Recursive || (o.Depth > 0 && depth >= o.Depth) {
				return
			}
			if o.Types&props.TypeSnapshot != 0 {
				for _, s := range dp.snapshots(r) {
					visit(s, depth+1)
				}
			}
			for _, c := range dp.children(r) {
				visit(c, depth+1)
			}
		}
		visit(r, 0)
	}
	return rows, nil
}

func (dp *Pool) row(r *dsRec, want []string) Row {
	row := Row{Name: r.Name, Type: r.Type, Props: map[string]PropValue{}}
	if len(want) == 1 && want[0] == "all" {
		want = nil
		for _, d := range props.All() {
			want = append(want, d.Name)
		}
		var user []string
		for a := r; a != nil; a = dp.parentOf(dp.owner(a)) {
			for k := range dp.owner(a).Props {
				if props.IsUserProp(k) {
					user = append(user, k)
				}
			}
			if a.Type == "snapshot" {
				for k := range a.Props {
					if props.IsUserProp(k) {
						user = append(user, k)
					}
				}
			}
		}
		sort.Strings(user)
		want = append(want, user...)
	}
	for _, p := range want {
		if v, ok := dp.value(r, p); ok {
			d, _ := props.Lookup(p)
			row.Props[d.Name] = v
		}
	}
	return row
}

// usedByRefres is the part of a dataset's refreservation its data does not
// use yet.
func (dp *Pool) usedByRefres(r *dsRec) uint64 {
	if r.Type == "snapshot" {
		return 0
	}
	v, _ := dp.prop(r, "refreservation")
	n, _ := strconv.ParseUint(v, 10, 64)
	if n > r.Referenced {
		return n - r.Referenced
	}
	return 0
}
