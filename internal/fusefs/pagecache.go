package fusefs

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"coffer/internal/pool"

	"github.com/hanwen/go-fuse/v2/fuse"
)

// Filling the kernel page cache with whole records.
//
// A read of a few pages of a cold file makes the daemon read and decode
// the whole data block (record) around them, but the kernel only asked
// for those pages. After such a read the other pages of the record are
// pushed into the kernel's page cache with a FUSE notify-store, so later
// reads anywhere in the record are served by the kernel without a round
// trip to the daemon (what the ARC gives a whole record in ZFS).
//
// Correctness: a store must never put stale data into the page cache.
// Every node counts its writable handles (writers) and has a generation
// (gen) that changes whenever that count changes and around every
// truncation; both change only with the node's store lock (smu) held
// exclusively. A read that may lead to a store loads gen before it reads
// the record; the store worker later takes smu shared and sends the
// notification only if gen is still the same and there is no writable
// handle, holding smu until the kernel has taken the data. So between the
// read of the record and the end of the store, the file was not open for
// writing and not truncated: its data and size were what was read. A WRITE
// (or fallocate, or the kernel's fallback for copy_file_range) needs a
// writable handle; the kernel sends RELEASE for a handle only after all
// WRITEs through it (mmap write-back included) have been answered, and the
// RELEASE handler changes gen. Truncation by path (SETATTR with a size and
// no handle) and O_TRUNC opens take smu exclusively for the whole change.
// The stored range never goes past the end of the file as read (a store
// past EOF would grow the kernel's idea of the file size).
//
// Deadlocks: the kernel locks each page while it copies a store into it,
// so a store waits for any request that holds a page lock of the record
// while it waits for the daemon. These are READs (readahead locks the pages
// it asks for) and WRITEs (which lock the pages they write). Therefore:
//   - the store is never sent from the READ handler, but from a worker
//     goroutine, and never covers the pages of the READ that caused it;
//   - the READ handler never takes smu (it loads gen and writers
//     atomically), so a READ can always be answered while a store waits,
//     even when an OPEN/RELEASE/SETATTR is queued on smu behind the store
//     (sync.RWMutex makes new shared lockers wait behind a queued
//     exclusive one, so a shared lock in READ could deadlock);
//   - WRITE never takes smu, and no WRITE can be in flight while a store
//     is (there is no writable handle); the handlers that take smu
//     exclusively (OPEN, CREATE, RELEASE, SETATTR) are not sent by the
//     kernel with page locks held;
//   - go-fuse writes notifications with its own writev, not behind a lock
//     that replies need.
//
// Page cache lifetime: on a live file system open(2) is answered without
// FOPEN_KEEP_CACHE (as before stores existed), so the kernel drops the
// file's cached pages at every open; what was stored lives until the next
// open of the file or until the kernel reclaims it. Readers that keep the
// file open (fio's jobs, a database) keep the benefit. Snapshot files are opened with
// FOPEN_KEEP_CACHE and never change, so there stored pages survive opens.
// Each record is stored once per "epoch" (between two opens, or two
// changes of gen) while memory is short: a READ for a page of a record
// stored in this epoch then means the kernel reclaimed it, and storing it
// again would only fight the reclaim. While at least a quarter of the
// host's memory is available (MemAvailable, read at most twice a second)
// the pages were dropped on request (fadvise(DONTNEED), drop_caches, fio
// between the passes of a timed run), not for want of memory, and the
// record is stored again: fio's random 4 KiB reads on a 1 GiB file ran at
// 50,000 IOPS over 12 s when only the first pass was filled, and at
// 240,000 with every pass filled. The stored pages are kernel page cache,
// not daemon memory; the daemon holds at most storeQueue record copies
// waiting for the worker and drops work when the queue is full.

// storeQueue bounds the records waiting to be stored (each one record,
// 128 KiB by default).
const storeQueue = 32

// maxStoredRecords bounds the per-file set of records stored in the
// current epoch; past it the set is cleared (a record may be stored twice).
const maxStoredRecords = 1 << 17

// pageSize is the kernel's page size for the FUSE mapping.
const pageSize = 4096

