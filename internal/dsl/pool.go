package dsl

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"weak"

	"coffer/internal/compress"
	"coffer/internal/crypto"
	"coffer/internal/dmu"
	"coffer/internal/format"
	"coffer/internal/pool"
	"coffer/internal/props"
)

// Options configure an open pool.
type Options struct {
	Logger       *slog.Logger
	SyncInterval time.Duration // background commit interval; default 5s
	DirtyMax     int64         // dirty bytes that force a commit; default 64 MiB
	HTTPClient   *http.Client  // for https:// key locations
	KeyProvider  KeyProvider   // for tpm2:, kmip://, pkcs11: key locations; nil: none
	// Derived, when set, is called after every passphrase key derivation
	// the pool really runs (not those answered from its cache); tests
	// count derivations with it.
	Derived func()
}

func (o *Options) fill() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.SyncInterval == 0 {
		o.SyncInterval = 5 * time.Second
	}
	if o.DirtyMax == 0 {
		o.DirtyMax = 64 << 20
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
}

// Pool is an open pool with its datasets.
type Pool struct {
	opts  Options
	mu    sync.Mutex // serializes administrative changes and commits
	p     *pool.Pool
	m     *mos
	live  map[uint64]*liveDS       // runtime state of datasets (not snapshots), by id
	wk    map[uint64]crypto.Secret // wrapping keys of loaded encryption roots, by root id
	busy  func(name string) bool
	holds map[uint64]int       // snapshots a send is reading
	rk    map[uint64]*rekeyRun // running deep rekeys, by dataset id
	kdf   *kdfCache            // recent passphrase derivations (kdfcache.go)
	// snapOpen holds the snapshot object sets handed out (FUSE snapshot
	// directories), so that a deep rekey can move them to the new tree.
	snapOpen map[uint64][]weak.Pointer[dmu.Objset]
	// rekeys counts running deep rekeys; closing tells them to stop.
	rekeys  sync.WaitGroup
	closing atomic.Bool
	closed  bool
	bgSync  atomic.Bool // a commit started by MaybeSync runs
	stop    chan struct{}
	done    chan struct{}
}

// liveDS is the in-memory state of a file system or volume.
type liveDS struct {
	key *crypto.DatasetKey // nil: not encrypted, or locked
	// newKey is the new master key of a deep rekey in progress.
	newKey *crypto.DatasetKey
	os     *dmu.Objset // opened on first use
}

// Name is the pool's name.
func (dp *Pool) Name() string { return dp.p.Name() }

// Raw is the underlying block pool.
func (dp *Pool) Raw() *pool.Pool { return dp.p }

// CreatePool makes a pool whose root dataset gets props (zpool create -O)
// and, when they ask for encryption, the key material key.
func CreatePool(name string, vdevs []pool.VdevSpec, force bool, rootProps map[string]string, key []byte, opts Options) (*Pool, error) {
	opts.fill()
	if err := props.ValidPoolName(name); err != nil {
		return nil, errf(CodeInvalid, "cannot create '%s': %v", name, err)
	}
	now := time.Now().Unix()
	m := &mos{Version: mosVersion, Name: name, GUID: 0, Created: now, NextID: 1, Datasets: map[uint64]*dsRec{}}
	dp := &Pool{opts: opts, m: m, live: map[uint64]*liveDS{}, wk: map[uint64]crypto.Secret{}, holds: map[uint64]int{}, rk: map[uint64]*rekeyRun{}, kdf: newKDFCache(opts.Derived)}
	// Validate the root dataset's properties and key before touching disks.
	plan, err := dp.planCreate(name, "filesystem", 0, rootProps, key)
	if err != nil {
		return nil, err
	}
	doc, err := m.marshal()
	if err != nil {
		return nil, err
	}
	p, err := pool.Create(name, vdevs, force, doc)
	if err != nil {
		plan.wipe()
		return nil, errf(CodeInvalid, "cannot create '%s': %v", name, err)
	}
	dp.p = p
	m.GUID = p.GUID()
	if err := p.SetWriteChecksum(m.writeChecksum()); err != nil {
		p.Close()
		return nil, err
	}
	if err := dp.txgDo(func(txg uint64) error { return dp.applyCreate(txg, plan) }); err != nil {
		p.Close()
		return nil, err
	}
	dp.start()
	return dp, nil
}

