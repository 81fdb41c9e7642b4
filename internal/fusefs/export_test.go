package fusefs

import (
	"testing"
	"time"
)

// SetMemPlenty makes m see memory as plentiful or short, for the rule that
// stores a record again after the kernel dropped it (pagecache.go).
func (m *Mount) SetMemPlenty(plenty bool) {
	if plenty {
		m.memTest.Store(1)
	} else {
		m.memTest.Store(2)
	}
}

// ReadMemPlenty is readMemPlenty.
var ReadMemPlenty = readMemPlenty

// WaitReleased waits until the daemon counts no writable handle of the
// file name in the mount's root. The kernel sends RELEASE after close(2)
// has returned, and record fill stays off while a writable handle is
// counted, so a test that reads right after writing waits for it first.
func (m *Mount) WaitReleased(t testing.TB, name string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; {
		ch := m.root.GetChild(name)
		if ch == nil {
			t.Fatalf("%s is not known in the mount's root", name)
		}
		if ch.Operations().(*node).ps.writers.Load() == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still has a writable handle 5 s after close", name)
		}
		time.Sleep(time.Millisecond)
	}
}
