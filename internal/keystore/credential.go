package keystore

import (
	"encoding/binary"
	"errors"
	"sort"
	"strings"
)

// KindCredential is the kind of entries that hold credentials: the remotes'
// sealing key, KMIP client identities ("kmip:NAME").
const KindCredential = "credential"

// KMIPPrefix starts the id of a KMIP client identity entry: "kmip:NAME".
const KMIPPrefix = "kmip:"

// FormatKMIPIdentity is the Entry.Format of a KMIP client identity; its
// Secret is EncodeKMIPIdentity's encoding.
const FormatKMIPIdentity = "kmip-identity"

// List returns the ids of the entries of kind whose id starts with prefix,
// sorted; none while locked.
func (s *Store) List(kind, prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.secret == nil {
		return nil
	}
	var ids []string
	for id, e := range s.c.Entries {
		if e.Kind == kind && strings.HasPrefix(id, prefix) {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

// KMIPIdentity is what a host authenticates to a KMIP server with: the CA
// that signs the server's certificate, the client certificate and its
// private key, each PEM.
type KMIPIdentity struct {
	CA, Cert, Key []byte
}

// Wipe clears the private key (and the rest).
func (k *KMIPIdentity) Wipe() {
	clear(k.Key)
	clear(k.Cert)
	clear(k.CA)
}

// EncodeKMIPIdentity is the Secret of a KMIP identity entry: version byte 1,
// then CA, certificate and key, each as a 4-byte big-endian length and the
// PEM bytes (docs/design/keystore.md).
func EncodeKMIPIdentity(k KMIPIdentity) []byte {
	b := make([]byte, 0, 1+12+len(k.CA)+len(k.Cert)+len(k.Key))
	b = append(b, 1)
	for _, p := range [][]byte{k.CA, k.Cert, k.Key} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(p)))
		b = append(b, p...)
	}
	return b
}

// DecodeKMIPIdentity reverses EncodeKMIPIdentity; the parts are copies.
func DecodeKMIPIdentity(b []byte) (KMIPIdentity, error) {
	bad := errors.New("kmip identity entry is damaged")
	if len(b) < 1 || b[0] != 1 {
		return KMIPIdentity{}, bad
	}
	b = b[1:]
	var parts [3][]byte
	for i := range parts {
		if len(b) < 4 {
			return KMIPIdentity{}, bad
		}
		n := binary.BigEndian.Uint32(b)
		b = b[4:]
		if uint64(n) > uint64(len(b)) {
			return KMIPIdentity{}, bad
		}
		parts[i] = append([]byte(nil), b[:n]...)
		b = b[n:]
	}
	if len(b) != 0 {
		k := KMIPIdentity{CA: parts[0], Cert: parts[1], Key: parts[2]}
		k.Wipe()
		return KMIPIdentity{}, bad
	}
	return KMIPIdentity{CA: parts[0], Cert: parts[1], Key: parts[2]}, nil
}
