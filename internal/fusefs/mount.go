package fusefs

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"coffer/internal/zpl"
)

// CofferDir is the virtual directory at the root of every mount.
const CofferDir = ".coffer"

// Snapshots gives the snapshot views of a mounted file system.
type Snapshots interface {
	// List returns the short snapshot names (after the '@'), oldest first.
	List() []string
	// Open opens snapshot name read-only.
	Open(name string) (*zpl.FS, error)
}

// Options configure a mount.
type Options struct {
	FS *zpl.FS
	// Name is shown as the mount's source (the dataset name).
	Name string
	// Snapshots, when set, serves <root>/.coffer/snapshot/.
	Snapshots Snapshots
	// Timeout is how long the kernel caches entries and attributes;
	// default 2s.
	Timeout time.Duration
	// Debug logs every FUSE request.
	Debug bool
	// ReadAheadKB is the kernel's read-ahead for the mount, in KiB: how
	// much a sequential reader has the kernel ask for in one READ (up to
	// MaxWrite, 1 MiB). 0 means DefaultReadAheadKB; -1 leaves the
	// kernel's default (128 KiB).
	ReadAheadKB int
}

// DefaultReadAheadKB is the read-ahead set on every mount: sequential
// reads reach the daemon in 1 MiB READs (8 records) instead of 128 KiB.
const DefaultReadAheadKB = 1024

// Mount is a mounted file system.
type Mount struct {
	dir   string
	srv   *fuse.Server
	snaps Snapshots
	opts  Options

	mu    sync.Mutex
	views map[string]*view // open snapshot views by name
	nview uint64
	done  chan struct{}

	raKB  int   // read-ahead in force
	raErr error // why it could not be set

	root   *node         // the live file system's root
	storeq chan storeJob // records to push into the kernel's page cache
	// memTest overrides the memory check of pagecache.go in tests: 0
	// none, 1 plentiful, 2 short.
	memTest atomic.Int32
	stats   cacheCounters
}

// New mounts o.FS at dir. The caller must be root (the mount is made
// directly, without fusermount).
func New(dir string, o Options) (*Mount, error) {
	if o.FS == nil {
		return nil, errors.New("fusefs: no file system")
	}
	if o.Timeout == 0 {
		o.Timeout = 2 * time.Second
	}
	m := &Mount{dir: dir, snaps: o.Snapshots, opts: o, views: map[string]*view{}, done: make(chan struct{}),
		storeq: make(chan storeJob, storeQueue)}
	live := &view{fs: o.FS, timeout: o.Timeout, live: true, m: m}
	root := &node{v: live, id: o.FS.Root()}
	m.root = root
	mo := fuse.MountOptions{
		AllowOther:        true,
		FsName:            o.Name,
		Name:              "coffer",
		DirectMount:       true,
		DirectMountStrict: true,
		MaxWrite:          1 << 20,
		Options:           []string{"default_permissions"},
		// The daemon clears set-ID bits on chown, truncate and write
		// (node.Setattr, node.Write), so the kernel sends no GETATTR
		// before each chown to work out the mode itself: one round trip
		// less per file that tar extracts as root.
		ExtraCapabilities: fuse.CAP_HANDLE_KILLPRIV_V2,
		Debug:             o.Debug,
	}
	if o.FS.ReadOnly() {
		mo.Options = append(mo.Options, "ro")
	}
	zero := time.Duration(0)
	srv, err := gofs.Mount(dir, root, &gofs.Options{
		MountOptions:    mo,
		EntryTimeout:    &o.Timeout,
		AttrTimeout:     &o.Timeout,
		NegativeTimeout: &zero,
		RootStableAttr:  &gofs.StableAttr{Ino: o.FS.Root(), Mode: syscall.S_IFDIR},
	})
	if err != nil {
		return nil, fmt.Errorf("mount %s: %w", dir, err)
	}
	m.srv = srv
	m.raKB, m.raErr = setReadAhead(dir, o.ReadAheadKB)
	go func() {
		srv.Wait()
		close(m.done)
	}()
	go m.storeWorker()
	return m, nil
}

// setReadAhead sets the read-ahead of the mount at dir (kb as in
// Options.ReadAheadKB) through the sysfs file of its backing device info
// (the mount's anonymous device), and returns the value in force.
//
// The kernel takes FUSE's read-ahead from the INIT reply, capped at the
// value it offered (its default, 128 KiB), so it cannot be raised there;
// the bdi's read_ahead_kb can be raised by root after the mount. A READ is
// still capped by max_pages (from MaxWrite) and max_read.
func setReadAhead(dir string, kb int) (int, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		return 0, err
	}
	path := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	if kb == 0 {
		kb = DefaultReadAheadKB
	}
	if kb > 0 {
		if err := os.WriteFile(path, []byte(strconv.Itoa(kb)), 0); err != nil {
			return 0, err
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimSpace(string(b)))
}

// ReadAhead returns the mount's read-ahead in KiB, or why it could not be
// set (the mount works without it).
func (m *Mount) ReadAhead() (int, error) { return m.raKB, m.raErr }

// Dir is the mount point.
func (m *Mount) Dir() string { return m.dir }

// FS is the mounted file system.
func (m *Mount) FS() *zpl.FS { return m.opts.FS }

// Unmount unmounts. Without force it fails with EBUSY while files are in
// use; with force the kernel connection is aborted and the mount point is
// detached at once.
func (m *Mount) Unmount(force bool) error {
	if !force {
		if err := m.srv.Unmount(); err != nil {
			return err
		}
	} else {
		_ = syscall.Unmount(m.dir, syscall.MNT_FORCE|syscall.MNT_DETACH)
		_ = m.srv.Unmount() // stops the server loops; the mount is gone already
	}
	select {
	case <-m.done:
	case <-time.After(10 * time.Second):
		return fmt.Errorf("unmount %s: server did not stop", m.dir)
	}
	return nil
}

// Done is closed when the mount has ended (unmounted by anyone).
func (m *Mount) Done() <-chan struct{} { return m.done }
