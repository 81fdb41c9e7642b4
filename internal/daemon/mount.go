package daemon

// File systems: mount and unmount through FUSE at the mountpoint property
// (zfs mount semantics), automatic mounts at daemon start (zfs-mount
// service), and unmount before shutdown, export, destroy and rollback.
// load-key does not mount (as in zfs): `coffer mount -a` does.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"

	"coffer/internal/api"
	"coffer/internal/dsl"
	"coffer/internal/fusefs"
	"coffer/internal/props"
	"coffer/internal/zpl"
)

var _ api.MountBackend = (*Daemon)(nil)

// mountTable holds the daemon's FUSE mounts.
type mountTable struct {
	mu     sync.Mutex // serializes mount and unmount
	byName sync.Map   // dataset name → *fsMount; read without locks by dsl's busy check
}

type fsMount struct {
	name string
	dp   *dsl.Pool
	dir  string
	m    *fusefs.Mount
	made bool // mount created dir: unmount removes it again (if empty), as zfs does
}

func (d *Daemon) mountTab() *mountTable {
	d.mountOnce.Do(func() { d.mounts = &mountTable{} })
	return d.mounts
}

// isMounted reports whether dataset name is mounted; it takes no lock, so
// the dataset layer may call it with its own lock held.
func (d *Daemon) isMounted(name string) bool {
	_, ok := d.mountTab().byName.Load(name)
	return ok
}

// mountedValue is the "mounted" property as the daemon knows it.
func (d *Daemon) mountedValue(name string) (string, bool) {
	if d.isMounted(name) {
		return "yes", true
	}
	return "", false
}

func (d *Daemon) Mounts(ctx context.Context, c api.Caller) (api.MountsResp, error) {
	resp := api.MountsResp{Mounts: []api.MountInfo{}}
	d.mountTab().byName.Range(func(k, v any) bool {
		fm := v.(*fsMount)
		resp.Mounts = append(resp.Mounts, api.MountInfo{Name: fm.name, Mountpoint: fm.dir})
		return true
	})
	sort.Slice(resp.Mounts, func(i, j int) bool { return resp.Mounts[i].Name < resp.Mounts[j].Name })
	return resp, nil
}

func (d *Daemon) Mount(ctx context.Context, c api.Caller, req api.MountReq) error {
	if req.All {
		if req.Name != "" {
			return api.Errorf(api.CodeUsage, "cannot specify dataset with -a")
		}
		return d.mountAll("")
	}
	if req.Name == "" {
		return api.Errorf(api.CodeUsage, "missing dataset argument")
	}
	dp, err := d.poolOf(req.Name)
	if err != nil {
		return err
	}
	return d.mountOne(dp, req.Name)
}

