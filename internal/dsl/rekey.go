package dsl

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"coffer/internal/crypto"
	"coffer/internal/dmu"
	"coffer/internal/format"
	"coffer/internal/pool"
)

// rekeyState is a deep rekey in progress on a dataset, kept in the MOS
// (docs/design/on-disk-format.md, "MOS"). The snapshots already rewritten
// are those whose key_guid is KeyGUID; the head is rewritten last, in the
// txg that also replaces the dataset's wrapped key and drops this state.
type rekeyState struct {
	Wrapped []byte `json:"wrapped"`  // the new master key, wrapped by the encryption root's wrapping key
	KeyGUID uint64 `json:"key_guid"` // its GUID
	Started int64  `json:"started"`  // unix seconds
}

// blockRef is where a block lies: all that freeing it needs (16 bytes
// instead of a 128-byte pointer per block in flight).
type blockRef struct {
	Vdev, PSize uint32
	Offset      uint64
}

func refOf(bp *format.BlockPointer) blockRef { return blockRef{bp.Vdev, bp.PSize, bp.Offset} }

func (b blockRef) bp() *format.BlockPointer {
	return &format.BlockPointer{Vdev: b.Vdev, PSize: b.PSize, Offset: b.Offset}
}

// rekeyRun is the in-memory state of a running deep rekey of one dataset.
type rekeyRun struct {
	mu         sync.Mutex    // held around every placement (Check reads a stable allocator)
	placed     []blockRef    // written, not yet in a committed tree
	deferred   []blockRef    // old head blocks killed while the head is being read
	deferKills bool          // dp.mu
	done       atomic.Uint64 // bytes written
	total      uint64
	objsets    int // swapped so far in this run
}

func (run *rekeyRun) Lock()   { run.mu.Lock() }
func (run *rekeyRun) Unlock() { run.mu.Unlock() }

// RekeyProgress reports a running deep rekey.
type RekeyProgress struct {
	Dataset   string
	Phase     string // snapshot name being rewritten, or "head"
	Objsets   int    // object sets (snapshots and head) rewritten
	Total     int    // object sets to rewrite
	Bytes     uint64 // bytes written so far
	TotalSize uint64 // estimate of the bytes to write (referenced + used by snapshots)
}

// RekeyOpts are the options of a deep rekey.
type RekeyOpts struct {
	Recursive bool // every dataset at or below sharing the dataset's encryption root
	Progress  func(RekeyProgress)
}

// RekeyResult is one dataset rekeyed.
type RekeyResult struct {
	Dataset    string
	OldKeyGUID uint64
	NewKeyGUID uint64
	Objsets    int
	Bytes      uint64
	Resumed    bool
}

// rekeyHook, in tests, is called after every block written and every
// object set swapped; an error stops the rekey there.
var rekeyHook func(event string, n uint64) error

// rekeyBusy is the one-line error for operations refused during a rekey.
func rekeyBusy(verb, name string, r *dsRec) error {
	return errf(CodeBusy, "cannot %s '%s': deep rekey of '%s' in progress (run 'coffer rekey %s' to finish it)", verb, name, r.Name, r.Name)
}

// checkNoRekey refuses verb on name when dataset r (or its owner, for a
// snapshot) has a deep rekey in progress; dp.mu held.
func (dp *Pool) checkNoRekey(verb, name string, r *dsRec) error {
	if r == nil {
		return nil
	}
	if r.Type == "snapshot" {
		r = dp.owner(r)
	}
	if r != nil && r.Rekey != nil {
		return rekeyBusy(verb, name, r)
	}
	return nil
}

// keyFor returns the loaded master key of dataset d with GUID guid (the
// current or, during a rekey, the new one); nil if not loaded.
func (dp *Pool) keyFor(d *dsRec, guid uint64) *crypto.DatasetKey {
	l := dp.live[d.ID]
	if l == nil {
		return nil
	}
	if l.key != nil && l.key.GUID() == guid {
		return l.key
	}
	if l.newKey != nil && l.newKey.GUID() == guid {
		return l.newKey
	}
	return nil
}

// wrappedFor returns the wrapped master key of dataset d with GUID guid.
func wrappedFor(d *dsRec, guid uint64) []byte {
	if d.Rekey != nil && d.Rekey.KeyGUID == guid {
		return d.Rekey.Wrapped
	}
	return d.Wrapped
}