// pageState is a node's page-cache bookkeeping.
type pageState struct {
	smu     sync.RWMutex // exclusive: changes of writers/gen; shared: a store
	gen     atomic.Uint64
	writers atomic.Int32

	mu     sync.Mutex // guards the fields below; never held across a syscall
	epoch  uint64     // gen (plus opens) at which stored was filled
	opens  uint64     // opens that dropped the kernel's cache
	stored map[uint64]struct{}
}

// change runs f (which changes the file's data, size or writers) with smu
// held exclusively and moves to a new generation when it ends.
func (p *pageState) change(f func()) {
	p.smu.Lock()
	defer p.smu.Unlock()
	defer p.gen.Add(1)
	f()
}

// dropped records that the kernel dropped the file's cached pages (an
// open without FOPEN_KEEP_CACHE).
func (p *pageState) dropped() {
	p.mu.Lock()
	p.opens++
	p.mu.Unlock()
}

// claim reports whether record rec should be stored now (not stored in
// this epoch yet, or again is set) and marks it stored.
func (p *pageState) claim(rec, gen uint64, again bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	e := gen + p.opens<<32
	if e != p.epoch || p.stored == nil || len(p.stored) >= maxStoredRecords {
		p.epoch = e
		p.stored = map[uint64]struct{}{}
	}
	if _, ok := p.stored[rec]; ok {
		return again
	}
	p.stored[rec] = struct{}{}
	return true
}

// storeJob is the data of one record to push into the kernel's cache,
// without the pages [skipFrom, skipTo) the kernel is reading itself.
type storeJob struct {
	n                *node
	gen              uint64
	off              uint64 // file offset of data
	data             []byte
	skipFrom, skipTo uint64
}

// CacheStats counts the work of a mount's read path.
type CacheStats struct {
	Reads         uint64 // READ requests answered
	StoredRecords uint64 // records pushed into the kernel's page cache
	StoredBytes   uint64
	Skipped       uint64 // stores not sent: the file changed or was open for writing
	Dropped       uint64 // stores not queued: the queue was full
}

type cacheCounters struct {
	reads, records, bytes, skipped, dropped atomic.Uint64
}

// CacheStats returns the mount's read-path counters.
func (m *Mount) CacheStats() CacheStats {
	c := &m.stats
	return CacheStats{Reads: c.reads.Load(), StoredRecords: c.records.Load(), StoredBytes: c.bytes.Load(),
		Skipped: c.skipped.Load(), Dropped: c.dropped.Load()}
}

// queueStore hands j to the store worker, or drops it when the worker is
// behind.
func (m *Mount) queueStore(j storeJob) {
	select {
	case m.storeq <- j:
	default:
		m.stats.dropped.Add(1)
		j.n.ps.mu.Lock()
		delete(j.n.ps.stored, j.off) // may be stored by a later read
		j.n.ps.mu.Unlock()
	}
}

// storeWorker sends the queued stores until the mount ends.
func (m *Mount) storeWorker() {
	for {
		select {
		case j := <-m.storeq:
			m.store(j)
		case <-m.done:
			return
		}
	}
}

func (m *Mount) store(j storeJob) {
	p := &j.n.ps
	p.smu.RLock()
	defer p.smu.RUnlock()
	if p.gen.Load() != j.gen || p.writers.Load() != 0 {
		m.stats.skipped.Add(1)
		return
	}
	end := j.off + uint64(len(j.data))
	sent := 0
	push := func(from, to uint64) {
		if to <= from {
			return
		}
		if j.n.WriteCache(int64(from), j.data[from-j.off:to-j.off]) == 0 {
			sent += int(to - from)
		}
	}
	push(j.off, min(j.skipFrom, end))
	push(max(j.skipTo, j.off), end)
	if sent > 0 {
		m.stats.records.Add(1)
		m.stats.bytes.Add(uint64(sent))
	}
}

