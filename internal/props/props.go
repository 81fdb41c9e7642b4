package props

import (
	"path"
	"strings"
)

// Kind is how a property's value is typed.
type Kind uint8

const (
	KindString Kind = iota // free text (paths, names, tokens)
	KindNumber             // unsigned number: bytes, count, time or ratio (see Unit)
	KindBool               // "on" | "off"
	KindIndex              // one of Def.Values
)

func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindNumber:
		return "number"
	case KindBool:
		return "bool"
	case KindIndex:
		return "index"
	}
	return "kind(?)"
}

// Unit says how a KindNumber value is displayed.
type Unit uint8

const (
	UnitNone  Unit = iota // not a number
	UnitBytes             // FormatSize; exact: decimal bytes
	UnitCount             // decimal
	UnitTime              // stored as Unix seconds; FormatTime; exact: seconds
	UnitRatio             // stored as a decimal like "1.50"; FormatRatio
)

// Type is a set of dataset types.
type Type uint8

const (
	TypeFilesystem Type = 1 << iota
	TypeVolume
	TypeSnapshot

	TypeDataset = TypeFilesystem | TypeVolume
	TypeAll     = TypeFilesystem | TypeVolume | TypeSnapshot
)

// String returns the zfs type name ("filesystem", "volume", "snapshot") of a
// single type, or the names joined by "," for a set.
func (t Type) String() string {
	var parts []string
	if t&TypeFilesystem != 0 {
		parts = append(parts, "filesystem")
	}
	if t&TypeVolume != 0 {
		parts = append(parts, "volume")
	}
	if t&TypeSnapshot != 0 {
		parts = append(parts, "snapshot")
	}
	return strings.Join(parts, ",")
}

// Def describes one property.
type Def struct {
	Name       string
	Kind       Kind
	Unit       Unit // for KindNumber
	ReadOnly   bool // computed by coffer; never set by users
	Inherit    bool // children inherit the value when it is not set locally
	CreateOnly bool // set at create (or change-key for key properties) only
	Default    string
	Values     []string // for KindIndex (and "on", "off" for KindBool)
	Types      Type
	Column     string // upper-case list header
	// NoneZero: the number 0 is shown and may be given as "none" (quota,
	// reservation).
	NoneZero bool
}

// Applies reports whether the property applies to datasets of type t.
func (d *Def) Applies(t Type) bool { return d.Types&t != 0 }

// Key-related limits and defaults.
const (
	DefaultPBKDF2Iters = 350000
	MinPBKDF2Iters     = 100000
	DefaultEncryption  = "aes-256-gcm" // what encryption=on means
	MaxNameLen         = 255           // dataset and snapshot names: < 256 bytes
	MaxPoolNameLen     = 239           // < 256 - 2 - 2*len("$ORIGIN"), as zfs
	MaxUserPropNameLen = 256
	MaxUserPropValLen  = 8191
)

var onOff = []string{"on", "off"}

