package pool

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"coffer/internal/compress"
	"coffer/internal/format"
	"coffer/internal/vdev"
)

// Config is the pool layout, kept in every vdev label.
type Config struct {
	Name string      `json:"name"`
	GUID uint64      `json:"guid"`
	Tops []TopConfig `json:"tops"`
}

// TopConfig is one top-level vdev.
type TopConfig struct {
	GUID   uint64       `json:"guid"`
	Mirror bool         `json:"mirror,omitempty"`
	Leaves []LeafConfig `json:"leaves"`
}

// LeafConfig is one directory.
type LeafConfig struct {
	GUID uint64 `json:"guid"`
	Path string `json:"path"`
}

// VdevSpec asks for one top-level vdev at create time.
type VdevSpec struct {
	Mirror bool
	Paths  []string
}

var (
	ErrNoPool     = errors.New("no such pool")
	ErrDamaged    = errors.New("damaged block")
	ErrMissing    = errors.New("one or more devices is missing")
	ErrNoValidTxg = errors.New("no valid uberblock")
)

// Pool is an open pool.
type Pool struct {
	cfg   Config
	tops  []*vdev.Top
	alloc []*allocator

	mu      sync.Mutex // guards alloc, pending, txg, mos
	txg     uint64     // last committed txg
	mos     format.BlockPointer
	pending []format.BlockPointer // freed in the open txg
	// deferred holds the frees of the last DeferTxgs committed txgs: their
	// blocks stay unused so that the previous uberblocks stay importable.
	deferred [][]format.BlockPointer

	errs struct {
		sync.Mutex
		damaged uint64
	}
	scrub     ScrubState
	importing *importState
	cache     *BlockCache // decoded data blocks (cache.go)
	// runs counts the runs read ahead with one read (ReadAheadRun) and
	// the blocks they held.
	runs struct{ reads, blocks atomic.Uint64 }
	// unsettled is the space of blocks written ahead of the commit that
	// will reference them (AllocEarly), not yet adopted or given back.
	unsettled uint64
	dirty     atomic.Int64 // dirty bytes of all object sets (AddDirty)
	// cksum is the checksum algorithm new blocks get (WriteChecksum).
	cksum atomic.Uint32
}

// WriteChecksum is the checksum algorithm for the pool's new blocks, for
// BlockSpec.Cksum: format.ChecksumXXH64 until SetWriteChecksum.
func (p *Pool) WriteChecksum() uint8 {
	if a := uint8(p.cksum.Load()); a != 0 {
		return a
	}
	return format.ChecksumXXH64
}

// SetWriteChecksum sets the checksum algorithm of the pool's new blocks.
// The pool metadata's version decides it (format.ChecksumXXH3 from version
// 2 on); the MOS block itself always takes format.ChecksumXXH64, so that a
// reader that predates a newer version reaches the metadata and refuses its
// version by name.
func (p *Pool) SetWriteChecksum(alg uint8) error {
	if !format.KnownChecksum(alg) {
		return fmt.Errorf("unknown checksum algorithm %d", alg)
	}
	p.cksum.Store(uint32(alg))
	return nil
}

// Cache is the pool's decoded-block cache.
func (p *Pool) Cache() *BlockCache { return p.cache }

// NewGUID returns a random, nonzero GUID (pools, vdevs, datasets).
func NewGUID() uint64 {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			panic(err)
		}
		if g := binary.LittleEndian.Uint64(b[:]); g != 0 {
			return g
		}
	}
}

