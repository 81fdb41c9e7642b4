package daemon

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"sort"
	"time"

	"coffer/internal/api"
	"coffer/internal/keystore"
	"coffer/internal/props"
)

// KMIP client identities kept in the system keystore (docs/design/keystore.md):
// a kmip:// keylocation with cred=NAME authenticates with the identity in
// the entry "kmip:NAME" instead of files on the host.

// kmipIdentity is the identity of credential name from the keystore.
func kmipIdentity(st *keystore.Store, name string) (keystore.KMIPIdentity, error) {
	if st == nil || st.Status() != "unlocked" {
		return keystore.KMIPIdentity{}, fmt.Errorf("keystore is locked: the kmip credential %s is kept in it", name)
	}
	e, ok := st.Get(keystore.KMIPPrefix + name)
	if !ok || e.Kind != keystore.KindCredential || e.Format != keystore.FormatKMIPIdentity {
		clear(e.Secret)
		return keystore.KMIPIdentity{}, fmt.Errorf("no kmip credential '%s' in the keystore (coffer keystore credential list)", name)
	}
	id, err := keystore.DecodeKMIPIdentity(e.Secret)
	clear(e.Secret)
	return id, err
}

// credentialUsers are the datasets of imported pools whose keylocation
// names the kmip credential name.
func (d *Daemon) credentialUsers(name string) []string {
	var out []string
	for _, dp := range d.sortedPools() {
		for n, r := range dp.RootGUIDs() {
			if props.KMIPCredential(r.Location) == name {
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// checkKMIPIdentity: the CA holds at least one certificate, the client
// certificate and key parse and match. The returned leaf describes it.
func checkKMIPIdentity(req api.CredentialAddReq) (*x509.Certificate, error) {
	if len(req.CA) == 0 || len(req.Cert) == 0 || len(req.Key) == 0 {
		return nil, fmt.Errorf("a kmip credential needs --ca, --cert and --key")
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(req.CA) {
		return nil, fmt.Errorf("the CA file holds no PEM certificate")
	}
	pair, err := tls.X509KeyPair(req.Cert, req.Key)
	if err != nil {
		// tls's messages name the PEM blocks, never their bytes.
		return nil, fmt.Errorf("the certificate and key do not form a pair: %s", firstLine(err))
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("the certificate does not parse: %s", firstLine(err))
	}
	return leaf, nil
}

// credentialStore checks a credential name and returns the keystore, which
// must be unlocked; what starts the error ("cannot add kmip credential 'x'").
func (d *Daemon) credentialStore(what, name string) (*keystore.Store, error) {
	if err := props.ValidCredentialName(name); err != nil {
		return nil, api.Invalid("%s: %v", what, err)
	}
	st := d.keys.store
	if st == nil || st.Status() != "unlocked" {
		return nil, api.KeyError("%s: %v", what, errKeystoreLocked)
	}
	return st, nil
}

func (d *Daemon) CredentialAdd(ctx context.Context, c api.Caller, req api.CredentialAddReq) error {
	defer clear(req.Key)
	if req.Kind != "kmip" {
		return api.Errorf(api.CodeUsage, "cannot add credential: unknown kind '%s' (kmip)", req.Kind)
	}
	what := fmt.Sprintf("cannot add kmip credential '%s'", req.Name)
	err := func() error {
		st, err := d.credentialStore(what, req.Name)
		if err != nil {
			return err
		}
		if _, err := checkKMIPIdentity(req); err != nil {
			return api.Invalid("%s: %v", what, err)
		}
		id := keystore.KMIPPrefix + req.Name
		if e, ok := st.Get(id); ok {
			clear(e.Secret)
			if !req.Replace {
				return api.Exists("%s: it exists (--replace replaces it)", what)
			}
		} else if req.Replace {
			return api.NotFound("%s: --replace: no such credential", what)
		}
		secret := keystore.EncodeKMIPIdentity(keystore.KMIPIdentity{CA: req.CA, Cert: req.Cert, Key: req.Key})
		defer clear(secret)
		if err := st.Put(id, keystore.Entry{Kind: keystore.KindCredential, Name: id, Format: keystore.FormatKMIPIdentity, Secret: secret}); err != nil {
			return api.Errorf(api.CodeIO, "%s: %s", what, firstLine(err))
		}
		return nil
	}()
	op := "keystore-credential-add"
	if req.Replace {
		op = "keystore-credential-replace"
	}
	d.auditLog(c, op+" kmip:"+req.Name, "", err)
	if err == nil {
		d.log.Info("kmip credential kept in the keystore", "name", req.Name, "replaced", req.Replace)
	}
	return err
}

func (d *Daemon) CredentialList(ctx context.Context, c api.Caller) (api.CredentialListResp, error) {
	resp := api.CredentialListResp{Credentials: []api.Credential{}}
	st := d.keys.store
	if st == nil || st.Status() != "unlocked" {
		return resp, api.KeyError("cannot list credentials: %v", errKeystoreLocked)
	}
	for _, id := range st.List(keystore.KindCredential, keystore.KMIPPrefix) {
		name := id[len(keystore.KMIPPrefix):]
		cr := api.Credential{Kind: "kmip", Name: name, UsedBy: d.credentialUsers(name)}
		if ident, err := kmipIdentity(st, name); err == nil {
			if b, _ := pem.Decode(ident.Cert); b != nil {
				if cert, err := x509.ParseCertificate(b.Bytes); err == nil {
					cr.Subject, cr.Issuer = cert.Subject.String(), cert.Issuer.String()
					cr.NotAfter = cert.NotAfter.UTC().Format(time.RFC3339)
				}
			}
			ident.Wipe()
		}
		resp.Credentials = append(resp.Credentials, cr)
	}
	return resp, nil
}

func (d *Daemon) CredentialRemove(ctx context.Context, c api.Caller, req api.CredentialRemoveReq) error {
	if req.Kind != "kmip" {
		return api.Errorf(api.CodeUsage, "cannot remove credential: unknown kind '%s' (kmip)", req.Kind)
	}
	what := fmt.Sprintf("cannot remove kmip credential '%s'", req.Name)
	err := func() error {
		st, err := d.credentialStore(what, req.Name)
		if err != nil {
			return err
		}
		id := keystore.KMIPPrefix + req.Name
		e, ok := st.Get(id)
		clear(e.Secret)
		if !ok || e.Kind != keystore.KindCredential {
			return api.NotFound("%s: no such credential", what)
		}
		if users := d.credentialUsers(req.Name); len(users) > 0 {
			more := ""
			if len(users) > 1 {
				more = fmt.Sprintf(" and %d more", len(users)-1)
			}
			return api.Busy("%s: the keylocation of %s%s names it (change-key it to another location first)", what, users[0], more)
		}
		if err := st.Delete(id); err != nil {
			return api.Errorf(api.CodeIO, "%s: %s", what, firstLine(err))
		}
		return nil
	}()
	d.auditLog(c, "keystore-credential-remove kmip:"+req.Name, "", err)
	if err == nil {
		d.log.Info("kmip credential removed from the keystore", "name", req.Name)
	}
	return err
}
