package vdev

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Files of a leaf vdev directory. See doc.go.
const (
	labelFile    = "label.json"
	labelTmpFile = "label.json.tmp"
	ringFile     = "uberblocks"
	dataFile     = "data"
	lockFileName = "lock"
)

// The uberblock ring: RingSlots fixed slots of SlotSize bytes.
const (
	SlotSize  = 4096
	RingSlots = 128
	RingSize  = SlotSize * RingSlots // 512 KiB
)

var errInUse = errors.New("in use by another process")

// lockRetryMax bounds the waits for a vdev's lock (1, 2, 4, ... ms; about
// half a second in all) before it is reported in use.
const lockRetryMax = 256 * time.Millisecond

// ownFiles are the names a leaf vdev directory may hold; anything else makes
// the directory "non-empty" for CreateLeaf.
var ownFiles = map[string]bool{
	labelFile: true, labelTmpFile: true, ringFile: true, dataFile: true, lockFileName: true,
}

// Leaf is an open leaf vdev: a directory on a host file system, locked
// against other openers for as long as it is open. Its methods are safe for
// concurrent use.
type Leaf struct {
	dir  string
	lock *os.File
	data *os.File
	ring *os.File

	mu    sync.Mutex // serialises label writes and guards label
	label Label

	faulted atomic.Bool // set by Top when this child missed a write
	cnt     counters

	// unkicked counts the bytes written since writeback of the block store
	// was last started; kicking is set while a start is in flight.
	unkicked atomic.Int64
	kicking  atomic.Bool

	// Host space reserved ahead of writes (reserve.go): reserves is set
	// where it pays (ext4); reserved is the end of the reserved range and
	// holes the punched holes remembered, sorted (holeCount mirrors their
	// number for a check without the lock). reserveMu guards holes and
	// serialises reserving.
	reserves  bool
	reserveMu sync.Mutex
	reserved  atomic.Int64
	holes     []hole
	holeCount atomic.Int64

	// The block store opened a second time with O_DIRECT, for ReadAtCold
	// (leaf_linux.go); opened at its first use, nil when the host file
	// system refuses O_DIRECT. noDirect is set when a direct read failed
	// for a reason other than the disk's, and turns direct reads off.
	directOnce sync.Once
	direct     *os.File
	noDirect   atomic.Bool
}

// KickBytes is how much a leaf writes to its block store before it asks
// the host to start writing the store's dirty pages back (not to wait for
// them). A commit's fdatasync then finds most of a large write already on
// its way to the disk instead of starting all of it: the host's own
// background writeback starts only past a share of memory (10% by default)
// that a txg rarely dirties. Durability still comes from the fdatasync
// alone.
const KickBytes = 8 << 20

// counters are the error counters shown by pool status.
type counters struct {
	read, write, cksum, repaired atomic.Uint64
}

// CreateLeaf initialises dir as a new leaf vdev with label l and returns it
// open. It creates dir if missing. It refuses a path that is not a
// directory, a directory holding a label whose state is not "destroyed"
// (even with force: destroy or export-and-destroy the old pool first), a
// directory in use by another process, and a directory with other files
// unless force is set. A refused create changes nothing on disk.
func CreateLeaf(dir string, l Label, force bool) (*Leaf, error) {
	if l.Version == 0 {
		l.Version = LabelVersion
	}
	if l.State == "" {
		l.State = LabelActive
	}
	if err := l.validate(); err != nil {
		return nil, fmt.Errorf("create vdev %s: %w", dir, err)
	}
	created := false
	switch fi, err := os.Stat(dir); {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create vdev %s: %w", dir, unwrapPath(err))
		}
		created = true
	case err != nil:
		return nil, fmt.Errorf("create vdev %s: %w", dir, unwrapPath(err))
	case !fi.IsDir():
		return nil, fmt.Errorf("create vdev %s: not a directory", dir)
	default:
		if err := checkReusable(dir, force); err != nil {
			return nil, err
		}
	}
	lf, err := openLock(dir)
	if err != nil {
		if created {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}
	leaf, err := initLeaf(dir, lf, l, force)
	if err != nil {
		_ = closeLock(lf)
		if created {
			_ = os.RemoveAll(dir)
		}
		return nil, err
	}
	return leaf, nil
}