// table is the zfs "get all" order (the zfs property enum order).
var table = []*Def{
	{Name: "type", Kind: KindIndex, ReadOnly: true, Values: []string{"filesystem", "volume", "snapshot"}, Types: TypeAll, Column: "TYPE"},
	{Name: "creation", Kind: KindNumber, Unit: UnitTime, ReadOnly: true, Types: TypeAll, Column: "CREATION"},
	{Name: "used", Kind: KindNumber, Unit: UnitBytes, ReadOnly: true, Types: TypeAll, Column: "USED"},
	{Name: "available", Kind: KindNumber, Unit: UnitBytes, ReadOnly: true, Types: TypeDataset, Column: "AVAIL"},
	{Name: "referenced", Kind: KindNumber, Unit: UnitBytes, ReadOnly: true, Types: TypeAll, Column: "REFER"},
	{Name: "compressratio", Kind: KindNumber, Unit: UnitRatio, ReadOnly: true, Types: TypeAll, Column: "RATIO", Default: "1.00"},
	{Name: "mounted", Kind: KindIndex, ReadOnly: true, Values: []string{"yes", "no"}, Types: TypeFilesystem, Column: "MOUNTED", Default: "no"},
	{Name: "origin", Kind: KindString, ReadOnly: true, Types: TypeDataset, Column: "ORIGIN"},
	{Name: "quota", Kind: KindNumber, Unit: UnitBytes, NoneZero: true, Default: "0", Types: TypeFilesystem, Column: "QUOTA"},
	{Name: "reservation", Kind: KindNumber, Unit: UnitBytes, NoneZero: true, Default: "0", Types: TypeDataset, Column: "RESERV"},
	{Name: "refreservation", Kind: KindNumber, Unit: UnitBytes, NoneZero: true, Default: "0", Types: TypeDataset, Column: "REFRESERV"},
	{Name: "volsize", Kind: KindNumber, Unit: UnitBytes, Types: TypeVolume, Column: "VOLSIZE"},
	{Name: "volblocksize", Kind: KindNumber, Unit: UnitBytes, CreateOnly: true, Default: "16384", Types: TypeVolume, Column: "VOLBLOCK"},
	{Name: "recordsize", Kind: KindNumber, Unit: UnitBytes, Inherit: true, Default: "131072", Types: TypeFilesystem, Column: "RECSIZE"},
	{Name: "mountpoint", Kind: KindString, Inherit: true, Types: TypeFilesystem, Column: "MOUNTPOINT"},
	{Name: "checksum", Kind: KindIndex, Inherit: true, Default: "on", Values: onOff, Types: TypeDataset, Column: "CHECKSUM"},
	{Name: "compression", Kind: KindIndex, Inherit: true, Default: "on", Values: []string{"on", "off", "lz4", "zstd"}, Types: TypeDataset, Column: "COMPRESS"},
	{Name: "atime", Kind: KindBool, Inherit: true, Default: "on", Values: onOff, Types: TypeFilesystem, Column: "ATIME"},
	{Name: "readonly", Kind: KindBool, Inherit: true, Default: "off", Values: onOff, Types: TypeDataset, Column: "RDONLY"},
	{Name: "createtxg", Kind: KindNumber, Unit: UnitCount, ReadOnly: true, Types: TypeAll, Column: "CREATETXG"},
	{Name: "canmount", Kind: KindIndex, Default: "on", Values: []string{"on", "off", "noauto"}, Types: TypeFilesystem, Column: "CANMOUNT"},
	{Name: "guid", Kind: KindNumber, Unit: UnitCount, ReadOnly: true, Types: TypeAll, Column: "GUID"},
	{Name: "usedbysnapshots", Kind: KindNumber, Unit: UnitBytes, ReadOnly: true, Types: TypeDataset, Column: "USEDSNAP"},
	{Name: "usedbydataset", Kind: KindNumber, Unit: UnitBytes, ReadOnly: true, Types: TypeDataset, Column: "USEDDS"},
	{Name: "usedbyrefreservation", Kind: KindNumber, Unit: UnitBytes, ReadOnly: true, Types: TypeDataset, Column: "USEDREFRESERV"},
	{Name: "usedbychildren", Kind: KindNumber, Unit: UnitBytes, ReadOnly: true, Types: TypeDataset, Column: "USEDCHILD"},
	{Name: "objsetid", Kind: KindNumber, Unit: UnitCount, ReadOnly: true, Types: TypeAll, Column: "OBJSETID"},
	{Name: "written", Kind: KindNumber, Unit: UnitBytes, ReadOnly: true, Types: TypeAll, Column: "WRITTEN"},
	{Name: "logicalused", Kind: KindNumber, Unit: UnitBytes, ReadOnly: true, Types: TypeDataset, Column: "LUSED"},
	{Name: "logicalreferenced", Kind: KindNumber, Unit: UnitBytes, ReadOnly: true, Types: TypeAll, Column: "LREFER"},
	{Name: "receive_resume_token", Kind: KindString, ReadOnly: true, Types: TypeDataset, Column: "RESUMETOK"},
	{Name: "encryption", Kind: KindIndex, CreateOnly: true, Default: "off", Values: []string{"off", "on", "aes-128-ccm", "aes-192-ccm", "aes-256-ccm", "aes-128-gcm", "aes-192-gcm", "aes-256-gcm"}, Types: TypeAll, Column: "ENCRYPTION"},
	{Name: "keylocation", Kind: KindString, Default: "none", Types: TypeDataset, Column: "KEYLOCATION"},
	{Name: "keyformat", Kind: KindIndex, CreateOnly: true, Default: "none", Values: []string{"none", "raw", "hex", "passphrase"}, Types: TypeDataset, Column: "KEYFORMAT"},
	{Name: "pbkdf2iters", Kind: KindNumber, Unit: UnitCount, CreateOnly: true, Default: "0", Types: TypeDataset, Column: "PBKDF2ITERS"},
	{Name: "pbkdf2kdf", Kind: KindIndex, CreateOnly: true, Default: "pbkdf2", Values: []string{"pbkdf2", "argon2id"}, Types: TypeDataset, Column: "PBKDF2KDF"},
	{Name: "pbkdf2salt", Kind: KindIndex, CreateOnly: true, Default: "pool", Values: []string{"pool", "random"}, Types: TypeDataset, Column: "PBKDF2SALT"},
	{Name: "encryptionroot", Kind: KindString, ReadOnly: true, Types: TypeAll, Column: "ENCROOT"},
	{Name: "keystatus", Kind: KindIndex, ReadOnly: true, Default: "none", Values: []string{"none", "unavailable", "available"}, Types: TypeAll, Column: "KEYSTATUS"},
}

