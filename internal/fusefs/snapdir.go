package fusefs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// Inode numbers of the virtual directories, above every view's range.
const (
	inoCoffer   = 1<<63 | 1
	inoSnapshot = 1<<63 | 2
	viewShift   = 44 // object ids stay below 2^44
)

// virtDir is a read-only virtual directory.
type virtDir struct {
	gofs.Inode
	m   *Mount
	ino uint64
}

var (
	_ gofs.NodeLookuper  = (*virtDir)(nil)
	_ gofs.NodeReaddirer = (*virtDir)(nil)
	_ gofs.NodeGetattrer = (*virtDir)(nil)
)

func (m *Mount) cofferInode(ctx context.Context, parent *node, out *fuse.EntryOut) *gofs.Inode {
	virtAttr(inoCoffer, &out.Attr)
	out.SetEntryTimeout(m.opts.Timeout)
	out.SetAttrTimeout(m.opts.Timeout)
	return parent.NewInode(ctx, &virtDir{m: m, ino: inoCoffer}, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: inoCoffer})
}

func virtAttr(ino uint64, out *fuse.Attr) {
	out.Ino = ino
	out.Mode = syscall.S_IFDIR | 0o555
	out.Nlink = 2
	out.Blksize = 4096
}

func (d *virtDir) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	virtAttr(d.ino, &out.Attr)
	return 0
}

func (d *virtDir) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	if d.ino == inoCoffer {
		return gofs.NewListDirStream([]fuse.DirEntry{{Name: "snapshot", Mode: syscall.S_IFDIR, Ino: inoSnapshot}}), 0
	}
	var list []fuse.DirEntry
	for _, s := range d.m.snaps.List() {
		list = append(list, fuse.DirEntry{Name: s, Mode: syscall.S_IFDIR})
	}
	return gofs.NewListDirStream(list), 0
}

func (d *virtDir) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if d.ino == inoCoffer {
		if name != "snapshot" {
			return nil, syscall.ENOENT
		}
		virtAttr(inoSnapshot, &out.Attr)
		return d.NewInode(ctx, &virtDir{m: d.m, ino: inoSnapshot}, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: inoSnapshot}), 0
	}
	v, err := d.m.snapshotView(name)
	if err != nil {
		return nil, errno(err)
	}
	a, err := v.fs.Getattr(v.fs.Root())
	if err != nil {
		return nil, errno(err)
	}
	root := &node{v: v, id: a.Ino}
	v.fillAttr(a, &out.Attr)
	out.SetEntryTimeout(v.timeout)
	out.SetAttrTimeout(v.timeout)
	return d.NewInode(ctx, root, gofs.StableAttr{Mode: syscall.S_IFDIR, Ino: v.base | a.Ino, Gen: a.Gen}), 0
}

// snapshotView opens (once) the read-only view of snapshot name.
func (m *Mount) snapshotView(name string) (*view, error) {
	found := false
	for _, s := range m.snaps.List() {
		if s == name {
			found = true
		}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !found {
		delete(m.views, name) // destroyed: forget a stale view
		return nil, syscall.ENOENT
	}
	if v := m.views[name]; v != nil {
		return v, nil
	}
	fs, err := m.snaps.Open(name)
	if err != nil {
		return nil, err
	}
	m.nview++
	v := &view{fs: fs, base: m.nview << viewShift, timeout: m.opts.Timeout, m: m}
	m.views[name] = v
	return v, nil
}