// Create makes a new pool on the given vdev directories and commits txg 1
// with the initial metadata document.
func Create(name string, specs []VdevSpec, force bool, mosDoc []byte) (*Pool, error) {
	if len(specs) == 0 {
		return nil, errors.New("no vdevs given")
	}
	cfg := Config{Name: name, GUID: NewGUID()}
	seen := map[string]bool{}
	for _, s := range specs {
		if s.Mirror && len(s.Paths) < 2 {
			return nil, errors.New("a mirror needs at least two directories")
		}
		tc := TopConfig{GUID: NewGUID(), Mirror: s.Mirror}
		for _, p := range s.Paths {
			abs, err := filepath.Abs(p)
			if err != nil {
				return nil, err
			}
			if seen[abs] {
				return nil, fmt.Errorf("%s is given more than once", abs)
			}
			seen[abs] = true
			tc.Leaves = append(tc.Leaves, LeafConfig{GUID: NewGUID(), Path: abs})
		}
		cfg.Tops = append(cfg.Tops, tc)
	}
	// Check every directory before creating anything.
	for _, tc := range cfg.Tops {
		for _, lc := range tc.Leaves {
			if err := checkFreeDir(lc.Path, force); err != nil {
				return nil, err
			}
		}
	}
	p := &Pool{cfg: cfg, cache: NewBlockCache(DefaultCacheBytes)}
	rawCfg, _ := json.Marshal(cfg)
	for ti, tc := range cfg.Tops {
		var leaves []*vdev.Leaf
		for _, lc := range tc.Leaves {
			l, err := vdev.CreateLeaf(lc.Path, vdev.Label{
				Version: 1, PoolName: name, PoolGUID: cfg.GUID, TopGUID: tc.GUID, GUID: lc.GUID,
				TopIndex: ti, State: "active", Config: rawCfg,
			}, force)
			if err != nil {
				p.closeLeaves(leaves)
				p.Close()
				return nil, err
			}
			leaves = append(leaves, l)
		}
		p.tops = append(p.tops, vdev.NewTop(ti, tc.Mirror, leaves))
		p.alloc = append(p.alloc, &allocator{})
	}
	if err := p.Commit(1, mosDoc); err != nil {
		p.Close()
		return nil, err
	}
	return p, nil
}

func checkFreeDir(dir string, force bool) error {
	if lb, err := vdev.ReadLabel(dir); err == nil && lb.State != "destroyed" {
		return fmt.Errorf("%s is part of pool '%s'", dir, lb.PoolName)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		if os.IsNotExist(err) {
			return nil
		}
		return err
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is not a directory", dir)
	}
	return nil
}

func (p *Pool) closeLeaves(ls []*vdev.Leaf) {
	for _, l := range ls {
		l.Close()
	}
}

// Name is the pool's name.
func (p *Pool) Name() string { return p.cfg.Name }

// GUID is the pool's GUID.
func (p *Pool) GUID() uint64 { return p.cfg.GUID }

// Config returns the pool layout.
func (p *Pool) Config() Config { return p.cfg }

// Txg is the last committed txg.
func (p *Pool) Txg() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.txg
}

// MOSPointer is the pointer to the last committed metadata document.
func (p *Pool) MOSPointer() format.BlockPointer {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mos
}