// nameDef is the "name" pseudo-property of list -o: found by Lookup, not
// listed by All (zfs get all does not show it).
var nameDef = &Def{Name: "name", Kind: KindString, ReadOnly: true, Types: TypeAll, Column: "NAME"}

var byName = func() map[string]*Def {
	m := make(map[string]*Def, 2*len(table)+1)
	for _, d := range table {
		m[d.Name] = d
	}
	m[nameDef.Name] = nameDef
	// zfs accepts a property's lower-case column header as its name.
	for _, d := range table {
		alias := strings.ToLower(d.Column)
		if _, taken := m[alias]; !taken {
			m[alias] = d
		}
	}
	return m
}()

// Lookup finds a property by name or alias (a column header in lower case:
// avail, refer, compress, recsize, ratio, volblock, rdonly, reserv, lused,
// lrefer, usedsnap, usedds, usedchild, encroot, resumetok). A valid user
// property name (IsUserProp) yields a fresh inheritable string Def for it.
func Lookup(name string) (*Def, bool) {
	if d, ok := byName[name]; ok {
		return d, true
	}
	if IsUserProp(name) {
		return &Def{Name: name, Kind: KindString, Inherit: true, Types: TypeAll, Column: strings.ToUpper(name)}, true
	}
	return nil, false
}

// All returns the native properties in zfs get all order. The slice is new;
// the Defs are shared and must not be modified.
func All() []*Def {
	return append([]*Def(nil), table...)
}

// IsUserProp reports whether name is a user property name, "module:name":
// lower-case letters, digits and - _ . :, at least one ':', at most 256 bytes.
func IsUserProp(name string) bool {
	if name == "" || len(name) > MaxUserPropNameLen {
		return false
	}
	sep := false
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.':
		case c == ':':
			sep = true
		default:
			return false
		}
	}
	return sep
}

// DefaultMountpoint is the mountpoint of a dataset that neither has one set
// nor inherits one: "/" + the dataset name.
func DefaultMountpoint(ds string) string { return "/" + ds }

// InheritMountpoint is the mountpoint ds gets from the ancestor src whose
// mountpoint is srcValue: the value with ds's path below src appended, or
// "none"/"legacy" unchanged.
func InheritMountpoint(src, srcValue, ds string) string {
	if srcValue == "none" || srcValue == "legacy" || srcValue == "" {
		if srcValue == "" {
			return DefaultMountpoint(ds)
		}
		return srcValue
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(ds, src), "/")
	return path.Join(srcValue, rel)
}