// checkReusable refuses a directory that belongs to a pool or holds
// unrelated files (unless force).
func checkReusable(dir string, force bool) error {
	switch lb, err := ReadLabel(dir); {
	case err == nil:
		if lb.State != LabelDestroyed {
			return fmt.Errorf("%s is part of %s pool '%s'", dir, stateWord(lb.State), lb.PoolName)
		}
	case errors.Is(err, ErrNoLabel):
	case errors.Is(err, ErrBadLabel) && force:
	case errors.Is(err, ErrBadLabel):
		return fmt.Errorf("%s has an unreadable vdev label (use force to overwrite)", dir)
	default:
		return err
	}
	if force {
		return nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("create vdev %s: %w", dir, unwrapPath(err))
	}
	for _, e := range ents {
		if !ownFiles[e.Name()] {
			return fmt.Errorf("%s is not empty (contains %q; use force to create anyway)", dir, e.Name())
		}
	}
	return nil
}

func stateWord(s string) string {
	if s == LabelExported {
		return "exported"
	}
	return "active"
}

// initLeaf lays out a fresh vdev in dir, which the caller has locked with
// lf. The label is written last: a directory without one is not a vdev.
func initLeaf(dir string, lf *os.File, l Label, force bool) (*Leaf, error) {
	// Re-check under the lock: another creator may have raced us.
	if err := checkReusable(dir, force); err != nil {
		return nil, err
	}
	fail := func(err error) (*Leaf, error) {
		return nil, fmt.Errorf("create vdev %s: %w", dir, unwrapPath(err))
	}
	// A label left by a destroyed pool goes first, so that a crash during
	// creation cannot leave an old label over new, empty files.
	if err := os.Remove(filepath.Join(dir, labelFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(err)
	}
	data, err := os.OpenFile(filepath.Join(dir, dataFile), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fail(err)
	}
	ring, err := os.OpenFile(filepath.Join(dir, ringFile), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		data.Close()
		return fail(err)
	}
	leaf := &Leaf{dir: dir, lock: lf, data: data, ring: ring, label: l}
	leaf.initReserve()
	err = ring.Truncate(RingSize)
	if err == nil {
		err = ring.Sync()
	}
	if err == nil {
		err = data.Sync()
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		data.Close()
		ring.Close()
		return fail(err)
	}
	if err := writeLabel(dir, l); err != nil {
		data.Close()
		ring.Close()
		return nil, err
	}
	return leaf, nil
}

// openLock opens dir/lock and takes the exclusive flock.
func openLock(dir string) (*os.File, error) {
	lf, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("vdev %s: lock: %w", dir, unwrapPath(err))
	}
	err = lockFile(lf)
	// A process that forks between our close of this vdev and this open
	// holds a copy of the old lock until its child execs (Go opens files
	// close-on-exec, but the child has them until then): wait that out,
	// briefly. A real holder keeps the lock for good.
	for wait := time.Millisecond; errors.Is(err, errInUse) && wait <= lockRetryMax; wait *= 2 {
		time.Sleep(wait)
		err = lockFile(lf)
	}
	if err != nil {
		lf.Close()
		if errors.Is(err, errInUse) {
			return nil, fmt.Errorf("vdev %s is in use by another process", dir)
		}
		return nil, fmt.Errorf("vdev %s: lock: %w", dir, err)
	}
	return lf, nil
}