// mountAll mounts every mountable file system (canmount=on, key loaded)
// at or below under ("" for all pools), parents first. Failures are
// logged and joined; the others still mount.
func (d *Daemon) mountAll(under string) error {
	var errs []error
	for _, dp := range d.sortedPools() {
		root := dp.Name()
		if under != "" {
			pn, _, _ := strings.Cut(under, "/")
			if pn != root {
				continue
			}
			root = under
		}
		rows, err := dp.List(dsl.ListOpts{Names: []string{root}, Recursive: true, Types: props.TypeFilesystem,
			Props: []string{"canmount", "keystatus", "mountpoint"}})
		if err != nil {
			errs = append(errs, apiErr(err))
			continue
		}
		for _, r := range rows {
			if r.Props["canmount"].Stored != "on" || r.Props["keystatus"].Stored == "unavailable" || d.isMounted(r.Name) {
				continue
			}
			if mp := r.Props["mountpoint"].Stored; mp == "none" || mp == "legacy" {
				continue
			}
			if err := d.mountOne(dp, r.Name); err != nil {
				d.log.Error("mount failed", "dataset", r.Name, "err", err)
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// mountOne mounts file system name of dp at its mountpoint.
func (d *Daemon) mountOne(dp *dsl.Pool, name string) error {
	t := d.mountTab()
	t.mu.Lock()
	defer t.mu.Unlock()
	rows, err := dp.List(dsl.ListOpts{Names: []string{name}, Types: props.TypeAll,
		Props: []string{"type", "mountpoint", "canmount", "readonly", "keystatus"}})
	if err != nil {
		return apiErr(err)
	}
	p := rows[0].Props
	switch {
	case rows[0].Type != "filesystem":
		return api.Invalid("cannot mount '%s': operation not applicable to datasets of this type", name)
	case d.isMounted(name):
		return api.Busy("cannot mount '%s': filesystem already mounted", name)
	case p["canmount"].Stored == "off":
		return api.Invalid("cannot mount '%s': 'canmount' property is set to 'off'", name)
	case p["mountpoint"].Stored == "none":
		return api.Invalid("cannot mount '%s': no mountpoint set", name)
	case p["mountpoint"].Stored == "legacy":
		return api.Invalid("cannot mount '%s': legacy mountpoint: use mount(8)", name)
	case p["keystatus"].Stored == "unavailable":
		return api.KeyError("cannot mount '%s': encryption key not loaded", name)
	}
	dir := p["mountpoint"].Stored
	if !filepath.IsAbs(dir) {
		return api.Invalid("cannot mount '%s': mountpoint '%s' is not an absolute path", name, dir)
	}
	if err := clearStaleMount(dir); err != nil {
		return api.Errorf(api.CodeIO, "cannot mount '%s': %v", name, err)
	}
	_, statErr := os.Lstat(dir)
	made := errors.Is(statErr, os.ErrNotExist)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return api.Errorf(api.CodeIO, "cannot mount '%s': failed to create mountpoint: %v", name, err)
	}
	mounted := false
	defer func() {
		if made && !mounted {
			os.Remove(dir)
		}
	}()
	if empty, err := dirEmpty(dir); err != nil {
		return api.Errorf(api.CodeIO, "cannot mount '%s': %v", name, err)
	} else if !empty {
		return api.Busy("cannot mount '%s': directory '%s' is not empty", name, dir)
	}
	objs, err := dp.Objset(name)
	if err != nil {
		return apiErr(err)
	}
	fs, err := zpl.Open(objs, zpl.Options{
		ReadOnly:  p["readonly"].Stored == "on",
		NextTxg:   dp.NextTxg,
		Sync:      dp.Sync,
		MaybeSync: dp.MaybeSync,
		Space: func() (uint64, uint64) {
			s := dp.Raw().Space()
			return s.Size, s.Free
		},
	})
	if err != nil {
		return api.Errorf(api.CodeIO, "cannot mount '%s': %v", name, err)
	}
	m, err := fusefs.New(dir, fusefs.Options{FS: fs, Name: name, Snapshots: fusefs.DSLSnapshots(dp, name), ReadAheadKB: d.opts.ReadAheadKB})
	if err != nil {
		return api.Errorf(api.CodeIO, "cannot mount '%s': %v", name, err)
	}
	if _, err := m.ReadAhead(); err != nil {
		d.log.Warn("cannot set the mount's read-ahead; the kernel's default stays", "dataset", name, "err", err)
	}
	dp.SetBusy(d.isMounted)
	mounted = true
	fm := &fsMount{name: name, dp: dp, dir: dir, m: m, made: made}
	t.byName.Store(name, fm)
	go func() {
		<-m.Done() // unmounted from outside (umount(8)): forget it
		t.byName.CompareAndDelete(name, fm)
	}()
	d.log.Info("mounted", "dataset", name, "mountpoint", dir, "readonly", fs.ReadOnly())
	return nil
}

func (d *Daemon) Unmount(ctx context.Context, c api.Caller, req api.UnmountReq) error {
	if req.Name == "" {
		return api.Errorf(api.CodeUsage, "missing dataset argument")
	}
	name := req.Name
	if strings.HasPrefix(name, "/") {
		clean := filepath.Clean(name)
		name = ""
		d.mountTab().byName.Range(func(k, v any) bool {
			if v.(*fsMount).dir == clean {
				name = k.(string)
				return false
			}
			return true
		})
		if name == "" {
			return api.Invalid("cannot unmount '%s': not a coffer mountpoint", req.Name)
		}
	} else if _, err := d.poolOf(name); err != nil {
		return err
	}
	if !d.isMounted(name) {
		return api.Invalid("cannot unmount '%s': not currently mounted", name)
	}
	return d.unmountOne(name, req.Force)
}

// unmountOne unmounts name and commits what it wrote.
func (d *Daemon) unmountOne(name string, force bool) error {
	t := d.mountTab()
	t.mu.Lock()
	defer t.mu.Unlock()
	v, ok := t.byName.Load(name)
	if !ok {
		return nil
	}
	fm := v.(*fsMount)
	if err := fm.m.Unmount(force); err != nil {
		if errors.Is(err, syscall.EBUSY) {
			return api.Busy("cannot unmount '%s': pool or dataset is busy", fm.dir)
		}
		return api.Errorf(api.CodeIO, "cannot unmount '%s': %v", fm.dir, err)
	}
	t.byName.Delete(name)
	if fm.made {
		os.Remove(fm.dir) // only if empty; a directory the user made stays
	}
	d.log.Info("unmounted", "dataset", name, "mountpoint", fm.dir, "force", force)
	if err := fm.dp.Sync(); err != nil {
		return apiErr(err)
	}
	return nil
}

// unmountUnder unmounts the file systems at or below name (a pool name
// for all of a pool's), children first.
func (d *Daemon) unmountUnder(name string, force bool) error {
	var names []string
	d.mountTab().byName.Range(func(k, v any) bool {
		n := k.(string)
		if name == "" || n == name || strings.HasPrefix(n, name+"/") {
			names = append(names, n)
		}
		return true
	})
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	var errs []error
	for _, n := range names {
		if err := d.unmountOne(n, force); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// unmountForShutdown unmounts everything, forcing what is busy.
func (d *Daemon) unmountForShutdown() {
	if err := d.unmountUnder("", false); err != nil {
		d.log.Warn("unmount at shutdown: forcing", "err", err)
		if err := d.unmountUnder("", true); err != nil {
			d.log.Error("unmount at shutdown failed", "err", err)
		}
	}
}

// aroundRemount unmounts name while fn runs (rollback), then mounts it
// again if it was mounted.
func (d *Daemon) aroundRemount(dp *dsl.Pool, name string, fn func() error) error {
	if !d.isMounted(name) {
		return fn()
	}
	if err := d.unmountOne(name, false); err != nil {
		return err
	}
	ferr := fn()
	if err := d.mountOne(dp, name); err != nil {
		return errors.Join(ferr, err)
	}
	return ferr
}

// clearStaleMount lazily detaches a FUSE mount left at dir by a daemon
// that was killed (its connection is dead: ENOTCONN on every access).
func clearStaleMount(dir string) error {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil // no mount table to look at
	}
	defer f.Close()
	fuseAt, err := fuseMountedAt(f, dir)
	if err != nil || !fuseAt {
		return err
	}
	// Only a dead connection is stale: a live FUSE mount (another daemon's,
	// or anyone's) answers statfs and is left alone; the mount then fails
	// on the non-empty or busy directory. (stat may be answered from the
	// kernel's attribute cache; statfs always asks the server.)
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); !errors.Is(err, syscall.ENOTCONN) && !errors.Is(err, syscall.ECONNABORTED) {
		return nil
	}
	if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil && !errors.Is(err, syscall.EINVAL) {
		return fmt.Errorf("detach stale mount at %s: %w", dir, err)
	}
	return nil
}

// fuseMountedAt reports whether mountinfo lists a FUSE mount at dir.
func fuseMountedAt(r io.Reader, dir string) (bool, error) {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 {
			continue
		}
		sep := 6
		for sep < len(f) && f[sep] != "-" {
			sep++
		}
		if sep+1 >= len(f) {
			continue
		}
		if unescapeMount(f[4]) == dir && strings.HasPrefix(f[sep+1], "fuse") {
			return true, nil
		}
	}
	return false, sc.Err()
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func dirEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return len(names) == 0, err
}