// readRecord answers a READ of dest at off. When the read lies in one
// record of which it is only a part, and the record was not stored in
// this epoch, it reads the whole record (one decode, as the part would
// cost) and queues the rest of it for a store.
func (n *node) readRecord(dest []byte, off uint64) (fuse.ReadResult, error) {
	fs := n.v.fs
	p := &n.ps
	gen := p.gen.Load() // before the data is read: a change after it is seen by the store
	if p.writers.Load() != 0 || n.v.m.storeq == nil {
		return n.readCached(dest, off)
	}
	bs, err := fs.BlockSize(n.id)
	if err != nil || bs < 2*pageSize || bs%pageSize != 0 {
		return n.readCached(dest, off)
	}
	b := uint64(bs)
	rec := off / b * b
	if uint64(len(dest)) >= b || (off+uint64(len(dest))-1)/b*b != rec || !p.claim(rec, gen, n.v.m.memPlenty()) {
		return n.readCached(dest, off)
	}
	buf := make([]byte, b)
	k, err := fs.Read(n.id, buf, rec)
	if err != nil {
		p.mu.Lock()
		delete(p.stored, rec)
		p.mu.Unlock()
		return nil, err
	}
	buf = buf[:k]
	var got int
	if off < rec+uint64(k) {
		got = copy(dest, buf[off-rec:])
	}
	skipFrom := off &^ (pageSize - 1)
	skipTo := (off + uint64(len(dest)) + pageSize - 1) &^ (pageSize - 1)
	n.v.m.queueStore(storeJob{n: n, gen: gen, off: rec, data: buf, skipFrom: skipFrom, skipTo: skipTo})
	return fuse.ReadResultVector([][]byte{dest[:got]}), nil
}

// maxReplyVecs bounds the pieces of a READ reply written with writev: a
// file of small blocks gives a piece per block (2,048 for 1 MiB of 512-byte
// blocks), and writev refuses more than IOV_MAX (1,024) with EINVAL, which
// leaves the reader waiting for ever. Such replies are copied instead.
const maxReplyVecs = 64

// readCached answers a READ of dest at off from the blocks as the block
// cache holds them: the reply is written (writev) straight from the cached
// blocks, which are released once it is sent, instead of copying every
// byte into the request's buffer first.
func (n *node) readCached(dest []byte, off uint64) (fuse.ReadResult, error) {
	vecs, hs, err := n.v.fs.ReadVec(n.id, len(dest), off)
	if err != nil {
		return nil, err
	}
	r := &cachedRead{vecs: vecs, hs: hs}
	if len(vecs) > maxReplyVecs {
		b, _ := r.Bytes(dest)
		r.Done()
		return fuse.ReadResultVector([][]byte{b}), nil
	}
	return r, nil
}

// cachedRead is the reply of readCached. go-fuse writes it with writev
// (it has Slices) and calls Done once the reply is written or dropped.
type cachedRead struct {
	vecs [][]byte
	hs   []*pool.Block
	done atomic.Bool
}

func (r *cachedRead) Size() int {
	n := 0
	for _, v := range r.vecs {
		n += len(v)
	}
	return n
}

func (r *cachedRead) Bytes(buf []byte) ([]byte, fuse.Status) {
	buf = buf[:0]
	for _, v := range r.vecs {
		buf = append(buf, v...)
	}
	return buf, fuse.OK
}

func (r *cachedRead) Slices() ([][]byte, fuse.Status) { return r.vecs, fuse.OK }

func (r *cachedRead) Done() {
	if r.done.Swap(true) {
		return
	}
	for _, h := range r.hs {
		h.Release()
	}
	r.vecs, r.hs = nil, nil
}

// memPlenty reports whether at least a quarter of the host's memory is
// available (MemAvailable of /proc/meminfo), from a reading at most
// memCheckEvery old. Without a reading, memory counts as short.
func (m *Mount) memPlenty() bool {
	switch m.memTest.Load() {
	case 1:
		return true
	case 2:
		return false
	}
	return hostMem.plenty()
}

const memCheckEvery = 500 * time.Millisecond

var hostMem memCheck

// memCheck caches the last reading of /proc/meminfo.
type memCheck struct {
	at   atomic.Int64 // unix nanoseconds of the last reading; 0: none
	good atomic.Bool
}

func (c *memCheck) plenty() bool {
	now := time.Now().UnixNano()
	last := c.at.Load()
	if now-last >= int64(memCheckEvery) && c.at.CompareAndSwap(last, now) {
		c.good.Store(readMemPlenty("/proc/meminfo"))
	}
	return c.good.Load()
}

// readMemPlenty reads a meminfo file and reports whether MemAvailable is
// at least a quarter of MemTotal.
func readMemPlenty(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	var total, avail uint64
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "MemTotal:":
			total = v
		case "MemAvailable:":
			avail = v
		}
	}
	return total > 0 && avail >= total/4
}
