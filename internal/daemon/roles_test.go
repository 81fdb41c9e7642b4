package daemon

import (
	"path/filepath"
	"testing"

	"coffer/internal/api"
)

// TestDaemonMethodsHaveRoles: every method the daemon serves has an entry
// in api.MethodRoles, so a new method without a role fails here (the
// server would refuse it to everyone).
func TestDaemonMethodsHaveRoles(t *testing.T) {
	d := &Daemon{}
	srv := d.newServer()
	u, err := api.LoadUsers(filepath.Join(t.TempDir(), "users.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv.SetUsers(u)
	methods := srv.Methods()
	if len(methods) < 40 {
		t.Fatalf("only %d methods served: %v", len(methods), methods)
	}
	served := map[string]bool{}
	for _, m := range methods {
		served[m] = true
		if len(api.MethodRoles[m]) == 0 {
			t.Errorf("daemon serves %q, which has no roles in api.MethodRoles", m)
		}
	}
	for m := range api.MethodRoles {
		if !served[m] {
			t.Errorf("api.MethodRoles names %q, which the daemon does not serve", m)
		}
	}
}
