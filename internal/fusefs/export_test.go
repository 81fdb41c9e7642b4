package fusefs

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
