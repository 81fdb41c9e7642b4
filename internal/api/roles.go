package api

import (
	"fmt"
	"slices"
	"strings"
)

// Role is what a caller may do. Every API method needs one of a set of
// roles (MethodRoles); admin may call everything.
type Role string

const (
	// RoleAdmin may call every method, managing users included. Root and
	// the daemon's own user on the Unix socket are admins.
	RoleAdmin Role = "admin"
	// RoleKeyAdmin may call the key operations (load-key, unload-key,
	// change-key, lock, unlock, key export, keystore) and read.
	RoleKeyAdmin Role = "keyadmin"
	// RoleOperator may call everything except the key operations and the
	// user management.
	RoleOperator Role = "operator"
	// RoleViewer may only read: list, get, status.
	RoleViewer Role = "viewer"
)

// Roles lists the roles, most powerful first.
var Roles = []Role{RoleAdmin, RoleKeyAdmin, RoleOperator, RoleViewer}

// ParseRole checks a role name.
func ParseRole(s string) (Role, error) {
	for _, r := range Roles {
		if string(r) == s {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown role '%s' (admin, keyadmin, operator, viewer)", s)
}

// Method classes: which roles a method needs.
var (
	readRoles  = []Role{RoleAdmin, RoleKeyAdmin, RoleOperator, RoleViewer}
	keyRoles   = []Role{RoleAdmin, RoleKeyAdmin}
	opRoles    = []Role{RoleAdmin, RoleOperator}
	adminRoles = []Role{RoleAdmin}
)

// MethodRoles is the one table of who may call what: method -> the roles
// that may call it. A method that is not in this table is refused to every
// caller (and a test fails when a registered method has no entry).
var MethodRoles = map[string][]Role{
	// Read-only.
	MPing:           readRoles,
	MPoolList:       readRoles,
	MPoolStatus:     readRoles,
	MList:           readRoles,
	MGet:            readRoles,
	MKeyNeed:        readRoles, // which roots need which key; no key material
	MMounts:         readRoles,
	MSendEstimate:   readRoles,
	MRemoteList:     readRoles,
	MRemoteBackups:  readRoles,
	MKeystoreStatus: readRoles,
	MHealth:         readRoles,
	MRekeyStatus:    readRoles,
	// Names, subjects and expiry of the stored credentials; never a key.
	MKeystoreCredentialList: readRoles,

	// Key operations.
	MLoadKey:         keyRoles,
	MUnloadKey:       keyRoles,
	MChangeKey:       keyRoles,
	MLock:            keyRoles,
	MUnlock:          keyRoles,
	MKeyExport:       keyRoles,
	MKeystoreProtect: keyRoles,
	MKeystoreUnlock:  keyRoles,
	MKeystoreUncache: keyRoles,
	MRekey:           keyRoles,
	// A KMIP client identity opens keys: storing or dropping one is a key
	// operation.
	MKeystoreCredentialAdd:    keyRoles,
	MKeystoreCredentialRemove: keyRoles,

	// Everything else that changes pools and datasets or moves data.
	MPoolCreate:    opRoles,
	MPoolImport:    opRoles,
	MPoolExport:    opRoles,
	MPoolDestroy:   opRoles,
	MPoolScrub:     opRoles,
	MPoolCheck:     opRoles,
	MPoolUpgrade:   opRoles,
	MCreate:        opRoles,
	MDestroy:       opRoles,
	MSnapshot:      opRoles,
	MRollback:      opRoles,
	MSet:           opRoles,
	MInherit:       opRoles,
	MMount:         opRoles,
	MUnmount:       opRoles,
	MSend:          opRoles,
	MReceive:       opRoles,
	MReceiveAbort:  opRoles,
	MRemoteAdd:     opRoles,
	MRemoteRemove:  opRoles,
	MRemoteSend:    opRoles,
	MRemoteReceive: opRoles,

	// User management.
	MUserAdd:     adminRoles,
	MUserList:    adminRoles,
	MUserRemove:  adminRoles,
	MUserSetRole: adminRoles,
}

// KeyMethod reports whether method is a key operation (audited even when
// refused).
func KeyMethod(method string) bool {
	r := MethodRoles[method]
	return len(r) == len(keyRoles) && slices.Equal(r, keyRoles)
}

// Allowed reports whether role may call method.
func Allowed(role Role, method string) bool {
	return slices.Contains(MethodRoles[method], role)
}

// denied is the error of a call the caller's role does not allow.
func denied(method string, role Role) *Error {
	need := MethodRoles[method]
	if len(need) == 0 {
		return Permission("permission denied: '%s' is not allowed to anyone", method)
	}
	names := make([]string, len(need))
	for i, r := range need {
		names[len(need)-1-i] = string(r) // least powerful first: "keyadmin or admin"
	}
	return Permission("permission denied: '%s' needs role %s (you are %s)", method, strings.Join(names, " or "), role)
}