// Close closes the vdevs without changing their labels.
func (p *Pool) Close() error {
	p.cache.Clear()
	var first error
	for _, t := range p.tops {
		for _, l := range t.Leaves() {
			if err := l.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	p.tops = nil
	return first
}

// SetState rewrites every label with a new state ("active", "exported",
// "destroyed").
func (p *Pool) SetState(state string) error {
	for _, t := range p.tops {
		for _, l := range t.Leaves() {
			lb := l.Label()
			lb.State = state
			lb.Txg = p.Txg()
			if err := l.WriteLabel(lb); err != nil {
				return err
			}
		}
	}
	return nil
}

// Found is a pool seen in a scan of directories.
type Found struct {
	Name   string
	GUID   uint64
	State  string
	Config Config
	Dirs   []string // the leaf directories found
	Txg    uint64
}

// Scan looks for vdev labels in each dir and its immediate subdirectories.
func Scan(dirs []string) ([]Found, error) {
	byGUID := map[uint64]*Found{}
	var order []uint64
	try := func(d string) {
		lb, err := vdev.ReadLabel(d)
		if err != nil || lb.State == "destroyed" {
			return
		}
		var cfg Config
		if json.Unmarshal(lb.Config, &cfg) != nil {
			return
		}
		f := byGUID[lb.PoolGUID]
		if f == nil {
			f = &Found{Name: lb.PoolName, GUID: lb.PoolGUID, State: lb.State, Config: cfg}
			byGUID[lb.PoolGUID] = f
			order = append(order, lb.PoolGUID)
		}
		abs, _ := filepath.Abs(d)
		for _, x := range f.Dirs {
			if x == abs {
				return
			}
		}
		f.Dirs = append(f.Dirs, abs)
		if lb.Txg >= f.Txg {
			f.Txg, f.Config, f.State = lb.Txg, cfg, lb.State
		}
	}
	for _, d := range dirs {
		try(d)
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.IsDir() {
				try(filepath.Join(d, e.Name()))
			}
		}
	}
	out := make([]Found, 0, len(order))
	for _, g := range order {
		out = append(out, *byGUID[g])
	}
	return out, nil
}

// Open opens a pool found by Scan and returns it with its metadata document.
// The caller must then report every live block with MarkLive and call
// FinishImport before writing.
func Open(f Found) (*Pool, []byte, error) {
	p := &Pool{cfg: f.Config, cache: NewBlockCache(DefaultCacheBytes)}
	have := map[uint64]string{}
	for _, d := range f.Dirs {
		if lb, err := vdev.ReadLabel(d); err == nil {
			have[lb.GUID] = d
		}
	}
	for ti, tc := range f.Config.Tops {
		var leaves []*vdev.Leaf
		for _, lc := range tc.Leaves {
			dir, ok := have[lc.GUID]
			if !ok {
				continue // missing leaf: the top is degraded
			}
			l, err := vdev.OpenLeaf(dir)
			if err != nil {
				p.closeLeaves(leaves)
				p.Close()
				return nil, nil, err
			}
			leaves = append(leaves, l)
		}
		if len(leaves) == 0 {
			p.Close()
			return nil, nil, fmt.Errorf("%w: no directory of top-level vdev %d was found", ErrMissing, ti)
		}
		p.tops = append(p.tops, vdev.NewTop(ti, tc.Mirror, leaves))
	}
	// The newest valid uberblock whose metadata reads; older ones are the
	// fallback when the newest state is damaged (frees are deferred for
	// DeferTxgs txgs, so the last few states are intact).
	byTxg := map[uint64]format.Uberblock{}
	for _, t := range p.tops {
		for _, l := range t.Leaves() {
			slots, err := l.ReadUberblocks()
			if err != nil {
				continue
			}
			for _, s := range slots {
				var u format.Uberblock
				if u.Decode(s) != nil || u.PoolGUID != p.cfg.GUID {
					continue
				}
				byTxg[u.Txg] = u
			}
		}
	}
	txgs := make([]uint64, 0, len(byTxg))
	for t := range byTxg {
		txgs = append(txgs, t)
	}
	sort.Slice(txgs, func(i, j int) bool { return txgs[i] > txgs[j] })
	if len(txgs) == 0 {
		p.Close()
		return nil, nil, ErrNoValidTxg
	}
	var doc []byte
	var err error
	for i, t := range txgs {
		if i > DeferTxgs {
			break
		}
		u := byTxg[t]
		p.txg, p.mos = u.Txg, u.MOS
		if doc, err = p.ReadBlock(&p.mos, nil, nil); err == nil {
			break
		}
	}
	if err != nil {
		p.Close()
		return nil, nil, fmt.Errorf("read pool metadata: %w", err)
	}
	p.importing = &importState{used: make([]usedMap, len(p.tops))}
	p.MarkLive(&p.mos)
	return p, doc, nil
}

type importState struct {
	used []usedMap
}

// MarkLive records a live block during import.
func (p *Pool) MarkLive(bp *format.BlockPointer) {
	if bp.IsHole() || p.importing == nil || int(bp.Vdev) >= len(p.importing.used) {
		return
	}
	p.importing.used[bp.Vdev].add(bp.Offset, asize(bp.PSize))
}

// FinishImport builds the allocators from the live blocks and marks the
// pool active.
func (p *Pool) FinishImport() error {
	for i := range p.tops {
		a, err := p.importing.used[i].build()
		if err != nil {
			return fmt.Errorf("vdev %d: %w", i, err)
		}
		p.alloc = append(p.alloc, a)
	}
	p.importing = nil
	return p.SetState("active")
}

// ErrChecksum reports a block whose stored bytes do not match its checksum
// on every copy.
var ErrChecksum = errors.New("checksum mismatch")

// Compression used for metadata blocks.
const metaCompress = compress.LZ4

// Space is the pool's capacity.
type Space struct {
	Size, Allocated, Free uint64
}

// Space returns size, allocated and free bytes. Free space inside the data
// files and on the host file systems both count.
func (p *Pool) Space() Space {
	p.mu.Lock()
	defer p.mu.Unlock()
	var s Space
	for i, t := range p.tops {
		var host uint64 = ^uint64(0)
		for _, l := range t.Leaves() {
			h, err := l.HostFree()
			if err == nil && h < host {
				host = h
			}
		}
		if host == ^uint64(0) {
			host = 0
		}
		a := p.alloc[i]
		s.Allocated += a.allocated
		s.Free += a.freeBytes() + host
	}
	// Deferred frees are reusable within DeferTxgs commits: show them free.
	var d uint64
	for _, l := range p.deferred {
		for j := range l {
			d += ASize(&l[j])
		}
	}
	s.Allocated -= min(d, s.Allocated)
	s.Free += d
	s.Size = s.Allocated + s.Free
	return s
}

// Status reports the vdev tree. Leaves of the configuration that were not
// found at import show as UNAVAIL and make their top-level vdev DEGRADED.
func (p *Pool) Status() []vdev.Status {
	var out []vdev.Status
	for i, t := range p.tops {
		st := t.Status()
		if missing := p.missingLeaves(i, t); len(missing) > 0 {
			if !t.Mirror() {
				// A single vdev that is present has no missing leaf.
				out = append(out, st)
				continue
			}
			for _, m := range missing {
				st.Children = append(st.Children, vdev.Status{Name: m, State: "UNAVAIL"})
			}
			if st.State == "ONLINE" {
				st.State = "DEGRADED"
			}
		}
		out = append(out, st)
	}
	return out
}

func (p *Pool) missingLeaves(i int, t *vdev.Top) []string {
	have := map[uint64]bool{}
	for _, l := range t.Leaves() {
		have[l.Label().GUID] = true
	}
	var out []string
	for _, lc := range p.cfg.Tops[i].Leaves {
		if !have[lc.GUID] {
			out = append(out, lc.Path)
		}
	}
	return out
}

// Health is ONLINE, DEGRADED or FAULTED.
func (p *Pool) Health() string {
	h := "ONLINE"
	for i, t := range p.tops {
		st := t.Status()
		if st.State == "FAULTED" {
			return "FAULTED"
		}
		if st.State != "ONLINE" || len(t.Leaves()) < len(p.cfg.Tops[i].Leaves) {
			h = "DEGRADED"
		}
	}
	return h
}

// ReadAheadRuns reports how many runs of blocks were read ahead with one
// read of the block store (ReadAheadRun), and how many blocks they held.
func (p *Pool) ReadAheadRuns() (reads, blocks uint64) {
	return p.runs.reads.Load(), p.runs.blocks.Load()
}

// DamagedBlocks counts blocks that could not be read correctly from any copy.
func (p *Pool) DamagedBlocks() uint64 {
	p.errs.Lock()
	defer p.errs.Unlock()
	return p.errs.damaged
}

func (p *Pool) noteDamaged() {
	p.errs.Lock()
	p.errs.damaged++
	p.errs.Unlock()
}

// Commit writes the metadata document as txg's MOS, syncs every vdev, then
// writes the uberblock everywhere. On return the txg is durable and the
// blocks freed in it are released.
func (p *Pool) Commit(txg uint64, mosDoc []byte) error {
	bp, err := p.WriteBlock(txg, BlockSpec{Type: format.TypeMOS, Compress: compress.ZSTD}, mosDoc)
	if err != nil {
		return fmt.Errorf("write pool metadata: %w", err)
	}
	p.mu.Lock()
	old := p.mos
	p.mu.Unlock()
	if !old.IsZero() {
		p.Free(&old)
	}
	if err := p.syncAll(); err != nil {
		return err
	}
	ub := format.Uberblock{Txg: txg, Time: time.Now().UnixNano(), PoolGUID: p.cfg.GUID, MOS: bp}
	enc := ub.Encode()
	written := 0
	var lastErr error
	for _, t := range p.tops {
		for _, l := range t.Leaves() {
			if err := l.WriteUberblock(int(txg%format.UberSlots), enc); err != nil {
				lastErr = err
				continue
			}
			written++
		}
	}
	if written == 0 {
		return fmt.Errorf("write uberblock: %w", lastErr)
	}
	p.mu.Lock()
	p.txg = txg
	p.mos = bp
	p.deferred = append(p.deferred, p.pending)
	p.pending = nil
	var freed []format.BlockPointer
	if len(p.deferred) > DeferTxgs {
		freed = p.deferred[0]
		p.deferred = p.deferred[1:]
	}
	p.mu.Unlock()
	p.release(freed)
	return nil
}

// DeferTxgs is how many txgs a freed block stays unused, so that an import
// can fall back to an older uberblock when the newest state is damaged.
const DeferTxgs = 2

// DeferredBytes is the space of freed blocks not yet reusable.
func (p *Pool) DeferredBytes() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n uint64
	for _, l := range p.deferred {
		for i := range l {
			n += ASize(&l[i])
		}
	}
	return n
}

