package daemon

import (
	"context"
	"errors"
	"strings"
	"testing"

	"coffer/internal/api"
	"coffer/internal/keystore"
	"coffer/internal/kmip/kmiptest"
)

func openStore(t *testing.T) *keystore.Store {
	t.Helper()
	st, err := keystore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Init(context.Background(), keystore.FileProtector{}); err != nil {
		t.Fatal(err)
	}
	return st
}

// TestCheckKMIPIdentity: a pair that matches and a CA that parses pass;
// a key of another certificate, a CA without a certificate or a missing
// part are refused with a message that holds no key bytes.
func TestCheckKMIPIdentity(t *testing.T) {
	ca, cert, key := kmiptest.OtherPKI(t)
	_, _, otherKey := kmiptest.OtherPKI(t)
	leaf, err := checkKMIPIdentity(api.CredentialAddReq{CA: ca, Cert: cert, Key: key})
	if err != nil || leaf.Subject.CommonName != "coffer-host" {
		t.Fatalf("good identity: %v", err)
	}
	for _, tc := range []struct {
		req  api.CredentialAddReq
		want string
	}{
		{api.CredentialAddReq{CA: ca, Cert: cert, Key: otherKey}, "do not form a pair"},
		{api.CredentialAddReq{CA: key, Cert: cert, Key: key}, "holds no PEM certificate"},
		{api.CredentialAddReq{CA: ca, Cert: key, Key: key}, "do not form a pair"},
		{api.CredentialAddReq{CA: ca, Cert: cert}, "needs --ca, --cert and --key"},
	} {
		_, err := checkKMIPIdentity(tc.req)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("want %q, got %v", tc.want, err)
			continue
		}
		if strings.Contains(err.Error(), "PRIVATE KEY-----") || strings.Contains(err.Error(), pemLine(key)) || strings.Contains(err.Error(), pemLine(otherKey)) {
			t.Errorf("error shows key material: %v", err)
		}
	}
}

func pemLine(b []byte) string {
	for _, l := range strings.Split(string(b), "\n") {
		if l != "" && !strings.HasPrefix(l, "-----") {
			return l
		}
	}
	return "\x00"
}

// TestKMIPConfigFromCredential: a cred= location takes its identity from
// the keystore; it says why when the keystore is locked or has no such
// credential, and the system secret's own KEK (no store) refuses cred=.
func TestKMIPConfigFromCredential(t *testing.T) {
	ca, cert, key := kmiptest.OtherPKI(t)
	st := openStore(t)
	loc := "kmip://127.0.0.1:5696?cred=kms1&name=L"
	if _, _, err := (&kmipProtector{uri: loc, store: st}).config(); err == nil || err.Error() != "no kmip credential 'kms1' in the keystore (coffer keystore credential list)" {
		t.Fatalf("unknown credential: %v", err)
	}
	if err := st.Put("kmip:kms1", keystore.Entry{Kind: keystore.KindCredential, Format: keystore.FormatKMIPIdentity,
		Secret: keystore.EncodeKMIPIdentity(keystore.KMIPIdentity{CA: ca, Cert: cert, Key: key})}); err != nil {
		t.Fatal(err)
	}
	cfg, name, err := (&kmipProtector{uri: loc, store: st}).config()
	if err != nil || name != "L" || cfg.Addr != "127.0.0.1:5696" || string(cfg.CA) != string(ca) || string(cfg.Cert) != string(cert) || string(cfg.Key) != string(key) {
		t.Fatalf("config from the keystore: %v", err)
	}
	if _, _, err := (&kmipProtector{uri: loc}).config(); !errors.Is(err, errKMIPCredForKeystore) {
		t.Fatalf("system KEK with cred=: %v", err)
	}
	st.Lock()
	if _, _, err := (&kmipProtector{uri: loc, store: st}).config(); err == nil || err.Error() != "keystore is locked: the kmip credential kms1 is kept in it" {
		t.Fatalf("locked keystore: %v", err)
	}
}
