package daemon

import "testing"

// The daemon runs ExtraProcs more Ps than the runtime chose, unless the
// user set GOMAXPROCS.
func TestProcs(t *testing.T) {
	if got := Procs("", 2); got != 2+ExtraProcs {
		t.Fatalf("Procs without GOMAXPROCS on 2 CPUs = %d", got)
	}
	if got := Procs("3", 3); got != 3 {
		t.Fatalf("Procs with GOMAXPROCS=3 = %d, want it kept", got)
	}
}