// snapsRekeyed reports whether every snapshot of r already uses the new
// key (they are rewritten oldest first); dp.mu held.
func (dp *Pool) snapsRekeyed(r *dsRec) bool {
	if r.Rekey == nil || len(r.Snaps) == 0 {
		return r.Rekey != nil
	}
	last := dp.m.Datasets[r.Snaps[len(r.Snaps)-1]]
	return last != nil && last.KeyGUID == r.Rekey.KeyGUID
}

// freeOld frees an old-key block of r's head, or defers it while the head
// is being read by a rekey; dp.mu held.
func (dp *Pool) freeOld(r *dsRec, bp *format.BlockPointer) {
	if run := dp.rk[r.ID]; run != nil && run.deferKills {
		run.mu.Lock()
		run.deferred = append(run.deferred, refOf(bp))
		run.mu.Unlock()
		return
	}
	dp.p.Free(bp)
}

// RekeyStatus describes the deep rekey state of a dataset.
type RekeyStatus struct {
	Dataset   string
	State     string // none, in-progress, running
	KeyGUID   uint64 // current master key
	NewGUID   uint64 // new master key while in progress
	SnapsDone int
	Snaps     int
	Started   int64
	Bytes     uint64 // written by the running rekey
	TotalSize uint64
}

// RekeyStatus returns the rekey state of name (with recursive, of every
// encrypted dataset at or below it).
func (dp *Pool) RekeyStatus(name string, recursive bool) ([]RekeyStatus, error) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	r := dp.lookup(name)
	if r == nil || r.Type == "snapshot" {
		return nil, errf(CodeNotFound, "cannot open '%s': dataset does not exist", name)
	}
	if !recursive && r.Suite == 0 {
		return nil, errf(CodeInvalid, "cannot get rekey status of '%s': dataset is not encrypted", name)
	}
	scope := []*dsRec{r}
	if recursive {
		scope = dp.descendants(r)
	}
	var out []RekeyStatus
	for _, d := range scope {
		if d.Suite == 0 {
			continue
		}
		st := RekeyStatus{Dataset: d.Name, State: "none", KeyGUID: d.KeyGUID, Snaps: len(d.Snaps)}
		if d.Rekey != nil {
			st.State, st.NewGUID, st.Started = "in-progress", d.Rekey.KeyGUID, d.Rekey.Started
			for _, s := range dp.snapshots(d) {
				if s.KeyGUID == d.Rekey.KeyGUID {
					st.SnapsDone++
				}
			}
			if run := dp.rk[d.ID]; run != nil {
				st.State, st.Bytes, st.TotalSize = "running", run.done.Load(), run.total
			}
		}
		out = append(out, st)
	}
	return out, nil
}

// PendingRekeys lists the datasets with an interrupted deep rekey whose
// keys are loaded and that no rekey is running on (to resume them).
func (dp *Pool) PendingRekeys() []string {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	var out []string
	for _, d := range dp.m.Datasets {
		if d.Rekey == nil || dp.rk[d.ID] != nil {
			continue
		}
		if l := dp.live[d.ID]; l != nil && l.key != nil && l.newKey != nil {
			out = append(out, d.Name)
		}
	}
	return out
}

// Rekey gives dataset name (with recursive, every dataset at or below it
// under the same encryption root) a new master key and re-encrypts every
// block of it, its snapshots included, while it stays usable. An
// interrupted rekey is continued. Afterwards the old master key opens no
// block of the dataset.
func (dp *Pool) Rekey(name string, o RekeyOpts) ([]RekeyResult, error) {
	targets, err := dp.RekeyTargets(name, o.Recursive)
	if err != nil {
		return nil, err
	}
	var out []RekeyResult
	for _, t := range targets {
		dp.mu.Lock()
		r := dp.lookup(t)
		dp.mu.Unlock()
		if r == nil {
			return out, errf(CodeNotFound, "cannot rekey '%s': dataset was destroyed", t)
		}
		res, err := dp.rekeyOne(r.ID, o.Progress)
		if err != nil {
			return out, err
		}
		out = append(out, res)
	}
	return out, nil
}

