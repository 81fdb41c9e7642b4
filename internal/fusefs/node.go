package fusefs

import (
	"context"
	"errors"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"coffer/internal/zpl"
)

// view is one zpl file system seen through the mount: the live one or a
// snapshot.
type view struct {
	fs      *zpl.FS
	base    uint64 // added to object ids to make inode numbers
	timeout time.Duration
	live    bool   // the mounted file system itself (has .coffer)
	m       *Mount // the mount
}

// node is a file, directory or symlink of a view.
type node struct {
	gofs.Inode
	v  *view
	id uint64
	ps pageState
}

var (
	_ gofs.NodeLookuper       = (*node)(nil)
	_ gofs.NodeGetattrer      = (*node)(nil)
	_ gofs.NodeSetattrer      = (*node)(nil)
	_ gofs.NodeCreater        = (*node)(nil)
	_ gofs.NodeOpener         = (*node)(nil)
	_ gofs.NodeReader         = (*node)(nil)
	_ gofs.NodeWriter         = (*node)(nil)
	_ gofs.NodeFsyncer        = (*node)(nil)
	_ gofs.NodeAllocater      = (*node)(nil)
	_ gofs.NodeFlusher        = (*node)(nil)
	_ gofs.NodeMkdirer        = (*node)(nil)
	_ gofs.NodeMknoder        = (*node)(nil)
	_ gofs.NodeRmdirer        = (*node)(nil)
	_ gofs.NodeUnlinker       = (*node)(nil)
	_ gofs.NodeRenamer        = (*node)(nil)
	_ gofs.NodeSymlinker      = (*node)(nil)
	_ gofs.NodeReadlinker     = (*node)(nil)
	_ gofs.NodeLinker         = (*node)(nil)
	_ gofs.NodeOpendirHandler = (*node)(nil)
	_ gofs.NodeStatfser       = (*node)(nil)
	_ gofs.NodeGetxattrer     = (*node)(nil)
	_ gofs.NodeSetxattrer     = (*node)(nil)
	_ gofs.NodeListxattrer    = (*node)(nil)
	_ gofs.NodeRemovexattrer  = (*node)(nil)
	_ gofs.FileReleaser       = (*handle)(nil)
)

// errno maps a zpl error to an errno; anything unexpected is EIO.
func errno(err error) syscall.Errno {
	if err == nil {
		return 0
	}
	var en syscall.Errno
	if errors.As(err, &en) {
		return en
	}
	return syscall.EIO
}

func (v *view) fillAttr(a zpl.Attr, out *fuse.Attr) {
	out.Ino = v.base | a.Ino
	out.Size = a.Size
	out.Blocks = (a.Size + 511) / 512
	out.Blksize = 4096
	out.Mode = a.Mode
	out.Nlink = a.Nlink
	out.Uid, out.Gid = a.UID, a.GID
	out.Rdev = a.Rdev
	out.Atime, out.Atimensec = uint64(a.Atime/1e9), uint32(a.Atime%1e9)
	out.Mtime, out.Mtimensec = uint64(a.Mtime/1e9), uint32(a.Mtime%1e9)
	out.Ctime, out.Ctimensec = uint64(a.Ctime/1e9), uint32(a.Ctime%1e9)
}

// child returns the kernel-facing inode for a, filling out.
func (n *node) child(ctx context.Context, a zpl.Attr, out *fuse.EntryOut) *gofs.Inode {
	n.v.fillAttr(a, &out.Attr)
	out.SetEntryTimeout(n.v.timeout)
	out.SetAttrTimeout(n.v.timeout)
	return n.NewInode(ctx, &node{v: n.v, id: a.Ino}, gofs.StableAttr{Mode: a.Mode & syscall.S_IFMT, Ino: n.v.base | a.Ino, Gen: a.Gen})
}

