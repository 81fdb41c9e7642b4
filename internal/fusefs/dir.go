package fusefs

import (
	"context"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"coffer/internal/zpl"
)

// dirHandle reads a directory in batches; its offsets are zpl cookies, so
// a seek (telldir/seekdir, or the kernel resuming) lands on the same entry
// even after the directory changed. Offsets 1 and 2 follow "." and "..".
type dirHandle struct {
	n      *node
	pos    uint64 // 0: before ".", 1: before "..", else a zpl cookie (2: start)
	batch  []zpl.DirEntry
	eof    bool
	cookie uint64 // where the next batch starts
}

var (
	_ gofs.FileReaddirenter = (*dirHandle)(nil)
	_ gofs.FileSeekdirer    = (*dirHandle)(nil)
	_ gofs.FileFsyncdirer   = (*dirHandle)(nil)
)

const dirBatch = 512

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if _, err := n.v.fs.Getattr(n.id); err != nil {
		return nil, 0, errno(err)
	}
	return &dirHandle{n: n}, 0, 0
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	d.pos, d.batch, d.eof = off, nil, false
	d.cookie = max(off, 2)
	return 0
}

func (d *dirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	return errno(d.n.v.fs.Sync())
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	v := d.n.v
	switch d.pos {
	case 0:
		d.pos, d.cookie = 1, 2
		return &fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: v.base | d.n.id, Off: 1}, 0
	case 1:
		d.pos, d.cookie = 2, 2
		a, err := v.fs.Getattr(d.n.id)
		if err != nil {
			return nil, errno(err)
		}
		return &fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR, Ino: v.base | a.Parent, Off: 2}, 0
	}
	if len(d.batch) == 0 {
		if d.eof {
			return nil, 0
		}
		err := v.fs.ReadDir(d.n.id, d.cookie, func(e zpl.DirEntry) bool {
			d.batch = append(d.batch, e)
			return len(d.batch) < dirBatch
		})
		if err != nil {
			return nil, errno(err)
		}
		if len(d.batch) < dirBatch {
			d.eof = true
		}
		if len(d.batch) == 0 {
			return nil, 0
		}
		d.cookie = d.batch[len(d.batch)-1].Next
	}
	e := d.batch[0]
	d.batch = d.batch[1:]
	d.pos = e.Next
	return &fuse.DirEntry{Name: e.Name, Mode: e.Mode, Ino: v.base | e.Ino, Off: e.Next}, 0
}