// RekeyTargets checks that a rekey of name (with recursive, of every
// encrypted dataset at or below it under the same encryption root) can
// start now and returns the datasets it would rekey, in order.
func (dp *Pool) RekeyTargets(name string, recursive bool) ([]string, error) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	r := dp.lookup(name)
	if r == nil || r.Type == "snapshot" {
		if r != nil {
			return nil, errf(CodeInvalid, "cannot rekey '%s': snapshots are rekeyed with their dataset", name)
		}
		return nil, errf(CodeNotFound, "cannot open '%s': dataset does not exist", name)
	}
	if r.Suite == 0 {
		return nil, errf(CodeInvalid, "cannot rekey '%s': dataset is not encrypted", name)
	}
	targets := []*dsRec{r}
	if recursive {
		targets = nil
		for _, d := range dp.descendants(r) {
			if d.Suite != 0 && d.EncRoot == r.EncRoot {
				targets = append(targets, d)
			}
		}
	}
	var out []string
	for _, d := range targets {
		if err := dp.rekeyCheck(d); err != nil {
			return nil, err
		}
		out = append(out, d.Name)
	}
	return out, nil
}

// rekeyCheck refuses a dataset that cannot be rekeyed now; dp.mu held.
func (dp *Pool) rekeyCheck(d *dsRec) error {
	if d.Partial || d.Resume != nil {
		return errf(CodeBusy, "cannot rekey '%s': an interrupted receive is pending (resume or abort it first)", d.Name)
	}
	if l := dp.live[d.ID]; l == nil || l.key == nil {
		return errf(CodeKey, "cannot rekey '%s': encryption key not loaded", d.Name)
	}
	if dp.wk[d.EncRoot] == nil {
		return errf(CodeKey, "cannot rekey '%s': encryption key of '%s' not loaded", d.Name, dp.nameOf(d.EncRoot))
	}
	if d.Rekey != nil && dp.live[d.ID].newKey == nil {
		return errf(CodeKey, "cannot rekey '%s': the new key of the interrupted rekey is not loaded (load the key again)", d.Name)
	}
	if dp.rk[d.ID] != nil {
		return errf(CodeBusy, "cannot rekey '%s': a rekey of it is already running", d.Name)
	}
	return nil
}

func (dp *Pool) rekeyOne(id uint64, progress func(RekeyProgress)) (res RekeyResult, err error) {
	dp.mu.Lock()
	r := dp.m.Datasets[id]
	if r == nil {
		dp.mu.Unlock()
		return res, errf(CodeNotFound, "cannot rekey: dataset was destroyed")
	}
	if dp.closed {
		dp.mu.Unlock()
		return res, errf(CodeIO, "cannot rekey '%s': pool is being closed", r.Name)
	}
	if err := dp.rekeyCheck(r); err != nil {
		dp.mu.Unlock()
		return res, err
	}
	dp.rekeys.Add(1)
	defer dp.rekeys.Done()
	l := dp.live[id]
	res = RekeyResult{Dataset: r.Name, OldKeyGUID: r.KeyGUID, Resumed: r.Rekey != nil}
	if r.Rekey == nil {
		k2, err := crypto.NewDatasetKey(crypto.Suite(r.Suite))
		if err != nil {
			dp.mu.Unlock()
			return res, errf(CodeIO, "cannot rekey '%s': %v", r.Name, err)
		}
		w, err := crypto.Wrap(dp.wk[r.EncRoot], k2, nil)
		var wb []byte
		if err == nil {
			wb, err = w.MarshalBinary()
		}
		if err != nil {
			k2.Wipe()
			dp.mu.Unlock()
			return res, errf(CodeIO, "cannot rekey '%s': %v", r.Name, err)
		}
		err = dp.txgDo(func(txg uint64) error {
			r.Rekey = &rekeyState{Wrapped: wb, KeyGUID: k2.GUID(), Started: time.Now().Unix()}
			return nil
		})
		if err != nil {
			r.Rekey = nil
			k2.Wipe()
			dp.mu.Unlock()
			return res, err
		}
		l.newKey = k2
	}
	run := &rekeyRun{total: r.Referenced + r.UsedBySnaps}
	dp.rk[id] = run
	res.NewKeyGUID = r.Rekey.KeyGUID
	total := len(r.Snaps) + 1
	dp.mu.Unlock()

	defer func() {
		dp.mu.Lock()
		dp.abandon(run)
		delete(dp.rk, id)
		dp.mu.Unlock()
		res.Bytes = run.done.Load()
		res.Objsets = run.objsets
	}()
	report := func(phase string, n int) {
		if progress != nil {
			progress(RekeyProgress{Dataset: res.Dataset, Phase: phase, Objsets: n, Total: total,
				Bytes: run.done.Load(), TotalSize: run.total})
		}
	}
	var blocks, headBlocks atomic.Uint64
	var lastReport time.Time
	rewriter := func(old, nu *crypto.DatasetKey, share *dmu.Locator, shareTxg uint64, phase string, n int) *dmu.Rewrite {
		return &dmu.Rewrite{Pool: dp.p, Old: old, New: nu, Share: share, ShareTxg: shareTxg, Guard: run,
			Placed: func(bp *format.BlockPointer) { run.placed = append(run.placed, refOf(bp)) },
			Done: func(bp *format.BlockPointer) error {
				if dp.closing.Load() {
					return errf(CodeIO, "cannot rekey '%s': pool is being closed", res.Dataset)
				}
				run.done.Add(pool.ASize(bp))
				if time.Since(lastReport) > time.Second {
					lastReport = time.Now()
					report(phase, n)
				}
				if rekeyHook != nil {
					b := blocks.Add(1)
					if phase == "head" {
						if err := rekeyHook("head-block", headBlocks.Add(1)); err != nil {
							return err
						}
					}
					return rekeyHook("block", b)
				}
				return nil
			}}
	}
	fail := func(err error) error {
		if _, ok := err.(*Error); ok {
			return err
		}
		return errf(CodeIO, "cannot rekey '%s': %v", res.Dataset, err)
	}

	for {
		again, err := dp.rekeyPass(id, run, &res, rewriter, report, fail, total)
		if err != nil || !again {
			return res, err
		}
		// A snapshot was taken while the head was being rewritten: it
		// still has the old key; rewrite it, then the head again.
		dp.mu.Lock()
		dp.abandon(run)
		dp.mu.Unlock()
	}
}