func caller(ctx context.Context) (uint32, uint32) {
	if c, ok := fuse.FromContext(ctx); ok {
		return c.Uid, c.Gid
	}
	return 0, 0
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if n.v.live && n.id == n.v.fs.Root() && name == CofferDir && n.v.m.snaps != nil {
		return n.v.m.cofferInode(ctx, n, out), 0
	}
	a, err := n.v.fs.Lookup(n.id, name)
	if err != nil {
		return nil, errno(err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	a, err := n.v.fs.Getattr(n.id)
	if err != nil {
		return errno(err)
	}
	n.v.fillAttr(a, &out.Attr)
	out.SetTimeout(n.v.timeout)
	return 0
}

func (n *node) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	var s zpl.SetAttr
	if m, ok := in.GetMode(); ok {
		s.Mode = &m
	}
	if u, ok := in.GetUID(); ok {
		s.UID = &u
	}
	if g, ok := in.GetGID(); ok {
		s.GID = &g
	}
	if sz, ok := in.GetSize(); ok {
		s.Size = &sz
	}
	if t, ok := in.GetATime(); ok {
		ns := t.UnixNano()
		s.Atime = &ns
	}
	if t, ok := in.GetMTime(); ok {
		ns := t.UnixNano()
		s.Mtime = &ns
	}
	if in.Valid&fuse.FATTR_KILL_SUIDGID != 0 && s.Mode == nil {
		// A chown, or a truncate by a caller without CAP_FSETID, with
		// FUSE_HANDLE_KILLPRIV_V2 (mount.go): the kernel left clearing the
		// set-ID bits to the daemon. The file capabilities are the
		// kernel's to remove, as without the capability.
		cur, err := n.v.fs.Getattr(n.id)
		if err != nil {
			return errno(err)
		}
		uid, gid := caller(ctx)
		m := killSetID(cur.Mode, cur.GID, uid, gid)
		if cur.Mode&syscall.S_IFMT != syscall.S_IFDIR && m != cur.Mode&0o7777 {
			s.Mode = &m
		}
	}
	var a zpl.Attr
	var err error
	if s.Size != nil {
		// A size change must not race a store of the old data (pagecache.go).
		n.ps.change(func() { a, err = n.v.fs.Setattr(n.id, s) })
	} else {
		a, err = n.v.fs.Setattr(n.id, s)
	}
	if err != nil {
		return errno(err)
	}
	n.v.fillAttr(a, &out.Attr)
	out.SetTimeout(n.v.timeout)
	return 0
}

// handle is an open file; releasing it may free an unlinked inode.
type handle struct {
	n        *node
	writable bool // counted in n.ps.writers
}

func (h *handle) Release(ctx context.Context) syscall.Errno {
	if h.writable {
		// The kernel sends RELEASE after every WRITE through the handle
		// was answered: from here on the data can be stored again.
		h.n.ps.change(func() { h.n.ps.writers.Add(-1) })
	}
	return errno(h.n.v.fs.Release(h.n.id))
}

// openFlags are the flags of an open handle opened with flags; the kernel
// drops the file's cached pages at an open without FOPEN_KEEP_CACHE.
//
// A write-only open of a live file is answered with FOPEN_DIRECT_IO: the
// kernel then hands the writer's own pages to the WRITE instead of first
// copying them into page-cache pages that nobody reads (a write-only
// descriptor can neither read nor mmap). That is one copy and a page cache
// of the file's size less per write; see "FUSE write path" in
// docs/design/architecture.md. Readers of the same file keep their cache:
// the kernel drops the cached pages of a range after a direct write to it.
// The kernel does not clear set-ID bits or file capabilities before a
// direct write; Write does (killPrivs), for every handle.
func (n *node) openFlags(flags uint32) uint32 {
	if n.v.live {
		n.ps.dropped()
		if flags&syscall.O_ACCMODE == syscall.O_WRONLY {
			return fuse.FOPEN_DIRECT_IO
		}
		return 0
	}
	return fuse.FOPEN_KEEP_CACHE // snapshots never change
}

// newHandle makes the handle of an open with flags and the open flags
// of the answer.
func (n *node) newHandle(flags uint32) (*handle, uint32) {
	h := &handle{n: n, writable: flags&syscall.O_ACCMODE != syscall.O_RDONLY}
	if h.writable {
		n.ps.change(func() { n.ps.writers.Add(1) })
	}
	of := n.openFlags(flags)
	return h, of
}

func (n *node) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	uid, gid := caller(ctx)
	a, err := n.v.fs.Create(n.id, name, mode, uid, gid)
	if err != nil {
		return nil, nil, 0, errno(err)
	}
	if _, err := n.v.fs.OpenFile(a.Ino); err != nil {
		return nil, nil, 0, errno(err)
	}
	ch := n.child(ctx, a, out)
	cn := ch.Operations().(*node)
	h, of := cn.newHandle(flags)
	return ch, h, of, 0
}

