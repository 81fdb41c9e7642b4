package api

import "context"

// Key custody verbs: key export, the system keystore. Registered with
// Server.RegisterKeys.

const (
	MKeyExport       = "key.export"
	MKeystoreStatus  = "keystore.status"
	MKeystoreProtect = "keystore.protect"
	MKeystoreUnlock  = "keystore.unlock"
	MKeystoreUncache = "keystore.uncache"

	MKeystoreCredentialAdd    = "keystore.credential.add"
	MKeystoreCredentialList   = "keystore.credential.list"
	MKeystoreCredentialRemove = "keystore.credential.remove"
)

// CredentialAddReq stores a credential in the system keystore. Kind "kmip":
// a KMIP client identity, CA, Cert and Key being the PEM contents (the CLI
// reads the files; the daemon never reads a path for it).
type CredentialAddReq struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	CA   []byte `json:"ca,omitempty"`
	Cert []byte `json:"cert,omitempty"`
	Key  []byte `json:"key,omitempty"`
	// Replace: an existing credential of that name is replaced (a renewed
	// certificate); without it an existing name is refused.
	Replace bool `json:"replace,omitempty"`
}

// CredentialRemoveReq removes a credential from the system keystore.
type CredentialRemoveReq struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
}

// Credential describes a stored credential; never its key.
type Credential struct {
	Kind     string `json:"kind"`
	Name     string `json:"name"`
	Subject  string `json:"subject,omitempty"`
	Issuer   string `json:"issuer,omitempty"`
	NotAfter string `json:"not_after,omitempty"` // RFC 3339, UTC
	// UsedBy: datasets of imported pools whose keylocation names it.
	UsedBy []string `json:"used_by,omitempty"`
}

// CredentialListResp lists the stored credentials.
type CredentialListResp struct {
	Credentials []Credential `json:"credentials"`
}

// KeyExportReq asks for the keys of key-format encryption roots.
type KeyExportReq struct {
	Name      string `json:"name"`
	Recursive bool   `json:"recursive,omitempty"`
}

// KeyExportResp is the TrueNAS-style manifest: dataset -> hex key.
type KeyExportResp struct {
	Keys map[string]string `json:"keys"`
}

// KeystoreStatus describes the system keystore.
type KeystoreStatus struct {
	Protection string            `json:"protection"` // file, passphrase, tpm2, kmip, pkcs11, none
	Health     string            `json:"health"`     // unlocked, locked, or what it waits for
	Warning    string            `json:"warning,omitempty"`
	Entries    int               `json:"entries"`
	Params     map[string]string `json:"params,omitempty"`
	// Cache is the cached seal of the system secret kept beside a KMIP
	// or PKCS#11 protection ("tpm2"), "" when none; CacheParams its PCRs.
	Cache       string            `json:"cache,omitempty"`
	CacheParams map[string]string `json:"cache_params,omitempty"`
	// Note says how the keystore was unlocked when it was not by its
	// protection: from the TPM cache, and why the key server failed.
	Note string `json:"note,omitempty"`
	// Waiting: encryption roots with a key provider keylocation that are
	// locked because the provider refused or did not answer, and why.
	Waiting map[string]string `json:"waiting,omitempty"`
}

// KeystoreProtectReq re-protects the system secret.
type KeystoreProtectReq struct {
	Kind       string            `json:"kind"`
	Passphrase []byte            `json:"passphrase,omitempty"`
	Options    map[string]string `json:"options,omitempty"` // pcrs, pin, uri, tpm-cache (PCRs of a TPM cache), ...
}

// KeystoreUnlockReq gives the admin passphrase at start.
type KeystoreUnlockReq struct {
	Passphrase []byte `json:"passphrase"`
}

// KeysBackend serves the key custody verbs.
type KeysBackend interface {
	KeyExport(ctx context.Context, caller Caller, req KeyExportReq) (KeyExportResp, error)
	KeystoreStatus(ctx context.Context, caller Caller) (KeystoreStatus, error)
	KeystoreProtect(ctx context.Context, caller Caller, req KeystoreProtectReq) error
	KeystoreUnlock(ctx context.Context, caller Caller, req KeystoreUnlockReq) error
	KeystoreUncache(ctx context.Context, caller Caller, req Empty) error
	CredentialAdd(ctx context.Context, caller Caller, req CredentialAddReq) error
	CredentialList(ctx context.Context, caller Caller) (CredentialListResp, error)
	CredentialRemove(ctx context.Context, caller Caller, req CredentialRemoveReq) error
}

// RegisterKeys adds the key custody verbs served by b.
func (s *Server) RegisterKeys(b KeysBackend) {
	s.methods[MKeyExport] = with(b.KeyExport)
	s.methods[MKeystoreStatus] = noReq(func(ctx context.Context, c Caller) (any, error) { return b.KeystoreStatus(ctx, c) })
	s.methods[MKeystoreProtect] = noResp(b.KeystoreProtect)
	s.methods[MKeystoreUnlock] = noResp(b.KeystoreUnlock)
	s.methods[MKeystoreUncache] = noResp(b.KeystoreUncache)
	s.methods[MKeystoreCredentialAdd] = noResp(b.CredentialAdd)
	s.methods[MKeystoreCredentialList] = noReq(func(ctx context.Context, c Caller) (any, error) { return b.CredentialList(ctx, c) })
	s.methods[MKeystoreCredentialRemove] = noResp(b.CredentialRemove)
}
