package zpl

import (
	"errors"
	"fmt"

	"coffer/internal/dmu"
)

// Check walks the whole file system and reports every inconsistency:
// entries pointing at missing inodes, link counts that differ from the
// names found, wrong parent pointers, unlinked-set members that still have
// links, and objects no name, xattr reference or unlinked entry reaches
// (leaked space). Open handles count as references for unlinked inodes.
// It holds the namespace lock for the duration.
func (fs *FS) Check() error {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	var errs []error
	bad := func(format string, args ...any) {
		if len(errs) < 50 {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	names := map[uint64]uint32{} // inode → names seen
	subdirs := map[uint64]uint32{}
	reached := map[uint64]bool{MasterObject: true, fs.root: true, fs.unlinked: true}
	queue := []uint64{fs.root}
	for len(queue) > 0 {
		dir := queue[0]
		queue = queue[1:]
		d, err := fs.inode(dir)
		if err != nil {
			bad("directory %d: %v", dir, err)
			continue
		}
		ix, err := fs.dirLoad(d)
		if err != nil {
			bad("directory %d: %v", dir, err)
			continue
		}
		for name, e := range ix.ents {
			ino, err := fs.inode(e.id)
			if err != nil {
				bad("%d/%q → %d: %v", dir, name, e.id, err)
				continue
			}
			if uint32(e.typ)<<12 != ino.a.Mode&ModeType {
				bad("%d/%q: entry type %o, inode mode %o", dir, name, uint32(e.typ)<<12, ino.a.Mode&ModeType)
			}
			names[e.id]++
			if ino.a.IsDir() {
				subdirs[dir]++
				if ino.a.Parent != dir {
					bad("directory %d (%q) has parent %d, found in %d", e.id, name, ino.a.Parent, dir)
				}
				if reached[e.id] {
					bad("directory %d linked twice", e.id)
					continue
				}
				queue = append(queue, e.id)
			}
			reached[e.id] = true
			if ino.a.Xattr != 0 {
				reached[ino.a.Xattr] = true
			}
		}
	}
	for id, n := range names {
		ino, _ := fs.inode(id)
		want := n
		if ino.a.IsDir() {
			want = 2 + subdirs[id]
		}
		if ino.a.Nlink != want {
			bad("inode %d: nlink %d, want %d", id, ino.a.Nlink, want)
		}
	}
	if r, err := fs.inode(fs.root); err == nil {
		if want := 2 + subdirs[fs.root]; r.a.Nlink != want {
			bad("root: nlink %d, want %d", r.a.Nlink, want)
		}
		if r.a.Xattr != 0 {
			reached[r.a.Xattr] = true
		}
	}
	if ul, err := fs.inode(fs.unlinked); err != nil {
		bad("unlinked set: %v", err)
	} else if ix, err := fs.dirLoad(ul); err != nil {
		bad("unlinked set: %v", err)
	} else {
		for _, e := range ix.ents {
			ino, err := fs.inode(e.id)
			if err != nil {
				bad("unlinked set → %d: %v", e.id, err)
				continue
			}
			if ino.a.Nlink != 0 {
				bad("unlinked inode %d has nlink %d", e.id, ino.a.Nlink)
			}
			reached[e.id] = true
			if ino.a.Xattr != 0 {
				reached[ino.a.Xattr] = true
			}
		}
	}
	for id := uint64(MasterObject + 1); id <= fs.os.MaxObjectID(); id++ {
		if reached[id] {
			continue
		}
		if _, err := fs.os.Object(id); err == nil {
			bad("object %d is not reachable (leaked)", id)
		} else if !errors.Is(err, dmu.ErrNoObject) {
			bad("object %d: %v", id, err)
		}
	}
	return errors.Join(errs...)
}