func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if n.v.fs.ReadOnly() && flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		return nil, 0, syscall.EROFS
	}
	if flags&syscall.O_TRUNC != 0 && !n.v.fs.ReadOnly() {
		var zero uint64
		var err error
		n.ps.change(func() { _, err = n.v.fs.Setattr(n.id, zpl.SetAttr{Size: &zero}) })
		if err != nil {
			return nil, 0, errno(err)
		}
	}
	if _, err := n.v.fs.OpenFile(n.id); err != nil {
		return nil, 0, errno(err)
	}
	h, of := n.newHandle(flags)
	return h, of, 0
}

func (n *node) Read(ctx context.Context, f gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	n.v.m.stats.reads.Add(1)
	// Replies go out with writev, not go-fuse's splice: a 1 MiB READ with
	// its header does not fit the pipe (pipe-max-size), which makes every
	// such reply fail over noisily.
	r, err := n.readRecord(dest, uint64(off))
	if err != nil {
		return nil, errno(err)
	}
	return r, 0
}

func (n *node) Write(ctx context.Context, f gofs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	defer n.ps.gen.Add(1) // only a second guard: a write needs a writable handle
	if e := n.killPrivs(ctx); e != 0 {
		return 0, e
	}
	k, err := n.v.fs.Write(n.id, data, uint64(off))
	if err != nil {
		return 0, errno(err)
	}
	return uint32(k), 0
}

func (n *node) Allocate(ctx context.Context, f gofs.FileHandle, off uint64, size uint64, mode uint32) syscall.Errno {
	defer n.ps.gen.Add(1) // as in Write
	return errno(n.v.fs.Allocate(n.id, off, size, mode))
}

func (n *node) Fsync(ctx context.Context, f gofs.FileHandle, flags uint32) syscall.Errno {
	return errno(n.v.fs.Sync())
}

// Flush answers ENOSYS, after which the kernel sends no more FLUSH on this
// mount: close(2) then waits for no round trip. Nothing is pending at a
// close: a WRITE is answered once its data is in the object set.
func (n *node) Flush(ctx context.Context, f gofs.FileHandle) syscall.Errno { return syscall.ENOSYS }

