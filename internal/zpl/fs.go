package zpl

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
	"time"

	"coffer/internal/dmu"
	"coffer/internal/format"
	"coffer/internal/pool"
)

// Options configure an FS.
type Options struct {
	// ReadOnly refuses every change (readonly property, snapshots).
	ReadOnly bool
	// NextTxg gives the txg new objects are born in (dsl Pool.NextTxg).
	NextTxg func() uint64
	// Sync commits everything written so far (fsync); nil: no-op.
	Sync func() error
	// MaybeSync is called after writes (dsl Pool.MaybeSync); may be nil.
	MaybeSync func() error
	// Space reports the pool's size and free bytes for statfs; may be nil.
	Space func() (size, free uint64)
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// FS is a POSIX file system over one object set.
type FS struct {
	os   *dmu.Objset
	opts Options

	// mu: exclusive for every change and for lookups (which build
	// directory indexes); shared for data reads, getattr and readdir.
	mu       sync.RWMutex
	cmu      sync.Mutex // guards inodes
	inodes   map[uint64]*inode
	root     uint64
	unlinked uint64
	// opens counts open handles per inode (guarded by mu).
	opens map[uint64]int
}

type inode struct {
	obj *dmu.Object
	a   Attr
	dir *dirIndex // directories: loaded on first use (under mu held exclusively)
}

// ioErr maps engine errors to errnos.
func ioErr(err error) error {
	var en syscall.Errno
	switch {
	case err == nil:
		return nil
	case errors.As(err, &en):
		return en
	case errors.Is(err, dmu.ErrReadOnly):
		return syscall.EROFS
	case errors.Is(err, pool.ErrKeyNotLoaded):
		return syscall.EACCES
	case errors.Is(err, dmu.ErrNoObject):
		return syscall.ENOENT
	case errors.Is(err, dmu.ErrBonusSize):
		return syscall.E2BIG
	}
	return syscall.EIO
}

// Open opens the file system in os, creating the master node and root
// directory in an empty, writable object set, and frees what a crash left
// in the unlinked set.
func Open(os *dmu.Objset, opts Options) (*FS, error) {
	if os.Kind() != format.ObjsetFilesystem {
		return nil, fmt.Errorf("object set is not a file system")
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NextTxg == nil {
		opts.NextTxg = func() uint64 { return 1 }
	}
	fs := &FS{os: os, opts: opts, inodes: map[uint64]*inode{}, opens: map[uint64]int{}}
	mo, err := os.Object(MasterObject)
	switch {
	case errors.Is(err, dmu.ErrNoObject):
		if opts.ReadOnly {
			return nil, fmt.Errorf("file system is not initialized and is read-only: %w", syscall.EROFS)
		}
		if os.MaxObjectID() > MasterObject {
			return nil, fmt.Errorf("object set holds objects but no master node: %w", syscall.EIO)
		}
		if err := fs.initialize(); err != nil {
			return nil, fmt.Errorf("initialize file system: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("master node: %w", err)
	default:
		b, err := mo.Bonus()
		if err != nil {
			return nil, fmt.Errorf("master node: %w", err)
		}
		m, err := decodeMaster(b)
		if err != nil {
			return nil, err
		}
		fs.root, fs.unlinked = m.root, m.unlinked
	}
	if _, err := fs.inode(fs.root); err != nil {
		return nil, fmt.Errorf("root directory: %w", err)
	}
	if !opts.ReadOnly {
		if err := fs.reapUnlinked(); err != nil {
			return nil, fmt.Errorf("free unlinked objects: %w", err)
		}
	}
	return fs, nil
}

func (fs *FS) now() int64 { return fs.opts.Now().UnixNano() }

func (fs *FS) initialize() error {
	txg := fs.opts.NextTxg()
	mo, err := fs.os.NewObjectAt(MasterObject, format.ObjectMaster, format.MinBlockSize, txg)
	if err != nil {
		return err
	}
	now := fs.now()
	root, err := fs.newInode(format.ObjectDir, Attr{Mode: ModeDir | 0o755, Nlink: 2, Atime: now, Mtime: now, Ctime: now, Crtime: now})
	if err != nil {
		return err
	}
	root.a.Parent = root.a.Ino
	if err := fs.store(root); err != nil {
		return err
	}
	ul, err := fs.newInode(format.ObjectDir, Attr{Mode: ModeDir, Nlink: 1, Atime: now, Mtime: now, Ctime: now, Crtime: now})
	if err != nil {
		return err
	}
	fs.root, fs.unlinked = root.a.Ino, ul.a.Ino
	m := master{version: FormatVersion, root: fs.root, unlinked: fs.unlinked}
	return mo.SetBonus(m.encode())
}

// newInode allocates an object and its attributes (Ino and Gen are set).
func (fs *FS) newInode(t format.ObjectType, a Attr) (*inode, error) {
	rs := fs.os.RecordSize
	if rs == 0 || t != format.ObjectPlain {
		rs = format.DefaultRecordSz
	}
	txg := fs.opts.NextTxg()
	o, err := fs.os.NewObject(t, rs, txg)
	if err != nil {
		return nil, ioErr(err)
	}
	a.Ino, a.Gen = o.ID(), txg
	ino := &inode{obj: o, a: a}
	if err := fs.store(ino); err != nil {
		return nil, err
	}
	fs.cmu.Lock()
	fs.inodes[a.Ino] = ino
	fs.cmu.Unlock()
	return ino, nil
}

// store writes an inode's attributes into its bonus.
func (fs *FS) store(ino *inode) error {
	return ioErr(ino.obj.SetBonus(ino.a.encode()))
}

// inode returns the cached inode id, loading it.
func (fs *FS) inode(id uint64) (*inode, error) {
	fs.cmu.Lock()
	defer fs.cmu.Unlock()
	if ino := fs.inodes[id]; ino != nil {
		return ino, nil
	}
	if id <= MasterObject {
		return nil, syscall.ENOENT
	}
	o, err := fs.os.Object(id)
	if err != nil {
		return nil, ioErr(err)
	}
	b, err := o.Bonus()
	if err != nil {
		return nil, ioErr(err)
	}
	a, err := decodeAttr(id, b)
	if err != nil {
		return nil, err
	}
	ino := &inode{obj: o, a: a}
	fs.inodes[id] = ino
	return ino, nil
}

// free releases an inode's objects (its xattr object too).
func (fs *FS) free(ino *inode) error {
	if ino.a.Xattr != 0 {
		if err := fs.os.FreeObject(ino.a.Xattr); err != nil && !errors.Is(err, dmu.ErrNoObject) {
			return ioErr(err)
		}
	}
	if err := fs.os.FreeObject(ino.a.Ino); err != nil {
		return ioErr(err)
	}
	fs.cmu.Lock()
	delete(fs.inodes, ino.a.Ino)
	fs.cmu.Unlock()
	return nil
}

func unlinkedName(id uint64) string { return fmt.Sprintf("%016x", id) }

// reapUnlinked frees the inodes left in the unlinked set (crash cleanup).
func (fs *FS) reapUnlinked() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ul, err := fs.inode(fs.unlinked)
	if err != nil {
		return err
	}
	ix, err := fs.dirLoad(ul)
	if err != nil {
		return err
	}
	if len(ix.ents) == 0 {
		return nil
	}
	for name, e := range ix.ents {
		if ino, err := fs.inode(e.id); err == nil {
			if err := fs.free(ino); err != nil {
				return err
			}
		}
		if err := fs.dirRemove(ul, name); err != nil {
			return err
		}
	}
	return fs.store(ul)
}

// Root is the root directory's inode number.
func (fs *FS) Root() uint64 { return fs.root }

// ReadOnly reports whether changes are refused.
func (fs *FS) ReadOnly() bool { return fs.opts.ReadOnly }

// Encrypted reports whether the object set is encrypted.
func (fs *FS) Encrypted() bool { return fs.os.Encrypted() }

func (fs *FS) writable() error {
	if fs.opts.ReadOnly {
		return syscall.EROFS
	}
	return nil
}

// Sync makes everything written so far durable (fsync).
func (fs *FS) Sync() error {
	if fs.opts.ReadOnly || fs.opts.Sync == nil {
		return nil
	}
	return fs.opts.Sync()
}

func (fs *FS) maybeSync() {
	if fs.opts.MaybeSync != nil {
		_ = fs.opts.MaybeSync() // the background commit retries and logs
	}
}

// Statfs describes the file system's space.
type Statfs struct {
	Bsize  uint32
	Blocks uint64
	Bfree  uint64
	Files  uint64
	Ffree  uint64
}

// Statfs reports pool space in 4 KiB blocks and a nominal inode count.
func (fs *FS) Statfs() Statfs {
	st := Statfs{Bsize: 4096, Files: 1 << 32}
	if fs.opts.Space != nil {
		size, free := fs.opts.Space()
		st.Blocks, st.Bfree = size/4096, free/4096
	}
	used := fs.os.MaxObjectID()
	st.Ffree = st.Files - min(used, st.Files)
	return st
}