// Import opens a pool found by pool.Scan. Every encrypted dataset starts
// locked.
func Import(f pool.Found, opts Options) (*Pool, error) {
	opts.fill()
	p, doc, err := pool.Open(f)
	if err != nil {
		return nil, errf(CodeIO, "cannot import '%s': %v", f.Name, err)
	}
	m, err := parseMOS(doc)
	if err == nil {
		err = p.SetWriteChecksum(m.writeChecksum())
	}
	if err != nil {
		p.Close()
		return nil, errf(CodeIO, "cannot import '%s': %v", f.Name, err)
	}
	dp := &Pool{opts: opts, p: p, m: m, live: map[uint64]*liveDS{}, wk: map[uint64]crypto.Secret{}, holds: map[uint64]int{}, rk: map[uint64]*rekeyRun{}, kdf: newKDFCache(opts.Derived)}
	// Rebuild the allocator from every reachable block; shared subtrees
	// (snapshots) are walked once.
	seen := map[[2]uint64]bool{}
	for _, r := range m.Datasets {
		err := dmu.WalkTolerant(p, r.Root, func(bp *format.BlockPointer) (bool, error) {
			k := [2]uint64{uint64(bp.Vdev), bp.Offset}
			if seen[k] {
				return false, nil
			}
			seen[k] = true
			p.MarkLive(bp)
			return true, nil
		}, func(bp *format.BlockPointer, err error) {
			// The blocks beneath cannot be found: their space may be reused,
			// but they are unreadable already. Counted in pool status.
			opts.Logger.Error("damaged block at import", "pool", f.Name, "dataset", r.Name, "err", err)
		})
		if err != nil {
			p.Close()
			return nil, errf(CodeIO, "cannot import '%s': dataset '%s': %v", f.Name, r.Name, err)
		}
	}
	for _, r := range m.Datasets {
		if r.Resume != nil {
			for _, bp := range r.Resume.blocks() {
				p.MarkLive(&bp)
			}
		}
	}
	if err := p.FinishImport(); err != nil {
		p.Close()
		return nil, errf(CodeIO, "cannot import '%s': %v", f.Name, err)
	}
	for id, r := range m.Datasets {
		if r.Type != "snapshot" {
			dp.live[id] = &liveDS{}
		}
	}
	dp.start()
	return dp, nil
}

func (dp *Pool) start() {
	dp.stop = make(chan struct{})
	dp.done = make(chan struct{})
	go dp.syncLoop()
}

func (dp *Pool) syncLoop() {
	defer close(dp.done)
	t := time.NewTicker(dp.opts.SyncInterval)
	defer t.Stop()
	for {
		select {
		case <-dp.stop:
			return
		case <-t.C:
			if err := dp.Sync(); err != nil {
				dp.opts.Logger.Error("commit failed", "pool", dp.Name(), "err", err)
			}
		}
	}
}

// Sync commits all dirty data now (fsync, and the background loop).
func (dp *Pool) Sync() error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	if !dp.anyDirty() {
		return nil
	}
	if dp.closed {
		return errf(CodeIO, "cannot commit pool '%s': pool is closed", dp.Name())
	}
	return dp.txgDo(nil)
}

// MaybeSync keeps dirty data bounded; writers call it after each write.
// Past half of DirtyMax it starts a commit in the background and returns:
// the writer fills the next txg while the commit syncs the vdevs (object
// sets are locked only while their dirty state is turned into blocks,
// most of which write-behind has written already). At DirtyMax the writer
// commits itself, which waits for a running commit first.
func (dp *Pool) MaybeSync() error {
	n := dp.p.DirtyBytes()
	if n < dp.opts.DirtyMax/2 {
		return nil
	}
	if n >= dp.opts.DirtyMax {
		return dp.Sync()
	}
	if dp.bgSync.CompareAndSwap(false, true) {
		go func() {
			defer dp.bgSync.Store(false)
			if err := dp.Sync(); err != nil && !dp.isClosed() {
				dp.opts.Logger.Error("commit failed", "pool", dp.Name(), "err", err)
			}
		}()
	}
	return nil
}

func (dp *Pool) isClosed() bool {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	return dp.closed
}

func (dp *Pool) anyDirty() bool {
	for _, l := range dp.live {
		if l.os != nil && l.os.Dirty() {
			return true
		}
	}
	return false
}

