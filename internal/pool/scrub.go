package pool

import (
	"sync"
	"time"

	"coffer/internal/format"
)

// ScrubState is the progress of the last scrub.
type ScrubState struct {
	mu        sync.Mutex
	State     string // none, scanning, finished
	Start     time.Time
	End       time.Time
	Examined  uint64
	Total     uint64
	Errors    uint64
	Repaired  uint64
	Unrecover uint64
}

// ScrubSnapshot is a copy of the scrub progress.
type ScrubSnapshot struct {
	State                                        string
	Start, End                                   time.Time
	Examined, Total, Errors, Repaired, Unrecover uint64
}

// ScrubInfo returns the scrub progress.
func (p *Pool) ScrubInfo() ScrubSnapshot {
	s := &p.scrub
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.State
	if st == "" {
		st = "none"
	}
	return ScrubSnapshot{st, s.Start, s.End, s.Examined, s.Total, s.Errors, s.Repaired, s.Unrecover}
}

// ScrubBegin resets the scrub counters.
func (p *Pool) ScrubBegin() {
	s := &p.scrub
	s.mu.Lock()
	s.State, s.Start, s.End = "scanning", time.Now(), time.Time{}
	s.Examined, s.Errors, s.Repaired, s.Unrecover = 0, 0, 0, 0
	s.mu.Unlock()
	total := p.AllocatedBytes()
	s.mu.Lock()
	s.Total = total
	s.mu.Unlock()
}

// ScrubEnd marks the scrub finished.
func (p *Pool) ScrubEnd() {
	s := &p.scrub
	s.mu.Lock()
	s.State, s.End = "finished", time.Now()
	s.mu.Unlock()
}

// ScrubBlock verifies every copy of one block against its checksum and
// rewrites bad copies from a good one. It needs no key.
func (p *Pool) ScrubBlock(bp *format.BlockPointer) {
	if bp.IsHole() || int(bp.Vdev) >= len(p.tops) {
		return
	}
	buf := make([]byte, bp.PSize)
	repaired, err := p.tops[bp.Vdev].Repair(buf, int64(bp.Offset), func(b []byte) bool { return ChecksumOK(bp, b) })
	s := &p.scrub
	s.mu.Lock()
	defer s.mu.Unlock()
	s.Examined += uint64(bp.PSize)
	if repaired > 0 {
		s.Errors++
		s.Repaired += uint64(repaired) * uint64(bp.PSize) // bytes rewritten
	}
	if err != nil {
		s.Errors++
		s.Unrecover++
	}
}
