package zpl

import (
	"syscall"

	"coffer/internal/format"
)

// Rename flags (renameat2).
const (
	RenameNoReplace = 1 // RENAME_NOREPLACE
	RenameExchange  = 2 // RENAME_EXCHANGE
)

// Getattr returns the attributes of inode id.
func (fs *FS) Getattr(id uint64) (Attr, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	ino, err := fs.inode(id)
	if err != nil {
		return Attr{}, err
	}
	return ino.a, nil
}

// SetAttr lists the attributes Setattr changes; nil fields stay.
type SetAttr struct {
	Mode  *uint32 // permission bits (07777)
	UID   *uint32
	GID   *uint32
	Size  *uint64
	Atime *int64
	Mtime *int64
}

// Setattr changes attributes (chmod, chown, truncate, utimens).
func (fs *FS) Setattr(id uint64, s SetAttr) (Attr, error) {
	if err := fs.writable(); err != nil {
		return Attr{}, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ino, err := fs.inode(id)
	if err != nil {
		return Attr{}, err
	}
	now := fs.now()
	if s.Size != nil {
		if ino.a.IsDir() {
			return Attr{}, syscall.EISDIR
		}
		if ino.a.Mode&ModeType != ModeRegular {
			return Attr{}, syscall.EINVAL
		}
		if err := fs.truncate(ino, *s.Size); err != nil {
			return Attr{}, err
		}
		ino.a.Mtime = now
	}
	if s.Mode != nil {
		ino.a.Mode = ino.a.Mode&ModeType | *s.Mode&0o7777
	}
	if s.UID != nil {
		ino.a.UID = *s.UID
	}
	if s.GID != nil {
		ino.a.GID = *s.GID
	}
	if s.Atime != nil {
		ino.a.Atime = *s.Atime
	}
	if s.Mtime != nil {
		ino.a.Mtime = *s.Mtime
	}
	ino.a.Ctime = now
	if err := fs.store(ino); err != nil {
		return Attr{}, err
	}
	return ino.a, nil
}

// dirOf loads directory id for a namespace operation; mu held.
func (fs *FS) dirOf(id uint64) (*inode, *dirIndex, error) {
	d, err := fs.inode(id)
	if err != nil {
		return nil, nil, err
	}
	if !d.a.IsDir() {
		return nil, nil, syscall.ENOTDIR
	}
	if d.a.Nlink == 0 {
		return nil, nil, syscall.ENOENT // removed directory
	}
	ix, err := fs.dirLoad(d)
	return d, ix, err
}

// Lookup finds name in directory dir.
func (fs *FS) Lookup(dir uint64, name string) (Attr, error) {
	if len(name) > MaxNameLen {
		return Attr{}, syscall.ENAMETOOLONG
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	_, ix, err := fs.dirOf(dir)
	if err != nil {
		return Attr{}, err
	}
	e, ok := ix.ents[name]
	if !ok {
		return Attr{}, syscall.ENOENT
	}
	ino, err := fs.inode(e.id)
	if err != nil {
		return Attr{}, err
	}
	return ino.a, nil
}

// create makes a new inode named name in dir; mu held.
func (fs *FS) create(dir uint64, name string, t format.ObjectType, a Attr) (*inode, error) {
	if err := fs.writable(); err != nil {
		return nil, err
	}
	if err := validName(name); err != nil {
		return nil, err
	}
	d, ix, err := fs.dirOf(dir)
	if err != nil {
		return nil, err
	}
	if _, ok := ix.ents[name]; ok {
		return nil, syscall.EEXIST
	}
	if d.a.Mode&syscall.S_ISGID != 0 { // BSD group semantics of setgid directories
		a.GID = d.a.GID
		if a.IsDir() {
			a.Mode |= syscall.S_ISGID
		}
	}
	now := fs.now()
	a.Atime, a.Mtime, a.Ctime, a.Crtime = now, now, now, now
	a.Parent = dir
	ino, err := fs.newInode(t, a)
	if err != nil {
		return nil, err
	}
	if err := fs.dirAdd(d, name, ino.a.Ino, a.Mode); err != nil {
		return nil, err
	}
	if a.IsDir() {
		d.a.Nlink++
	}
	d.a.Mtime, d.a.Ctime = now, now
	if err := fs.store(d); err != nil {
		return nil, err
	}
	return ino, nil
}

// Create makes a regular file. mode holds the permission bits.
func (fs *FS) Create(dir uint64, name string, mode, uid, gid uint32) (Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ino, err := fs.create(dir, name, format.ObjectPlain, Attr{Mode: ModeRegular | mode&0o7777, UID: uid, GID: gid, Nlink: 1})
	if err != nil {
		return Attr{}, err
	}
	return ino.a, nil
}

// Mkdir makes a directory.
func (fs *FS) Mkdir(dir uint64, name string, mode, uid, gid uint32) (Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ino, err := fs.create(dir, name, format.ObjectDir, Attr{Mode: ModeDir | mode&0o7777, UID: uid, GID: gid, Nlink: 2})
	if err != nil {
		return Attr{}, err
	}
	return ino.a, nil
}

// Mknod makes a FIFO, socket or device node (mode holds the type).
func (fs *FS) Mknod(dir uint64, name string, mode, rdev, uid, gid uint32) (Attr, error) {
	switch mode & ModeType {
	case syscall.S_IFIFO, syscall.S_IFSOCK, syscall.S_IFCHR, syscall.S_IFBLK:
	case ModeRegular, 0:
		return fs.Create(dir, name, mode&0o7777, uid, gid)
	default:
		return Attr{}, syscall.EINVAL
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ino, err := fs.create(dir, name, format.ObjectPlain, Attr{Mode: mode, UID: uid, GID: gid, Nlink: 1, Rdev: rdev})
	if err != nil {
		return Attr{}, err
	}
	return ino.a, nil
}

// Symlink makes a symbolic link to target.
func (fs *FS) Symlink(dir uint64, name, target string, uid, gid uint32) (Attr, error) {
	if len(target) == 0 || len(target) > 4095 {
		return Attr{}, syscall.ENAMETOOLONG
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ino, err := fs.create(dir, name, format.ObjectSymlink, Attr{Mode: ModeSymlink | 0o777, UID: uid, GID: gid, Nlink: 1})
	if err != nil {
		return Attr{}, err
	}
	if err := ino.obj.Write([]byte(target), 0); err != nil {
		return Attr{}, ioErr(err)
	}
	ino.a.Size = uint64(len(target))
	if err := fs.store(ino); err != nil {
		return Attr{}, err
	}
	return ino.a, nil
}

// Readlink returns a symlink's target.
func (fs *FS) Readlink(id uint64) (string, error) {
	fs.mu.RLock()
	defer fs.mu.RUnlock()
	ino, err := fs.inode(id)
	if err != nil {
		return "", err
	}
	if ino.a.Mode&ModeType != ModeSymlink {
		return "", syscall.EINVAL
	}
	b := make([]byte, ino.a.Size)
	if err := ino.obj.Read(b, 0); err != nil {
		return "", ioErr(err)
	}
	return string(b), nil
}

// Link makes a new name for inode id (not a directory).
func (fs *FS) Link(id, dir uint64, name string) (Attr, error) {
	if err := fs.writable(); err != nil {
		return Attr{}, err
	}
	if err := validName(name); err != nil {
		return Attr{}, err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ino, err := fs.inode(id)
	if err != nil {
		return Attr{}, err
	}
	if ino.a.IsDir() {
		return Attr{}, syscall.EPERM
	}
	if ino.a.Nlink == 0 {
		return Attr{}, syscall.ENOENT
	}
	if ino.a.Nlink >= 1<<31 {
		return Attr{}, syscall.EMLINK
	}
	d, ix, err := fs.dirOf(dir)
	if err != nil {
		return Attr{}, err
	}
	if _, ok := ix.ents[name]; ok {
		return Attr{}, syscall.EEXIST
	}
	// nlink first: a commit between the two steps leaves one link too
	// many (leaked space), never a name without a link.
	now := fs.now()
	ino.a.Nlink++
	ino.a.Ctime = now
	if err := fs.store(ino); err != nil {
		return Attr{}, err
	}
	if err := fs.dirAdd(d, name, id, ino.a.Mode); err != nil {
		return Attr{}, err
	}
	d.a.Mtime, d.a.Ctime = now, now
	if err := fs.store(d); err != nil {
		return Attr{}, err
	}
	return ino.a, nil
}

// Unlink removes a non-directory name.
func (fs *FS) Unlink(dir uint64, name string) error {
	return fs.remove(dir, name, false)
}

// Rmdir removes an empty directory.
func (fs *FS) Rmdir(dir uint64, name string) error {
	return fs.remove(dir, name, true)
}

func (fs *FS) remove(dir uint64, name string, isDir bool) error {
	if err := fs.writable(); err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	d, ix, err := fs.dirOf(dir)
	if err != nil {
		return err
	}
	e, ok := ix.ents[name]
	if !ok {
		return syscall.ENOENT
	}
	ino, err := fs.inode(e.id)
	if err != nil {
		return err
	}
	if isDir {
		if !ino.a.IsDir() {
			return syscall.ENOTDIR
		}
		if err := fs.checkEmpty(ino); err != nil {
			return err
		}
	} else if ino.a.IsDir() {
		return syscall.EISDIR
	}
	if err := fs.dirRemove(d, name); err != nil {
		return err
	}
	now := fs.now()
	if ino.a.IsDir() {
		d.a.Nlink--
	}
	d.a.Mtime, d.a.Ctime = now, now
	if err := fs.store(d); err != nil {
		return err
	}
	return fs.dropLink(ino, now)
}

func (fs *FS) checkEmpty(d *inode) error {
	ix, err := fs.dirLoad(d)
	if err != nil {
		return err
	}
	if len(ix.ents) > 0 {
		return syscall.ENOTEMPTY
	}
	return nil
}

// dropLink removes one link of ino (all links of a directory); at zero the
// inode is freed, or parked in the unlinked set while it is open.
func (fs *FS) dropLink(ino *inode, now int64) error {
	if ino.a.IsDir() {
		ino.a.Nlink = 0
	} else if ino.a.Nlink > 0 {
		ino.a.Nlink--
	}
	ino.a.Ctime = now
	if ino.a.Nlink > 0 {
		return fs.store(ino)
	}
	if fs.opens[ino.a.Ino] > 0 {
		ul, err := fs.inode(fs.unlinked)
		if err != nil {
			return err
		}
		if err := fs.dirAdd(ul, unlinkedName(ino.a.Ino), ino.a.Ino, ino.a.Mode); err != nil {
			return err
		}
		if err := fs.store(ul); err != nil {
			return err
		}
		return fs.store(ino)
	}
	return fs.free(ino)
}

// OpenFile records an open handle on id: an unlinked inode stays until
// its last handle is released.
func (fs *FS) OpenFile(id uint64) (Attr, error) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	ino, err := fs.inode(id)
	if err != nil {
		return Attr{}, err
	}
	fs.opens[id]++
	return ino.a, nil
}

// Release drops an open handle on id; the last release of an unlinked
// inode frees it.
func (fs *FS) Release(id uint64) error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if fs.opens[id] > 1 {
		fs.opens[id]--
		return nil
	}
	delete(fs.opens, id)
	ino, err := fs.inode(id)
	if err != nil || ino.a.Nlink > 0 || fs.opts.ReadOnly {
		return nil
	}
	ul, err := fs.inode(fs.unlinked)
	if err != nil {
		return err
	}
	if err := fs.dirRemove(ul, unlinkedName(id)); err != nil && err != syscall.ENOENT {
		return err
	}
	if err := fs.store(ul); err != nil {
		return err
	}
	return fs.free(ino)
}

// isAncestor reports whether directory a is dir or one of its ancestors.
func (fs *FS) isAncestor(a, dir uint64) (bool, error) {
	for i := 0; ; i++ {
		if dir == a {
			return true, nil
		}
		if dir == fs.root || i > 1<<16 {
			return false, nil
		}
		d, err := fs.inode(dir)
		if err != nil {
			return false, err
		}
		dir = d.a.Parent
	}
}

// Rename moves srcDir/src to dstDir/dst with POSIX rules; flags may hold
// RenameNoReplace or RenameExchange.
func (fs *FS) Rename(srcDir uint64, src string, dstDir uint64, dst string, flags uint32) error {
	if err := fs.writable(); err != nil {
		return err
	}
	if flags&^(RenameNoReplace|RenameExchange) != 0 || flags == RenameNoReplace|RenameExchange {
		return syscall.EINVAL
	}
	if err := validName(dst); err != nil {
		return err
	}
	fs.mu.Lock()
	defer fs.mu.Unlock()
	sd, six, err := fs.dirOf(srcDir)
	if err != nil {
		return err
	}
	dd, dix, err := fs.dirOf(dstDir)
	if err != nil {
		return err
	}
	se, ok := six.ents[src]
	if !ok {
		return syscall.ENOENT
	}
	sino, err := fs.inode(se.id)
	if err != nil {
		return err
	}
	de, exists := dix.ents[dst]
	now := fs.now()
	if flags&RenameExchange != 0 {
		if !exists {
			return syscall.ENOENT
		}
		return fs.exchange(sd, src, sino, dd, dst, de, now)
	}
	if exists && flags&RenameNoReplace != 0 {
		return syscall.EEXIST
	}
	if sino.a.IsDir() && srcDir != dstDir {
		// A directory cannot move below itself.
		under, err := fs.isAncestor(sino.a.Ino, dstDir)
		if err != nil {
			return err
		}
		if under {
			return syscall.EINVAL
		}
	}
	if exists && de.id == se.id {
		return nil // two links to one inode: nothing to do (POSIX)
	}
	var dino *inode
	if exists {
		if dino, err = fs.inode(de.id); err != nil {
			return err
		}
		switch {
		case sino.a.IsDir() && !dino.a.IsDir():
			return syscall.ENOTDIR
		case !sino.a.IsDir() && dino.a.IsDir():
			return syscall.EISDIR
		case dino.a.IsDir():
			if err := fs.checkEmpty(dino); err != nil {
				return err
			}
		}
	}
	// While both names exist the inode counts both: a commit between the
	// steps never leaves a name whose inode could be freed under it.
	extra := uint32(0)
	if !sino.a.IsDir() {
		extra = 1
		sino.a.Nlink++
		if err := fs.store(sino); err != nil {
			return err
		}
	}
	if exists {
		if err := fs.dirSet(dd, dst, sino.a.Ino, sino.a.Mode); err != nil {
			return err
		}
		if dino.a.IsDir() {
			dd.a.Nlink-- // the replaced directory's ".."
		}
		if err := fs.dropLink(dino, now); err != nil {
			return err
		}
	} else if err := fs.dirAdd(dd, dst, sino.a.Ino, sino.a.Mode); err != nil {
		return err
	}
	if err := fs.dirRemove(sd, src); err != nil {
		return err
	}
	sino.a.Nlink -= extra
	if sino.a.IsDir() && srcDir != dstDir {
		sd.a.Nlink--
		dd.a.Nlink++
	}
	sino.a.Parent = dstDir
	sino.a.Ctime = now
	sd.a.Mtime, sd.a.Ctime = now, now
	dd.a.Mtime, dd.a.Ctime = now, now
	for _, ino := range []*inode{sino, sd, dd} {
		if err := fs.store(ino); err != nil {
			return err
		}
	}
	return nil
}

func (fs *FS) exchange(sd *inode, src string, sino *inode, dd *inode, dst string, de dent, now int64) error {
	dino, err := fs.inode(de.id)
	if err != nil {
		return err
	}
	if sd != dd {
		for _, x := range []struct{ moving, into *inode }{{sino, dd}, {dino, sd}} {
			if x.moving.a.IsDir() {
				under, err := fs.isAncestor(x.moving.a.Ino, x.into.a.Ino)
				if err != nil {
					return err
				}
				if under {
					return syscall.EINVAL
				}
			}
		}
	}
	if err := fs.dirSet(sd, src, dino.a.Ino, dino.a.Mode); err != nil {
		return err
	}
	if err := fs.dirSet(dd, dst, sino.a.Ino, sino.a.Mode); err != nil {
		return err
	}
	if sd != dd {
		if sino.a.IsDir() {
			sd.a.Nlink--
			dd.a.Nlink++
		}
		if dino.a.IsDir() {
			dd.a.Nlink--
			sd.a.Nlink++
		}
	}
	sino.a.Parent, dino.a.Parent = dd.a.Ino, sd.a.Ino
	sino.a.Ctime, dino.a.Ctime = now, now
	sd.a.Mtime, sd.a.Ctime = now, now
	dd.a.Mtime, dd.a.Ctime = now, now
	for _, ino := range []*inode{sino, dino, sd, dd} {
		if err := fs.store(ino); err != nil {
			return err
		}
	}
	return nil
}