func (n *node) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	uid, gid := caller(ctx)
	a, err := n.v.fs.Mkdir(n.id, name, mode, uid, gid)
	if err != nil {
		return nil, errno(err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Mknod(ctx context.Context, name string, mode uint32, dev uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	uid, gid := caller(ctx)
	a, err := n.v.fs.Mknod(n.id, name, mode, dev, uid, gid)
	if err != nil {
		return nil, errno(err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Rmdir(ctx context.Context, name string) syscall.Errno {
	return errno(n.v.fs.Rmdir(n.id, name))
}

func (n *node) Unlink(ctx context.Context, name string) syscall.Errno {
	return errno(n.v.fs.Unlink(n.id, name))
}

func (n *node) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*node)
	if !ok || np.v != n.v {
		return syscall.EXDEV
	}
	return errno(n.v.fs.Rename(n.id, name, np.id, newName, flags))
}

func (n *node) Symlink(ctx context.Context, target, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	uid, gid := caller(ctx)
	a, err := n.v.fs.Symlink(n.id, name, target, uid, gid)
	if err != nil {
		return nil, errno(err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	s, err := n.v.fs.Readlink(n.id)
	if err != nil {
		return nil, errno(err)
	}
	return []byte(s), 0
}

func (n *node) Link(ctx context.Context, target gofs.InodeEmbedder, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	t, ok := target.(*node)
	if !ok || t.v != n.v {
		return nil, syscall.EXDEV
	}
	a, err := n.v.fs.Link(t.id, n.id, name)
	if err != nil {
		return nil, errno(err)
	}
	return n.child(ctx, a, out), 0
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	st := n.v.fs.Statfs()
	out.Bsize, out.Frsize = st.Bsize, st.Bsize
	out.Blocks, out.Bfree, out.Bavail = st.Blocks, st.Bfree, st.Bfree
	out.Files, out.Ffree = st.Files, st.Ffree
	out.NameLen = zpl.MaxNameLen
	return 0
}

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	v, err := n.v.fs.Getxattr(n.id, attr)
	if err != nil {
		return 0, errno(err)
	}
	if len(dest) < len(v) {
		return uint32(len(v)), syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

func (n *node) Setxattr(ctx context.Context, attr string, data []byte, flags uint32) syscall.Errno {
	return errno(n.v.fs.Setxattr(n.id, attr, data, flags))
}

func (n *node) Removexattr(ctx context.Context, attr string) syscall.Errno {
	return errno(n.v.fs.Removexattr(n.id, attr))
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	names, err := n.v.fs.Listxattr(n.id)
	if err != nil {
		return 0, errno(err)
	}
	var b []byte
	for _, s := range names {
		b = append(append(b, s...), 0)
	}
	if len(dest) < len(b) {
		return uint32(len(b)), syscall.ERANGE
	}
	return uint32(copy(dest, b)), 0
}

// killPrivs does for every WRITE what the kernel does itself before a
// cached write without FUSE_HANDLE_KILLPRIV_V2 (file_remove_privs), and
// leaves to the daemon for direct I/O and, with that capability (mount.go),
// for all writes:
//   - any writer removes the file capabilities (security.capability);
//   - a writer other than root clears the set-user-ID bit, and the
//     set-group-ID bit when the file is group-executable or the writer's
//     group is not the file's (killSetID).
//
// Without it, an unprivileged user could change a writable set-user-ID or
// capability-carrying program and keep its privileges. The cached
// attributes are invalidated after a mode change: Linux 6.18 refetches
// them after a direct write anyway, the notification covers kernels that
// keep the cached mode.
func (n *node) killPrivs(ctx context.Context) syscall.Errno {
	a, err := n.v.fs.Getattr(n.id)
	if err != nil {
		return errno(err)
	}
	if a.Xattr != 0 {
		err := n.v.fs.Removexattr(n.id, xattrCapability)
		if err != nil && !errors.Is(err, syscall.ENODATA) {
			return errno(err)
		}
	}
	mode := a.Mode & 0o7777
	if mode&(syscall.S_ISUID|syscall.S_ISGID) == 0 {
		return 0
	}
	uid, gid := caller(ctx)
	if uid == 0 {
		return 0
	}
	if mode = killSetID(mode, a.GID, uid, gid); mode == a.Mode&0o7777 {
		return 0
	}
	if _, err := n.v.fs.Setattr(n.id, zpl.SetAttr{Mode: &mode}); err != nil {
		return errno(err)
	}
	// Attributes only (offset < 0): the kernel takes no page or inode
	// lock for it, so it is safe from within the WRITE.
	_ = n.NotifyContent(-1, 0)
	return 0
}

// killSetID is mode (permission bits) with the set-ID bits cleared that a
// write, truncate or chown by caller uid, gid clears, as Linux's
// setattr_should_drop_suidgid: set-user-ID always; set-group-ID when the
// file is group-executable or, for a caller other than root, when the
// caller's group is not the file's group fileGID (the kernel also spares
// a caller in that group through a supplementary group; FUSE does not pass
// those, so such a caller clears the bit too).
func killSetID(mode, fileGID, uid, gid uint32) uint32 {
	kill := uint32(syscall.S_ISUID)
	if mode&syscall.S_IXGRP != 0 || (uid != 0 && gid != fileGID) {
		kill |= syscall.S_ISGID
	}
	return mode & 0o7777 &^ kill
}

// xattrCapability holds a file's capabilities (setcap(8)).
const xattrCapability = "security.capability"
