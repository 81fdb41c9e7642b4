package dsl

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"coffer/internal/dmu"
	"coffer/internal/format"
	"coffer/internal/stream"
)

// resumeToken is what receive_resume_token encodes: enough for the sender
// to find the snapshots and skip what the receiver already has.
type resumeToken struct {
	V        int    `json:"v"`
	Name     string `json:"name"`
	GUID     uint64 `json:"guid"`
	FromGUID uint64 `json:"from_guid,omitempty"`
	Raw      bool   `json:"raw"`
	Records  uint64 `json:"records"`
}

func (st *resumeState) token() string {
	b, _ := json.Marshal(resumeToken{V: 1, Name: st.Begin.Name, GUID: st.Begin.GUID, FromGUID: st.Begin.FromGUID, Raw: st.Begin.Raw, Records: st.Records})
	return base64.RawURLEncoding.EncodeToString(b)
}

func parseToken(s string) (resumeToken, error) {
	var t resumeToken
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &t)
	}
	if err != nil || t.V != 1 || t.GUID == 0 {
		return t, errf(CodeInvalid, "cannot resume send: invalid resume token")
	}
	return t, nil
}

func encBP(bp *format.BlockPointer) string {
	var b [format.BPSize]byte
	bp.Encode(b[:])
	return hex.EncodeToString(b[:])
}

func decBP(s string) (format.BlockPointer, error) {
	var bp format.BlockPointer
	b, err := hex.DecodeString(s)
	if err != nil {
		return bp, fmt.Errorf("%w: resume state", format.ErrCorrupt)
	}
	return bp, bp.Decode(b)
}

// saveState turns what placeRaw wrote into a resume state.
func saveState(b *stream.Begin, res rawResult) *resumeState {
	st := &resumeState{Begin: *b, Records: b.ResumeAt + uint64(res.records), Bytes: res.bytes, Logical: res.logical, Phys: res.phys}
	st.Begin.ResumeAt = 0
	for i := range res.all {
		st.All = append(st.All, encBP(&res.all[i]))
	}
	for pos, bp := range res.placed {
		st.Placed = append(st.Placed, placedBP{Pos: pos, BP: encBP(&bp)})
	}
	return st
}

// restore turns a resume state back into placeRaw's starting point.
func (st *resumeState) restore() (rawResult, error) {
	res := rawResult{placed: map[dmu.Pos]format.BlockPointer{}, bytes: st.Bytes, logical: st.Logical, phys: st.Phys}
	for _, s := range st.All {
		bp, err := decBP(s)
		if err != nil {
			return res, err
		}
		res.all = append(res.all, bp)
	}
	for _, p := range st.Placed {
		bp, err := decBP(p.BP)
		if err != nil {
			return res, err
		}
		res.placed[p.Pos] = bp
	}
	return res, nil
}

// blocks lists the blocks a resume state keeps live.
func (st *resumeState) blocks() []format.BlockPointer {
	var out []format.BlockPointer
	for _, s := range st.All {
		if bp, err := decBP(s); err == nil {
			out = append(out, bp)
		}
	}
	return out
}

// AbortReceive discards the saved state of an interrupted resumable
// receive into name (receive -A): its blocks are freed, and a dataset that
// only held that state is removed.
func (dp *Pool) AbortReceive(name string) error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	r := dp.lookup(name)
	if r == nil {
		return errf(CodeNotFound, "cannot abort receive into '%s': dataset does not exist", name)
	}
	if r.Resume == nil {
		return errf(CodeInvalid, "cannot abort receive into '%s': there is no interrupted receive to discard", name)
	}
	return dp.txgDo(func(txg uint64) error {
		for _, bp := range r.Resume.blocks() {
			dp.p.Free(&bp)
		}
		r.Resume = nil
		if r.Partial {
			delete(dp.live, r.ID)
			delete(dp.m.Datasets, r.ID)
		}
		return nil
	})
}

// TokenSnapshot returns the snapshot a resume token names (to find its pool).
func TokenSnapshot(token string) (string, error) {
	t, err := parseToken(token)
	return t.Name, err
}