// OpenLeaf opens the existing leaf vdev in dir and locks it. A missing
// directory or label wraps ErrNoLabel (and fs.ErrNotExist); an unusable
// label wraps ErrBadLabel.
func OpenLeaf(dir string) (*Leaf, error) {
	// Read the label before creating the lock file, so that opening a
	// directory that is not a vdev changes nothing.
	if _, err := ReadLabel(dir); err != nil {
		return nil, err
	}
	lf, err := openLock(dir)
	if err != nil {
		return nil, err
	}
	leaf, err := openLocked(dir, lf)
	if err != nil {
		_ = closeLock(lf)
		return nil, err
	}
	return leaf, nil
}

func openLocked(dir string, lf *os.File) (*Leaf, error) {
	lb, err := ReadLabel(dir) // again, under the lock
	if err != nil {
		return nil, err
	}
	data, err := os.OpenFile(filepath.Join(dir, dataFile), os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("vdev %s: data file: %w", dir, unwrapPath(err))
	}
	ring, err := os.OpenFile(filepath.Join(dir, ringFile), os.O_RDWR, 0)
	if err != nil {
		data.Close()
		return nil, fmt.Errorf("vdev %s: uberblock ring: %w", dir, unwrapPath(err))
	}
	if fi, err := ring.Stat(); err != nil || fi.Size() != RingSize {
		data.Close()
		ring.Close()
		if err != nil {
			return nil, fmt.Errorf("vdev %s: uberblock ring: %w", dir, unwrapPath(err))
		}
		return nil, fmt.Errorf("vdev %s: uberblock ring has %d bytes, want %d", dir, fi.Size(), RingSize)
	}
	leaf := &Leaf{dir: dir, lock: lf, data: data, ring: ring, label: lb}
	leaf.initReserve()
	return leaf, nil
}

// Path returns the directory of the vdev.
func (l *Leaf) Path() string { return l.dir }

// Label returns the label as last read or written.
func (l *Leaf) Label() Label {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.label
}

// WriteLabel replaces the label atomically and durably.
func (l *Leaf) WriteLabel(lb Label) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := writeLabel(l.dir, lb); err != nil {
		return err
	}
	l.label = lb
	return nil
}

// ReadAt reads len(p) bytes at off of the block store. A read that reaches
// past the end of the data file is damage, not a hole: it returns an error
// wrapping io.ErrUnexpectedEOF.
func (l *Leaf) ReadAt(p []byte, off int64) error {
	err := l.readQuiet(p, off)
	if err == nil {
		return nil
	}
	l.cnt.read.Add(1)
	return fmt.Errorf("vdev %s: read %d bytes at %d: %w", l.dir, len(p), off, unwrapPath(err))
}