// The head is rewritten in up to headRounds passes outside the pool lock;
// it stops earlier when a pass wrote less than headCatchUp bytes. The last
// changes are rewritten under the lock, with writers waiting.
const (
	headRounds  = 4
	headCatchUp = 8 << 20
)

// errSnapshotTaken stops a head swap when a snapshot appeared meanwhile.
var errSnapshotTaken = errors.New("a snapshot was taken during the rekey")

// rekeyPass rewrites the snapshots not yet rewritten and then the head. It
// returns true when a snapshot taken meanwhile needs another pass.
func (dp *Pool) rekeyPass(id uint64, run *rekeyRun, res *RekeyResult,
	rewriter func(old, nu *crypto.DatasetKey, share *dmu.Locator, shareTxg uint64, phase string, n int) *dmu.Rewrite,
	report func(string, int), fail func(error) error, total int) (bool, error) {
	var r *dsRec
	var l *liveDS
	// Snapshots, oldest first.
	for {
		dp.mu.Lock()
		r = dp.m.Datasets[id]
		if r == nil || r.Rekey == nil {
			dp.mu.Unlock()
			return false, errf(CodeIO, "cannot rekey '%s': dataset changed during the rekey", res.Dataset)
		}
		l = dp.live[id]
		k1, k2 := l.key, l.newKey
		snaps := dp.snapshots(r)
		var s, prev *dsRec
		done := 0
		for _, x := range snaps {
			if x.KeyGUID == r.Rekey.KeyGUID {
				prev = x
				done++
				continue
			}
			s = x
			break
		}
		var oldRoot, prevRoot format.BlockPointer
		var prevTxg uint64
		if s != nil {
			oldRoot = s.Root
		}
		if prev != nil {
			prevRoot, prevTxg = prev.Root, prev.CreateTxg
		}
		dp.mu.Unlock()
		if s == nil {
			break
		}
		report(s.Name, done)
		rw := rewriter(k1, k2, nil, 0, s.Name, done)
		if prev != nil {
			rw.Share, rw.ShareTxg = dmu.NewLocator(dp.p, prevRoot), prevTxg
		}
		nu, err := rw.Tree(oldRoot)
		if err != nil {
			return false, fail(err)
		}
		// A send reading the old tree of s holds it: wait for it to end.
		dp.mu.Lock()
		for dp.holds[s.ID] > 0 {
			dp.mu.Unlock()
			if dp.closing.Load() {
				return false, errf(CodeIO, "cannot rekey '%s': pool is being closed", res.Dataset)
			}
			time.Sleep(100 * time.Millisecond)
			dp.mu.Lock()
		}
		err = dp.txgDo(func(txg uint64) error {
			if dp.m.Datasets[s.ID] != s || s.Root != oldRoot {
				return errf(CodeIO, "cannot rekey '%s': '%s' changed during the rekey", res.Dataset, s.Name)
			}
			// The next version still holds the old blocks it shares with s.
			next := r.Root
			for i, x := range snaps {
				if x.ID == s.ID && i+1 < len(snaps) {
					next = snaps[i+1].Root
				}
			}
			ref, err := treeSize(dp.p, nu)
			if err != nil {
				return err
			}
			var dead []format.BlockPointer
			err = dmu.Diff(dp.p, oldRoot, next, 0, func(bp *format.BlockPointer) error {
				dead = append(dead, *bp)
				return nil
			})
			if err != nil {
				return errf(CodeIO, "cannot rekey '%s': %v", res.Dataset, err)
			}
			for i := range dead {
				dp.p.Free(&dead[i])
			}
			s.Root, s.KeyGUID, s.Referenced = nu, k2.GUID(), ref
			// Open views of s (snapshot directories) continue on the new
			// tree; its old blocks are released only after this commit.
			for _, w := range dp.snapOpen[s.ID] {
				if os := w.Value(); os != nil {
					if err := os.Retarget(nu, k2); err != nil {
						dp.opts.Logger.Error("open snapshot stays on its old tree", "snapshot", s.Name, "err", err)
					}
				}
			}
			run.Lock()
			run.placed = nil
			run.Unlock()
			return nil
		})
		dp.mu.Unlock()
		if err != nil {
			return false, fail(err)
		}
		run.objsets++
		report(s.Name, done+1)
		if rekeyHook != nil {
			if err := rekeyHook("objset", uint64(run.objsets)); err != nil {
				return false, err
			}
		}
	}

	// The head, phase 1: the committed tree, outside the lock, then again
	// what was committed meanwhile (sharing the rest), until little
	// changes. Old blocks the live dataset drops meanwhile stay allocated
	// until the swap.
	dp.mu.Lock()
	r = dp.m.Datasets[id]
	l = dp.live[id]
	k1, k2 := l.key, l.newKey
	run.deferKills = true
	var last *dsRec
	var share *dmu.Locator
	var shareTxg, lastTxg uint64
	if n := len(r.Snaps); n > 0 {
		last = dp.m.Datasets[r.Snaps[n-1]]
		share, shareTxg, lastTxg = dmu.NewLocator(dp.p, last.Root), last.CreateTxg, last.CreateTxg
	}
	dp.mu.Unlock()
	report("head", total-1)
	var tT uint64
	for round := 0; round < headRounds; round++ {
		dp.mu.Lock()
		if l.os != nil && l.os.Dirty() {
			if err := dp.txgDo(nil); err != nil {
				dp.mu.Unlock()
				return false, err
			}
		}
		var rT format.BlockPointer
		rT, tT = r.Root, dp.p.Txg()
		dp.mu.Unlock()
		before := run.done.Load()
		rw := rewriter(k1, k2, share, shareTxg, "head", total-1)
		n1, err := rw.Tree(rT)
		if err != nil {
			return false, fail(err)
		}
		share, shareTxg = dmu.NewLocator(dp.p, n1), tT
		if round > 0 && run.done.Load()-before < headCatchUp {
			break
		}
	}

	// Phase 2, under the lock: what changed since tT, sharing the rest.
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if dp.m.Datasets[id] != r || r.Rekey == nil {
		return false, errf(CodeIO, "cannot rekey '%s': dataset changed during the rekey", res.Dataset)
	}
	l = dp.live[id]
	rw2 := rewriter(k1, k2, share, shareTxg, "head", total-1)
	err := dp.txgDo(func(txg uint64) error {
		if n := len(r.Snaps); (last == nil && n > 0) || (last != nil && r.Snaps[n-1] != last.ID) {
			return errSnapshotTaken
		}
		var old, nu format.BlockPointer
		var err error
		if l.os != nil {
			old, nu, err = l.os.Rekey(txg, k2, rw2.Tree)
			r.Root = old
		} else {
			old = r.Root
			nu, err = rw2.Tree(old)
		}
		if err != nil {
			return fail(err)
		}
		ref, err := treeSize(dp.p, nu)
		if err != nil {
			return fail(err)
		}
		// Phase-1 blocks the final tree does not use. Blocks born at or
		// before the newest snapshot come from it and were not written here.
		used := map[[2]uint64]bool{}
		err = dmu.Walk(dp.p, nu, func(bp *format.BlockPointer) (bool, error) {
			if bp.PhysBirth <= lastTxg {
				return false, nil
			}
			used[[2]uint64{uint64(bp.Vdev), bp.Offset}] = true
			return true, nil
		})
		if err != nil {
			return fail(err)
		}
		// Every old block of the head is the head's alone now. Everything
		// that can fail is done before the first free.
		var dead []format.BlockPointer
		err = dmu.Walk(dp.p, old, func(bp *format.BlockPointer) (bool, error) {
			dead = append(dead, *bp)
			return true, nil
		})
		if err != nil {
			return fail(err)
		}
		run.Lock()
		for _, b := range run.placed {
			if !used[[2]uint64{uint64(b.Vdev), b.Offset}] {
				dead = append(dead, *b.bp())
			}
		}
		for _, b := range run.deferred {
			dead = append(dead, *b.bp())
		}
		run.deferred, run.placed = nil, nil
		run.Unlock()
		for i := range dead {
			dp.p.Free(&dead[i])
		}
		run.deferKills = false
		r.Root, r.KeyGUID, r.Referenced = nu, k2.GUID(), ref
		r.Wrapped = r.Rekey.Wrapped
		r.Rekey = nil
		l.key, l.newKey = k2, nil
		k1.Wipe()
		return nil
	})
	if errors.Is(err, errSnapshotTaken) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	// Freed blocks are released (and punched out of the vdev files) only
	// DeferTxgs commits later: commit until the old blocks are gone from
	// the disk, not only from the trees.
	for i := 0; i < pool.DeferTxgs; i++ {
		if err := dp.txgDo(nil); err != nil {
			return false, err
		}
	}
	run.objsets++
	report("head", total)
	return false, nil
}

