package api_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"coffer/internal/api"
	"coffer/internal/api/apitest"
)

// allVerbs serves the optional verb sets so that a server registers every
// method; none is called.
type allVerbs struct{ *apitest.Fake }

func (allVerbs) Mount(context.Context, api.Caller, api.MountReq) error     { return nil }
func (allVerbs) Unmount(context.Context, api.Caller, api.UnmountReq) error { return nil }
func (allVerbs) Mounts(context.Context, api.Caller) (api.MountsResp, error) {
	return api.MountsResp{}, nil
}
func (allVerbs) Lock(context.Context, api.Caller, api.LockReq) error { return nil }
func (allVerbs) Unlock(context.Context, api.Caller, api.UnlockReq) (api.UnlockResp, error) {
	return api.UnlockResp{}, nil
}
func (allVerbs) KeyExport(context.Context, api.Caller, api.KeyExportReq) (api.KeyExportResp, error) {
	return api.KeyExportResp{}, nil
}
func (allVerbs) KeystoreStatus(context.Context, api.Caller) (api.KeystoreStatus, error) {
	return api.KeystoreStatus{}, nil
}
func (allVerbs) KeystoreProtect(context.Context, api.Caller, api.KeystoreProtectReq) error {
	return nil
}
func (allVerbs) KeystoreUnlock(context.Context, api.Caller, api.KeystoreUnlockReq) error { return nil }
func (allVerbs) Rekey(context.Context, api.Caller, api.RekeyReq) (api.RekeyResp, error) {
	return api.RekeyResp{}, nil
}
func (allVerbs) RekeyStatus(context.Context, api.Caller, api.RekeyReq) (api.RekeyStatusResp, error) {
	return api.RekeyStatusResp{}, nil
}
func (allVerbs) Health(context.Context, api.Caller) (api.HealthResp, error) {
	return api.HealthResp{}, nil
}
func (allVerbs) KeystoreUncache(context.Context, api.Caller, api.Empty) error { return nil }
func (allVerbs) CredentialAdd(context.Context, api.Caller, api.CredentialAddReq) error {
	return nil
}
func (allVerbs) CredentialList(context.Context, api.Caller) (api.CredentialListResp, error) {
	return api.CredentialListResp{}, nil
}
func (allVerbs) CredentialRemove(context.Context, api.Caller, api.CredentialRemoveReq) error {
	return nil
}
func (allVerbs) PoolCheck(context.Context, api.Caller, api.PoolNameReq) (api.PoolCheckResp, error) {
	return api.PoolCheckResp{}, nil
}
func (allVerbs) PoolUpgrade(context.Context, api.Caller, api.PoolNameReq) (api.PoolUpgradeResp, error) {
	return api.PoolUpgradeResp{}, nil
}