// txgDo runs fn in a new txg after writing all dirty object sets, then
// commits. dp.mu must be held. fn validates before it changes anything.
func (dp *Pool) txgDo(fn func(txg uint64) error) error {
	txg := dp.p.Txg() + 1
	ids := make([]uint64, 0, len(dp.live))
	for id, l := range dp.live {
		if l.os != nil && l.os.Dirty() {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		if err := dp.syncDS(txg, id); err != nil {
			return err
		}
	}
	if fn != nil {
		if err := fn(txg); err != nil {
			if len(ids) == 0 {
				return err
			}
			// Data was written: commit it even though fn refused.
			if cerr := dp.commit(txg); cerr != nil {
				return errors.Join(err, cerr)
			}
			return err
		}
	}
	return dp.commit(txg)
}

func (dp *Pool) syncDS(txg, id uint64) error {
	r := dp.m.Datasets[id]
	l := dp.live[id]
	root, err := l.os.Sync(txg)
	if err != nil {
		return errf(CodeIO, "cannot write '%s': %v", r.Name, err)
	}
	r.Root = root
	return nil
}

func (dp *Pool) commit(txg uint64) error {
	doc, err := dp.m.marshal()
	if err != nil {
		return err
	}
	if err := dp.p.Commit(txg, doc); err != nil {
		return errf(CodeIO, "cannot commit pool '%s': %v", dp.Name(), err)
	}
	return nil
}

// Close commits, stops the background loop and closes the vdevs, leaving
// the pool imported (daemon shutdown).
func (dp *Pool) Close() error {
	return dp.shut("")
}

// Export commits and marks the pool exported.
func (dp *Pool) Export() error { return dp.shut("exported") }

// DestroyPool marks the pool destroyed and closes it.
func (dp *Pool) DestroyPool() error { return dp.shut("destroyed") }

func (dp *Pool) shut(state string) error {
	dp.mu.Lock()
	if dp.closed {
		dp.mu.Unlock()
		return nil
	}
	dp.closed = true
	dp.mu.Unlock()
	dp.closing.Store(true)
	dp.rekeys.Wait()
	close(dp.stop)
	<-dp.done
	dp.mu.Lock()
	defer dp.mu.Unlock()
	var err error
	if dp.anyDirty() {
		err = dp.txgDo(nil)
	}
	if state != "" {
		err = errors.Join(err, dp.p.SetState(state))
	}
	for id, k := range dp.wk {
		k.Wipe()
		delete(dp.wk, id)
	}
	dp.kdf.wipe()
	for _, l := range dp.live {
		if l.key != nil {
			l.key.Wipe()
			l.key = nil
		}
		if l.newKey != nil {
			l.newKey.Wipe()
			l.newKey = nil
		}
		l.os = nil
	}
	return errors.Join(err, dp.p.Close())
}

// objset returns the live object set of a dataset, opening it if needed.
func (dp *Pool) objset(id uint64) (*dmu.Objset, error) {
	l := dp.live[id]
	if l == nil {
		return nil, fmt.Errorf("dataset %d is not live", id)
	}
	if l.os != nil {
		return l.os, nil
	}
	r := dp.m.Datasets[id]
	if r.Partial {
		return nil, fmt.Errorf("'%s' holds only an interrupted receive", r.Name)
	}
	os, err := dmu.Open(dp.p, r.Root, dmu.Options{
		Key: l.key, KeyGUID: r.KeyGUID, Suite: crypto.Suite(r.Suite),
		Acct: &acct{dp: dp, r: r},
	})
	if err != nil {
		return nil, err
	}
	dp.tune(os, r)
	l.os = os
	return os, nil
}

// tune applies compression and recordsize to an object set.
func (dp *Pool) tune(os *dmu.Objset, r *dsRec) {
	c, _ := dp.prop(r, "compression")
	alg, err := compress.Parse(c)
	if err != nil {
		alg = compress.LZ4
	}
	os.Compress = alg
	if r.Type == "filesystem" {
		rs, _ := dp.prop(r, "recordsize")
		var n uint64
		fmt.Sscan(rs, &n)
		os.RecordSize = uint32(n)
	}
}

// acct keeps a dataset's space figures and frees or keeps killed blocks.
type acct struct {
	dp *Pool
	r  *dsRec
}

func (a *acct) Born(bp *format.BlockPointer) {
	n := pool.ASize(bp)
	a.r.Referenced += n
	if bp.Type == format.TypeData { // compressratio describes user data
		a.r.RefLogical += uint64(bp.LSize)
		a.r.RefPhys += uint64(bp.PSize)
	}
	a.r.Written += n
}

func (a *acct) Killed(bp *format.BlockPointer) {
	n := pool.ASize(bp)
	a.r.Referenced -= min(n, a.r.Referenced)
	if bp.Type == format.TypeData {
		a.r.RefLogical -= min(uint64(bp.LSize), a.r.RefLogical)
		a.r.RefPhys -= min(uint64(bp.PSize), a.r.RefPhys)
	}
	switch {
	case bp.PhysBirth > a.r.PrevSnapTxg:
		a.r.Written -= min(n, a.r.Written)
		a.dp.freeOld(a.r, bp)
	case a.dp.snapsRekeyed(a.r):
		// A deep rekey gave the snapshots new copies of the head's old
		// blocks: the old block is the head's alone, the new copy is now
		// held by snapshots only.
		a.r.UsedBySnaps += n
		a.dp.freeOld(a.r, bp)
	default:
		a.r.UsedBySnaps += n
	}
}

// lookup finds a dataset or snapshot record by name.
func (dp *Pool) lookup(name string) *dsRec {
	for _, r := range dp.m.Datasets {
		if r.Name == name {
			return r
		}
	}
	return nil
}

// children returns the direct child datasets of r, sorted by name.
func (dp *Pool) children(r *dsRec) []*dsRec {
	var out []*dsRec
	for _, c := range dp.m.Datasets {
		if c.Type != "snapshot" && c.Parent == r.ID && c.ID != r.ID {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// snapshots returns r's snapshots, oldest first.
func (dp *Pool) snapshots(r *dsRec) []*dsRec {
	out := make([]*dsRec, 0, len(r.Snaps))
	for _, id := range r.Snaps {
		if s := dp.m.Datasets[id]; s != nil {
			out = append(out, s)
		}
	}
	return out
}

// descendants returns r and every dataset below it, parents first
// (children by name). One pass over the records: O(n log n), not one scan
// per dataset.
func (dp *Pool) descendants(r *dsRec) []*dsRec {
	kids := map[uint64][]*dsRec{}
	for _, c := range dp.m.Datasets {
		if c.Type != "snapshot" && c.ID != c.Parent && c.Parent != 0 {
			kids[c.Parent] = append(kids[c.Parent], c)
		}
	}
	out := []*dsRec{}
	var walk func(d *dsRec)
	walk = func(d *dsRec) {
		out = append(out, d)
		cs := kids[d.ID]
		sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
		for _, c := range cs {
			walk(c)
		}
	}
	walk(r)
	return out
}

func (dp *Pool) parentOf(r *dsRec) *dsRec {
	if r.Parent == 0 || r.Parent == r.ID {
		return nil
	}
	return dp.m.Datasets[r.Parent]
}

func (dp *Pool) root() *dsRec {
	for _, r := range dp.m.Datasets {
		if r.Parent == 0 && r.Type != "snapshot" {
			return r
		}
	}
	return nil
}

func isUnder(name, ancestor string) bool {
	return name == ancestor || strings.HasPrefix(name, ancestor+"/")
}

var _ = context.Background

// Objset returns the live object set of a file system or volume, for the
// access layers (FUSE, NBD). It fails when the dataset's key is not loaded.
func (dp *Pool) Objset(name string) (*dmu.Objset, error) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	r := dp.lookup(name)
	if r == nil || r.Type == "snapshot" {
		return nil, errf(CodeNotFound, "cannot open '%s': dataset does not exist", name)
	}
	if r.Suite != 0 && dp.live[r.ID].key == nil {
		return nil, errf(CodeKey, "cannot open '%s': encryption key not loaded", name)
	}
	os, err := dp.objset(r.ID)
	if err != nil {
		return nil, errf(CodeIO, "cannot open '%s': %v", name, err)
	}
	return os, nil
}

// SnapshotObjset opens a snapshot's object set, read-only. It fails when the
// dataset's key is not loaded.
func (dp *Pool) SnapshotObjset(name string) (*dmu.Objset, error) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	s := dp.lookup(name)
	if s == nil || s.Type != "snapshot" {
		return nil, errf(CodeNotFound, "cannot open '%s': snapshot does not exist", name)
	}
	l := dp.live[s.Parent]
	if s.Suite != 0 && (l == nil || l.key == nil) {
		return nil, errf(CodeKey, "cannot open '%s': encryption key not loaded", name)
	}
	key := dp.keyFor(dp.m.Datasets[s.Parent], s.KeyGUID)
	if s.Suite != 0 && key == nil {
		return nil, errf(CodeKey, "cannot open '%s': encryption key not loaded", name)
	}
	os, err := dmu.Open(dp.p, s.Root, dmu.Options{Key: key, KeyGUID: s.KeyGUID, Suite: crypto.Suite(s.Suite), ReadOnly: true})
	if err != nil {
		return nil, errf(CodeIO, "cannot open '%s': %v", name, err)
	}
	if s.Suite != 0 {
		if dp.snapOpen == nil {
			dp.snapOpen = map[uint64][]weak.Pointer[dmu.Objset]{}
		}
		live := dp.snapOpen[s.ID][:0]
		for _, w := range dp.snapOpen[s.ID] {
			if w.Value() != nil {
				live = append(live, w)
			}
		}
		dp.snapOpen[s.ID] = append(live, weak.Make(os))
	}
	return os, nil
}

// NextTxg is the txg that the next commit will have; new objects record it
// as their generation.
func (dp *Pool) NextTxg() uint64 { return dp.p.Txg() + 1 }

// Snapshots lists the snapshot names of a dataset, oldest first.
func (dp *Pool) Snapshots(name string) []string {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	r := dp.lookup(name)
	if r == nil {
		return nil
	}
	var out []string
	for _, s := range dp.snapshots(r) {
		out = append(out, s.Name)
	}
	return out
}