// readQuiet is ReadAt without counting or wrapping a failure.
func (l *Leaf) readQuiet(p []byte, off int64) error {
	n, err := l.data.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

// WriteAt writes p at off of the block store, growing the file as needed.
func (l *Leaf) WriteAt(p []byte, off int64) error {
	if end := off + int64(len(p)); l.needsReserve(end) {
		l.reserveFor(off, end)
	}
	if _, err := l.data.WriteAt(p, off); err != nil {
		l.cnt.write.Add(1)
		return fmt.Errorf("vdev %s: write %d bytes at %d: %w", l.dir, len(p), off, unwrapPath(err))
	}
	if l.unkicked.Add(int64(len(p))) >= KickBytes && l.kicking.CompareAndSwap(false, true) {
		l.unkicked.Store(0)
		// In the background: starting writeback may wait for room in the
		// disk's queue, and the writer has the next block to store.
		go func() {
			defer l.kicking.Store(false)
			startWriteback(l.data)
		}()
	}
	return nil
}

// Sync makes the block store's written data durable (fdatasync).
func (l *Leaf) Sync() error {
	if err := fdatasync(l.data); err != nil {
		l.cnt.write.Add(1)
		return fmt.Errorf("vdev %s: sync: %w", l.dir, err)
	}
	return nil
}

// Free tells the host file system that [off, off+n) of the block store is
// no longer used (punches a hole; the size is kept). It is advisory: file
// systems that cannot punch holes return nil.
func (l *Leaf) Free(off, n int64) error {
	if n <= 0 {
		return nil
	}
	if err := punchHole(l.data, off, n); err != nil {
		return fmt.Errorf("vdev %s: free %d bytes at %d: %w", l.dir, n, off, err)
	}
	l.punched(off, n)
	return nil
}

// Size returns the logical size of the block store.
func (l *Leaf) Size() (int64, error) {
	fi, err := l.data.Stat()
	if err != nil {
		return 0, fmt.Errorf("vdev %s: %w", l.dir, unwrapPath(err))
	}
	return fi.Size(), nil
}

// HostFree returns the bytes available on the host file system.
func (l *Leaf) HostFree() (uint64, error) {
	n, err := hostFree(l.dir)
	if err != nil {
		return 0, fmt.Errorf("vdev %s: statfs: %w", l.dir, err)
	}
	return n, nil
}

// WriteUberblock writes b (at most SlotSize bytes, zero-padded) into slot
// of the uberblock ring and makes it durable before returning.
func (l *Leaf) WriteUberblock(slot int, b []byte) error {
	if slot < 0 || slot >= RingSlots {
		return fmt.Errorf("vdev %s: uberblock slot %d out of range [0, %d)", l.dir, slot, RingSlots)
	}
	if len(b) > SlotSize {
		return fmt.Errorf("vdev %s: uberblock of %d bytes exceeds slot size %d", l.dir, len(b), SlotSize)
	}
	var buf [SlotSize]byte
	copy(buf[:], b)
	if _, err := l.ring.WriteAt(buf[:], int64(slot)*SlotSize); err != nil {
		l.cnt.write.Add(1)
		return fmt.Errorf("vdev %s: write uberblock %d: %w", l.dir, slot, unwrapPath(err))
	}
	if err := fdatasync(l.ring); err != nil {
		l.cnt.write.Add(1)
		return fmt.Errorf("vdev %s: sync uberblocks: %w", l.dir, err)
	}
	return nil
}

// ReadUberblocks returns the raw contents of all RingSlots slots, each
// SlotSize bytes long (zero-padded as written; never-written slots are all
// zeros).
func (l *Leaf) ReadUberblocks() ([][]byte, error) {
	buf := make([]byte, RingSize)
	if n, err := l.ring.ReadAt(buf, 0); n != RingSize {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		l.cnt.read.Add(1)
		return nil, fmt.Errorf("vdev %s: read uberblocks: %w", l.dir, unwrapPath(err))
	}
	slots := make([][]byte, RingSlots)
	for i := range slots {
		slots[i] = buf[i*SlotSize : (i+1)*SlotSize : (i+1)*SlotSize]
	}
	return slots, nil
}

// Status returns the leaf's state and error counters.
func (l *Leaf) Status() Status {
	st := Status{Name: l.dir, State: StateOnline}
	if l.faulted.Load() {
		st.State = StateFaulted
	}
	st.addCounters(&l.cnt)
	return st
}

// Close releases the files and the lock. When Close returns, the vdev can
// be opened again.
func (l *Leaf) Close() error {
	err := errors.Join(l.data.Close(), l.ring.Close())
	l.directOnce.Do(func() {}) // no direct file is opened after Close
	if l.direct != nil {
		err = errors.Join(err, l.direct.Close())
	}
	return errors.Join(err, closeLock(l.lock))
}

// closeLock closes a lock file so that its flock is released at once: a
// flock belongs to the open file description, which a child forked by
// os/exec shares until it execs. Holding ForkLock for reading waits out any
// fork in flight.
func closeLock(f *os.File) error {
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	return f.Close()
}

// unwrapPath drops the os.PathError wrapper, whose path our messages
// already name, keeping the underlying error for errors.Is.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
