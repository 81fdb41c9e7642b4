package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"

	"coffer/internal/atomicfile"
)

// Users of the API other than root and the daemon's own user: a name, a
// role, optionally a local uid (for the Unix socket) and the SHA-256 of an
// API token (for HTTP). The daemon keeps them in <state>/users.json
// (docs/design/access.md); the token itself is shown once, at user add.

// Method names of user management (admin only).
const (
	MUserAdd     = "user.add"
	MUserList    = "user.list"
	MUserRemove  = "user.remove"
	MUserSetRole = "user.set-role"
)

// UserAddReq adds a user. UID < 0: no local account (HTTP only).
type UserAddReq struct {
	Name string `json:"name"`
	Role string `json:"role"`
	UID  int    `json:"uid"`
}

// UserAddResp carries the new API token, shown once.
type UserAddResp struct {
	Token string `json:"token"`
}

// UserInfo is one row of `user list`; never the token or its hash.
type UserInfo struct {
	Name string `json:"name"`
	Role string `json:"role"`
	UID  int    `json:"uid"` // -1: none
}

type UserListResp struct {
	Users []UserInfo `json:"users"`
}

type UserNameReq struct {
	Name string `json:"name"`
}

type UserSetRoleReq struct {
	Name string `json:"name"`
	Role string `json:"role"`
}

// TokenBytes is the size of an API token before encoding.
const TokenBytes = 32