func fullServer(t *testing.T) (*api.Server, *api.Users) {
	t.Helper()
	b := allVerbs{apitest.NewFake()}
	srv := api.NewServer(b, nil)
	srv.RegisterMount(b)
	srv.RegisterRemote(b)
	srv.RegisterLock(b)
	srv.RegisterKeys(b)
	srv.RegisterCheck(b)
	srv.RegisterUpgrade(b)
	srv.RegisterRekey(b)
	srv.RegisterHealth(b)
	u, err := api.LoadUsers(filepath.Join(t.TempDir(), "users.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetUsers(u)
	return srv, u
}

// TestEveryMethodHasRoles: a method registered without an entry in
// api.MethodRoles fails here (and is refused to everyone at run time); an
// entry for a method that does not exist fails too.
func TestEveryMethodHasRoles(t *testing.T) {
	t.Parallel()
	srv, _ := fullServer(t)
	served := map[string]bool{}
	for _, m := range srv.Methods() {
		served[m] = true
		if len(api.MethodRoles[m]) == 0 {
			t.Errorf("method %q has no roles in api.MethodRoles", m)
		}
		if !api.Allowed(api.RoleAdmin, m) {
			t.Errorf("admin may not call %q", m)
		}
	}
	for m := range api.MethodRoles {
		if !served[m] {
			t.Errorf("api.MethodRoles names %q, which no server registers", m)
		}
	}
}

func TestRoleTable(t *testing.T) {
	t.Parallel()
	tests := []struct {
		method string
		allow  []api.Role
	}{
		{api.MList, []api.Role{api.RoleAdmin, api.RoleKeyAdmin, api.RoleOperator, api.RoleViewer}},
		{api.MGet, []api.Role{api.RoleAdmin, api.RoleKeyAdmin, api.RoleOperator, api.RoleViewer}},
		{api.MPoolStatus, []api.Role{api.RoleAdmin, api.RoleKeyAdmin, api.RoleOperator, api.RoleViewer}},
		{api.MUnlock, []api.Role{api.RoleAdmin, api.RoleKeyAdmin}},
		{api.MLoadKey, []api.Role{api.RoleAdmin, api.RoleKeyAdmin}},
		{api.MKeyExport, []api.Role{api.RoleAdmin, api.RoleKeyAdmin}},
		{api.MKeystoreProtect, []api.Role{api.RoleAdmin, api.RoleKeyAdmin}},
		{api.MRekey, []api.Role{api.RoleAdmin, api.RoleKeyAdmin}},
		{api.MKeystoreCredentialAdd, []api.Role{api.RoleAdmin, api.RoleKeyAdmin}},
		{api.MKeystoreCredentialRemove, []api.Role{api.RoleAdmin, api.RoleKeyAdmin}},
		{api.MKeystoreCredentialList, []api.Role{api.RoleAdmin, api.RoleKeyAdmin, api.RoleOperator, api.RoleViewer}},
		{api.MDestroy, []api.Role{api.RoleAdmin, api.RoleOperator}},
		{api.MCreate, []api.Role{api.RoleAdmin, api.RoleOperator}},
		{api.MSend, []api.Role{api.RoleAdmin, api.RoleOperator}},
		{api.MUserAdd, []api.Role{api.RoleAdmin}},
	}
	for _, tt := range tests {
		for _, r := range api.Roles {
			want := false
			for _, a := range tt.allow {
				want = want || a == r
			}
			if got := api.Allowed(r, tt.method); got != want {
				t.Errorf("Allowed(%s, %s) = %v, want %v", r, tt.method, got, want)
			}
		}
	}
	if api.Allowed(api.RoleAdmin, "no.such") {
		t.Error("a method without an entry is allowed")
	}
	if !api.KeyMethod(api.MKeystoreCredentialAdd) || !api.KeyMethod(api.MKeystoreCredentialRemove) || api.KeyMethod(api.MKeystoreCredentialList) {
		t.Error("KeyMethod misclassifies the credential methods")
	}
	if !api.KeyMethod(api.MUnlock) || api.KeyMethod(api.MList) || api.KeyMethod(api.MDestroy) {
		t.Error("KeyMethod misclassifies")
	}
}

func TestUsersTokens(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "users.json")
	u, err := api.LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := u.Add(ctx, api.Caller{}, api.UserAddReq{Name: "alice", Role: "keyadmin", UID: 1001})
	if err != nil {
		t.Fatal(err)
	}
	b, err := u.Add(ctx, api.Caller{}, api.UserAddReq{Name: "bob", Role: "viewer", UID: -1})
	if err != nil {
		t.Fatal(err)
	}
	if a.Token == b.Token || len(a.Token) < 43 {
		t.Fatalf("tokens %q %q", a.Token, b.Token)
	}
	// Only the hash is on disk.
	raw, _ := os.ReadFile(path)
	if strings.Contains(string(raw), a.Token) || !strings.Contains(string(raw), api.HashToken(a.Token)) {
		t.Fatalf("users.json holds the token or lacks its hash:\n%s", raw)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm()&0o077 != 0 {
		t.Errorf("users.json mode %v", fi.Mode())
	}
	// A fresh load finds the users by token and uid.
	u2, err := api.LoadUsers(path)
	if err != nil {
		t.Fatal(err)
	}
	if r, ok := u2.ByToken(a.Token); !ok || r.Name != "alice" || r.Role != api.RoleKeyAdmin {
		t.Errorf("ByToken(alice) = %+v %v", r, ok)
	}
	if r, ok := u2.ByUID(1001); !ok || r.Name != "alice" {
		t.Errorf("ByUID(1001) = %+v %v", r, ok)
	}
	for _, bad := range []string{"", a.Token[:len(a.Token)-1], a.Token + "x", strings.ToUpper(a.Token), api.HashToken(a.Token)} {
		if r, ok := u2.ByToken(bad); ok {
			t.Errorf("ByToken(%q) = %+v", bad, r)
		}
	}
	if _, ok := u2.ByUID(65534); ok {
		t.Error("unconfigured uid found")
	}
	// Bad input changes nothing.
	for _, req := range []api.UserAddReq{{Name: "alice", Role: "viewer", UID: -1}, {Name: "carol", Role: "root", UID: -1}, {Name: "a b", Role: "viewer", UID: -1}, {Name: "dave", Role: "viewer", UID: 1001}} {
		if _, err := u2.Add(ctx, api.Caller{}, req); err == nil {
			t.Errorf("Add(%+v) succeeded", req)
		}
	}
	if err := u2.SetRole(ctx, api.Caller{}, api.UserSetRoleReq{Name: "alice", Role: "operator"}); err != nil {
		t.Fatal(err)
	}
	if err := u2.Remove(ctx, api.Caller{}, api.UserNameReq{Name: "bob"}); err != nil {
		t.Fatal(err)
	}
	if _, ok := u2.ByToken(b.Token); ok {
		t.Error("removed user's token still works")
	}
	list, _ := u2.List(ctx, api.Caller{})
	if len(list.Users) != 1 || list.Users[0].Role != "operator" || list.Users[0].UID != 1001 {
		t.Errorf("list = %+v", list)
	}
}

// serveTCP serves srv over HTTP on a loopback port until the test ends and
// returns its URL.
func serveTCP(t *testing.T, srv *api.Server) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ln, err := api.ListenTCP(api.TCPOptions{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.ServeTCP(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return "http://" + ln.Addr().String()
}

// TestHTTPAuth: the TCP transport refuses requests without a valid token
// (401) and calls its role does not allow (403), before the backend runs.
func TestHTTPAuth(t *testing.T) {
	t.Parallel()
	srv, users := fullServer(t)
	ctx := context.Background()
	url := serveTCP(t, srv)
	var mu sync.Mutex
	var audited []string
	srv.SetAudit(func(c api.Caller, method string, err error) {
		mu.Lock()
		defer mu.Unlock()
		audited = append(audited, c.User+" "+method+" "+api.ErrorCode(err))
	})

	op, _ := users.Add(ctx, api.Caller{}, api.UserAddReq{Name: "ops", Role: "operator", UID: -1})

	post := func(token, method string) (int, api.Error) {
		req, _ := http.NewRequest(http.MethodPost, url+"/v1/"+method, strings.NewReader("{}"))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var env struct{ Error *api.Error }
		_ = json.NewDecoder(resp.Body).Decode(&env)
		if env.Error == nil {
			return resp.StatusCode, api.Error{}
		}
		return resp.StatusCode, *env.Error
	}
	if code, e := post("", api.MList); code != 401 || e.Code != api.CodeAuth || strings.Contains(e.Message, "\n") {
		t.Errorf("no token: %d %+v", code, e)
	}
	if code, e := post("bogus", api.MList); code != 401 || e.Message != "authentication failed: unknown API token" {
		t.Errorf("bad token: %d %+v", code, e)
	}
	if code, e := post(op.Token, api.MUnlock); code != 403 || e.Message != "permission denied: 'unlock' needs role keyadmin or admin (you are operator)" {
		t.Errorf("operator unlock: %d %+v", code, e)
	}
	if code, e := post(op.Token, api.MList); code != 200 {
		t.Errorf("operator list: %d %+v", code, e)
	}
	// Through the client.
	c, err := api.NewHTTPClient(url, op.Token, "")
	if err != nil {
		t.Fatal(err)
	}
	err = c.Call(ctx, api.MKeyExport, api.KeyExportReq{Name: "tank"}, nil)
	var e *api.Error
	if !errors.As(err, &e) || e.Code != api.CodePermission {
		t.Errorf("client key export: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(audited) != 2 || audited[0] != "ops unlock permission" || audited[1] != "ops key.export permission" {
		t.Errorf("audited %q", audited)
	}
}

func TestCheckTCP(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		o  api.TCPOptions
		ok bool
	}{
		{api.TCPOptions{Addr: "127.0.0.1:8080"}, true},
		{api.TCPOptions{Addr: "[::1]:8080"}, true},
		{api.TCPOptions{Addr: "localhost:8080"}, true},
		{api.TCPOptions{Addr: "0.0.0.0:8080"}, false},
		{api.TCPOptions{Addr: ":8080"}, false},
		{api.TCPOptions{Addr: "192.168.1.5:8080"}, false},
		{api.TCPOptions{Addr: "0.0.0.0:8080", CertFile: "c", KeyFile: "k"}, true},
		{api.TCPOptions{Addr: "127.0.0.1:8080", CertFile: "c"}, false},
		{api.TCPOptions{Addr: "nonsense"}, false},
	} {
		err := api.CheckTCP(tt.o)
		if (err == nil) != tt.ok {
			t.Errorf("CheckTCP(%+v) = %v", tt.o, err)
		}
	}
	if _, err := api.NewHTTPClient("http://10.0.0.1:8080", "t", ""); err == nil {
		t.Error("plain http to a non-loopback address accepted")
	}
	if _, err := api.NewHTTPClient("https://nas:8443", "", ""); err == nil {
		t.Error("client without a token accepted")
	}
}