// abandon frees what a stopped rekey wrote and had not committed, and the
// old blocks it kept for reading; dp.mu held.
func (dp *Pool) abandon(run *rekeyRun) {
	run.Lock()
	defer run.Unlock()
	for _, b := range run.placed {
		dp.p.Free(b.bp())
	}
	for _, b := range run.deferred {
		dp.p.Free(b.bp())
	}
	run.placed, run.deferred = nil, nil
	run.deferKills = false
}

// treeSize is the allocated size of every block of a tree.
func treeSize(p *pool.Pool, root format.BlockPointer) (uint64, error) {
	var n uint64
	err := dmu.Walk(p, root, func(bp *format.BlockPointer) (bool, error) {
		n += pool.ASize(bp)
		return true, nil
	})
	return n, err
}

// unwrapRekey unwraps the new key of an interrupted rekey of d; nil when
// there is none.
func unwrapRekey(d *dsRec, wk crypto.Secret) (*crypto.DatasetKey, error) {
	if d.Rekey == nil {
		return nil, nil
	}
	var w crypto.WrappedKey
	if err := w.UnmarshalBinary(d.Rekey.Wrapped); err != nil {
		return nil, fmt.Errorf("new wrapped key of '%s' is damaged", d.Name)
	}
	k, err := crypto.Unwrap(wk, w, nil)
	if err != nil {
		return nil, fmt.Errorf("new wrapped key of '%s' does not open: %w", d.Name, err)
	}
	if k.GUID() != d.Rekey.KeyGUID {
		k.Wipe()
		return nil, errors.New("new wrapped key of '" + d.Name + "' has another GUID")
	}
	return k, nil
}

// RekeyRunning reports whether a deep rekey of dataset name is running.
func (dp *Pool) RekeyRunning(name string) bool {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	r := dp.lookup(name)
	return r != nil && dp.rk[r.ID] != nil
}