// NewToken returns a fresh random API token: 32 bytes from crypto/rand,
// base64url without padding.
func NewToken() (string, error) {
	b := make([]byte, TokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// HashToken is what users.json keeps of a token: hex SHA-256 of its text.
// A token has 256 random bits, so a fast hash is enough: there is nothing
// to guess.
func HashToken(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// tokenMatches compares token with a stored hash in constant time.
func tokenMatches(hash, token string) bool {
	want, err := hex.DecodeString(hash)
	if err != nil || len(want) != sha256.Size {
		return false
	}
	got := sha256.Sum256([]byte(token))
	return subtle.ConstantTimeCompare(want, got[:]) == 1
}

// UserRecord is one entry of users.json.
type UserRecord struct {
	Name      string `json:"name"`
	Role      Role   `json:"role"`
	UID       *int   `json:"uid,omitempty"`
	TokenHash string `json:"token_hash"`
}

type usersFile struct {
	Users []UserRecord `json:"users"`
}

// Users is the users file, held in memory and rewritten atomically on
// every change.
type Users struct {
	path string
	mu   sync.Mutex
	list []UserRecord
	// changed runs after a change, u.mu held, with whether a user has a
	// uid (the server widens or narrows the socket's mode with it).
	changed func(hasLocal bool)
}

var userName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// LoadUsers reads path; a missing file is an empty list.
func LoadUsers(path string) (*Users, error) {
	u := &Users{path: path}
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return u, nil
	}
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	var f usersFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("users: %s: %w", path, err)
	}
	for _, r := range f.Users {
		if _, err := ParseRole(string(r.Role)); err != nil || !userName.MatchString(r.Name) {
			return nil, fmt.Errorf("users: %s: bad entry '%s'", path, r.Name)
		}
	}
	u.list = f.Users
	return u, nil
}

// save writes the list; u.mu held.
func (u *Users) save() error {
	b, err := json.MarshalIndent(usersFile{Users: u.list}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(u.path, append(b, '\n'))
}

func (u *Users) find(name string) int {
	return slices.IndexFunc(u.list, func(r UserRecord) bool { return r.Name == name })
}

// ByUID returns the user configured for a local uid.
func (u *Users) ByUID(uid int) (UserRecord, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, r := range u.list {
		if r.UID != nil && *r.UID == uid {
			return r, true
		}
	}
	return UserRecord{}, false
}

// ByToken returns the user whose token is token. Every stored hash is
// compared, in constant time each.
func (u *Users) ByToken(token string) (UserRecord, bool) {
	u.mu.Lock()
	defer u.mu.Unlock()
	var found UserRecord
	ok := false
	for _, r := range u.list {
		if tokenMatches(r.TokenHash, token) && !ok {
			found, ok = r, true
		}
	}
	return found, ok
}

// HasLocal reports whether a user is configured with a uid.
func (u *Users) HasLocal() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.hasLocal()
}

func (u *Users) hasLocal() bool {
	return slices.ContainsFunc(u.list, func(r UserRecord) bool { return r.UID != nil })
}

// notify reports a change; u.mu held.
func (u *Users) notify() {
	if u.changed != nil {
		u.changed(u.hasLocal())
	}
}

// Add adds a user and returns its new token.
func (u *Users) Add(_ context.Context, _ Caller, req UserAddReq) (UserAddResp, error) {
	if !userName.MatchString(req.Name) {
		return UserAddResp{}, Invalid("cannot add user '%s': a name is 1 to 64 letters, digits, '.', '_' or '-'", req.Name)
	}
	role, err := ParseRole(req.Role)
	if err != nil {
		return UserAddResp{}, Invalid("cannot add user '%s': %v", req.Name, err)
	}
	tok, err := NewToken()
	if err != nil {
		return UserAddResp{}, err
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.find(req.Name) >= 0 {
		return UserAddResp{}, Exists("cannot add user '%s': user already exists", req.Name)
	}
	rec := UserRecord{Name: req.Name, Role: role, TokenHash: HashToken(tok)}
	if req.UID >= 0 {
		for _, r := range u.list {
			if r.UID != nil && *r.UID == req.UID {
				return UserAddResp{}, Exists("cannot add user '%s': uid %d is already user '%s'", req.Name, req.UID, r.Name)
			}
		}
		uid := req.UID
		rec.UID = &uid
	}
	u.list = append(u.list, rec)
	if err := u.save(); err != nil {
		u.list = u.list[:len(u.list)-1]
		return UserAddResp{}, fmt.Errorf("cannot add user '%s': %w", req.Name, err)
	}
	defer u.notify()
	return UserAddResp{Token: tok}, nil
}

// List lists the users by name.
func (u *Users) List(_ context.Context, _ Caller) (UserListResp, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := UserListResp{Users: []UserInfo{}}
	for _, r := range u.list {
		uid := -1
		if r.UID != nil {
			uid = *r.UID
		}
		out.Users = append(out.Users, UserInfo{Name: r.Name, Role: string(r.Role), UID: uid})
	}
	sort.Slice(out.Users, func(i, j int) bool { return out.Users[i].Name < out.Users[j].Name })
	return out, nil
}

// Remove removes a user; its token stops working at once.
func (u *Users) Remove(_ context.Context, _ Caller, req UserNameReq) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	i := u.find(req.Name)
	if i < 0 {
		return NotFound("cannot remove user '%s': no such user", req.Name)
	}
	old := slices.Clone(u.list)
	u.list = slices.Delete(u.list, i, i+1)
	if err := u.save(); err != nil {
		u.list = old
		return fmt.Errorf("cannot remove user '%s': %w", req.Name, err)
	}
	defer u.notify()
	return nil
}

// SetRole changes a user's role.
func (u *Users) SetRole(_ context.Context, _ Caller, req UserSetRoleReq) error {
	role, err := ParseRole(req.Role)
	if err != nil {
		return Invalid("cannot set role of '%s': %v", req.Name, err)
	}
	u.mu.Lock()
	defer u.mu.Unlock()
	i := u.find(req.Name)
	if i < 0 {
		return NotFound("cannot set role of '%s': no such user", req.Name)
	}
	old := u.list[i].Role
	u.list[i].Role = role
	if err := u.save(); err != nil {
		u.list[i].Role = old
		return fmt.Errorf("cannot set role of '%s': %w", req.Name, err)
	}
	return nil
}

// bearer extracts the token of an "Authorization: Bearer TOKEN" header.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}