func (p *Pool) syncAll() error {
	var wg sync.WaitGroup
	errs := make([]error, len(p.tops))
	for i, t := range p.tops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = t.Sync()
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// release gives freed blocks back to the allocators and punches them out of
// the data files (so destroyed data and wrapped keys leave the host disk).
func (p *Pool) release(bps []format.BlockPointer) {
	p.cache.dropAddrs(bps)
	sort.Slice(bps, func(i, j int) bool {
		if bps[i].Vdev != bps[j].Vdev {
			return bps[i].Vdev < bps[j].Vdev
		}
		return bps[i].Offset < bps[j].Offset
	})
	// A double free is a bug in the layer above; never reuse the space.
	_ = p.releaseSorted(bps)
}

// releaseSorted punches bps (sorted by vdev and offset) out of their data
// files, then gives their space back, and returns the first error. The
// punch comes first: write-behind allocates and writes blocks while a
// commit releases others, and space punched after its release could
// already hold a new block. Blocks that lie back to back on a vdev (a file
// written in order, then overwritten or deleted) go in one punch; a block
// that cannot be released (a double free) is skipped.
func (p *Pool) releaseSorted(bps []format.BlockPointer) error {
	var first error
	for i := 0; i < len(bps); {
		v := bps[i].Vdev
		start, end := bps[i].Offset, bps[i].Offset
		j := i
		p.mu.Lock()
		for j < len(bps) && bps[j].Vdev == v && bps[j].Offset == end {
			if err := p.alloc[v].canRelease(bps[j].Offset, asize(bps[j].PSize)); err != nil {
				if j == i && first == nil {
					first = err
				}
				break
			}
			end += asize(bps[j].PSize)
			j++
		}
		p.mu.Unlock()
		if j == i {
			i++
			continue
		}
		_ = p.tops[v].Free(int64(start), int64(end-start))
		p.mu.Lock()
		for k := i; k < j; k++ {
			if err := p.alloc[v].release(bps[k].Offset, asize(bps[k].PSize)); err != nil && first == nil {
				first = err
			}
		}
		p.mu.Unlock()
		i = j
	}
	return first
}

// Free schedules a block to be freed when the open txg commits.
func (p *Pool) Free(bp *format.BlockPointer) {
	if bp.IsHole() {
		return
	}
	p.mu.Lock()
	p.pending = append(p.pending, *bp)
	p.mu.Unlock()
}

// ASize is the space a block occupies.
func ASize(bp *format.BlockPointer) uint64 {
	if bp.IsHole() {
		return 0
	}
	return asize(bp.PSize)
}

// AllocatedBytes is the space the allocators hold, frees of the open txg
// included (they are released at commit).
func (p *Pool) AllocatedBytes() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	var n uint64
	for _, a := range p.alloc {
		n += a.allocated
	}
	return n
}

// PendingFrees is the number of blocks freed in the open txg.
func (p *Pool) PendingFrees() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.pending)
}
