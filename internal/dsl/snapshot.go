package dsl

import (
	"sort"
	"strings"
	"time"

	"coffer/internal/dmu"
	"coffer/internal/format"
	"coffer/internal/pool"
	"coffer/internal/props"
)

// Snapshot takes snapshots atomically, in one txg. With recursive, every
// descendant of each dataset gets a snapshot of the same name.
func (dp *Pool) Snapshot(names []string, recursive bool, p map[string]string) error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	type job struct {
		ds   *dsRec
		name string
	}
	var jobs []job
	seen := map[string]bool{}
	for _, n := range names {
		if err := props.ValidSnapshotName(n); err != nil {
			return errf(CodeInvalid, "cannot create snapshot '%s': %v", n, err)
		}
		dsName, snap := props.Split(n)
		r := dp.lookup(dsName)
		if r == nil || r.Type == "snapshot" {
			return errf(CodeNotFound, "cannot open '%s': dataset does not exist", dsName)
		}
		targets := []*dsRec{r}
		if recursive {
			targets = dp.descendants(r)
		}
		for _, t := range targets {
			sn := t.Name + "@" + snap
			if dp.lookup(sn) != nil {
				return errf(CodeExists, "cannot create snapshot '%s': dataset already exists", sn)
			}
			if len(sn) > props.MaxNameLen {
				return errf(CodeInvalid, "cannot create snapshot '%s': name is too long", sn)
			}
			if !seen[sn] {
				seen[sn] = true
				jobs = append(jobs, job{t, sn})
			}
		}
	}
	user := map[string]string{}
	for k, v := range p {
		if !props.IsUserProp(k) {
			return errf(CodeInvalid, "cannot create snapshot: property '%s' cannot be set on snapshots", k)
		}
		user[k] = v
	}
	return dp.txgDo(func(txg uint64) error {
		now := time.Now().Unix()
		for _, j := range jobs {
			r := j.ds
			id := dp.m.NextID
			dp.m.NextID++
			s := &dsRec{
				ID: id, GUID: pool.NewGUID(), Name: j.name, Type: "snapshot", Parent: r.ID, Created: now,
				CreateTxg: txg, Root: r.Root, Suite: r.Suite, KeyGUID: r.KeyGUID, EncRoot: r.EncRoot,
				Referenced: r.Referenced, RefLogical: r.RefLogical, RefPhys: r.RefPhys, Written: r.Written,
			}
			if len(user) > 0 {
				s.Props = map[string]string{}
				for k, v := range user {
					s.Props[k] = v
				}
			}
			dp.m.Datasets[id] = s
			r.Snaps = append(r.Snaps, id)
			r.PrevSnapTxg = txg
			r.Written = 0
		}
		return nil
	})
}

// DestroyOpts are the options of destroy.
type DestroyOpts struct {
	Recursive bool
	Force     bool
	DryRun    bool
}

// Busy reports whether a dataset is in use (mounted, exported); set by the
// layers above.
type Busy func(name string) bool

// Destroy destroys a dataset or a snapshot. Destroying a dataset erases
// its wrapped master key: what remains on disk cannot be decrypted.
func (dp *Pool) Destroy(name string, o DestroyOpts) ([]string, error) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	r := dp.lookup(name)
	if r == nil {
		kind := "dataset"
		if strings.Contains(name, "@") {
			kind = "snapshot"
		}
		return nil, errf(CodeNotFound, "cannot open '%s': %s does not exist", name, kind)
	}
	if r.Type != "snapshot" && dp.parentOf(r) == nil {
		return nil, errf(CodeInvalid, "cannot destroy '%s': operation does not apply to pools (use 'coffer pool destroy %s')", name, name)
	}
	var victims []*dsRec
	if r.Type == "snapshot" {
		victims = []*dsRec{r}
	} else {
		if !o.Recursive {
			if kids := dp.children(r); len(kids) > 0 {
				return nil, errf(CodeBusy, "cannot destroy '%s': filesystem has children (use -r to destroy them)", name)
			}
			if len(r.Snaps) > 0 {
				return nil, errf(CodeBusy, "cannot destroy '%s': filesystem has snapshots (use -r to destroy them)", name)
			}
		}
		all := dp.descendants(r)
		for i := len(all) - 1; i >= 0; i-- { // children first
			snaps := dp.snapshots(all[i])
			for j := len(snaps) - 1; j >= 0; j-- {
				victims = append(victims, snaps[j])
			}
			victims = append(victims, all[i])
		}
	}
	var out []string
	for _, v := range victims {
		if err := dp.checkNoRekey("destroy", v.Name, v); err != nil {
			return nil, err
		}
		if dp.holds[v.ID] > 0 {
			return nil, errf(CodeBusy, "cannot destroy '%s': dataset is busy (a send is reading it)", v.Name)
		}
		out = append(out, v.Name)
	}
	if o.DryRun {
		return out, nil
	}
	return out, dp.txgDo(func(txg uint64) error {
		for _, v := range victims {
			var err error
			if v.Type == "snapshot" {
				err = dp.destroySnapshot(v)
			} else {
				err = dp.destroyDataset(v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
}

// destroySnapshot frees the blocks only s holds: those born after the
// previous snapshot that the next version no longer references.
func (dp *Pool) destroySnapshot(s *dsRec) error {
	o := dp.owner(s)
	prev, next := dp.snapNeighbors(s)
	var freed uint64
	err := dmu.Diff(dp.p, s.Root, next, prev, func(bp *format.BlockPointer) error {
		freed += pool.ASize(bp)
		dp.p.Free(bp)
		return nil
	})
	if err != nil {
		return errf(CodeIO, "cannot destroy '%s': %v", s.Name, err)
	}
	o.UsedBySnaps -= min(freed, o.UsedBySnaps)
	for i, id := range o.Snaps {
		if id == s.ID {
			o.Snaps = append(o.Snaps[:i], o.Snaps[i+1:]...)
			break
		}
	}
	if s.CreateTxg == o.PrevSnapTxg {
		o.PrevSnapTxg = prev
		// Blocks born since prev that the live dataset still holds are now
		// "written" since the previous snapshot.
		o.Written += s.Written
	}
	delete(dp.m.Datasets, s.ID)
	delete(dp.snapOpen, s.ID)
	return nil
}

// destroyDataset frees every block of a dataset without snapshots and
// forgets its keys and wrapped key.
func (dp *Pool) destroyDataset(r *dsRec) error {
	l := dp.live[r.ID]
	if l != nil && l.os != nil && l.os.Dirty() {
		// Unsynced changes die with it; the live root is what is on disk.
		_ = l.os.Discard() // blocks written ahead go back to the allocator
		l.os = nil
	}
	err := dmu.Walk(dp.p, r.Root, func(bp *format.BlockPointer) (bool, error) {
		dp.p.Free(bp)
		return true, nil
	})
	if r.Resume != nil {
		for _, bp := range r.Resume.blocks() {
			dp.p.Free(&bp)
		}
	}
	if err != nil {
		return errf(CodeIO, "cannot destroy '%s': %v", r.Name, err)
	}
	if l != nil && l.key != nil {
		dp.p.Cache().DropKey(l.key.GUID())
		l.key.Wipe()
	}
	if k := dp.wk[r.ID]; k != nil {
		k.Wipe()
		delete(dp.wk, r.ID)
	}
	clear(r.Wrapped)
	delete(dp.live, r.ID)
	delete(dp.m.Datasets, r.ID)
	return nil
}

// Rollback returns a dataset to its snapshot. Newer snapshots are in the
// way unless destroyLater (-r) destroys them.
func (dp *Pool) Rollback(snap string, destroyLater bool) error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	s := dp.lookup(snap)
	if s == nil || s.Type != "snapshot" {
		return errf(CodeNotFound, "cannot open '%s': snapshot does not exist", snap)
	}
	return dp.rollbackLocked(s, destroyLater)
}

// rollbackLocked rolls s's dataset back to s; dp.mu held. It needs no key:
// it moves the dataset's root and frees blocks, which are keyless.
func (dp *Pool) rollbackLocked(s *dsRec, destroyLater bool) error {
	snap := s.Name
	o := dp.owner(s)
	if err := dp.checkNoRekey("rollback to", snap, o); err != nil {
		return err
	}
	snaps := dp.snapshots(o)
	var later []*dsRec
	for _, x := range snaps {
		if x.CreateTxg > s.CreateTxg {
			later = append(later, x)
		}
	}
	if len(later) > 0 && !destroyLater {
		return errf(CodeBusy, "cannot rollback to '%s': more recent snapshots exist (use -r to destroy %s)", snap, names(later))
	}
	for _, x := range later {
		if dp.holds[x.ID] > 0 {
			return errf(CodeBusy, "cannot rollback to '%s': '%s' is busy (a send is reading it)", snap, x.Name)
		}
	}
	if dp.busy != nil && dp.busy(o.Name) {
		return errf(CodeBusy, "cannot rollback '%s': dataset is busy (mounted)", o.Name)
	}
	l := dp.live[o.ID]
	return dp.txgDo(func(txg uint64) error {
		sort.Slice(later, func(i, j int) bool { return later[i].CreateTxg > later[j].CreateTxg })
		for _, x := range later {
			if err := dp.destroySnapshot(x); err != nil {
				return err
			}
		}
		// Blocks the live version holds beyond the snapshot are freed; the
		// blocks only the snapshot held become live again.
		var back uint64
		prev, _ := dp.snapNeighbors(s)
		err := dmu.Diff(dp.p, s.Root, o.Root, prev, func(bp *format.BlockPointer) error {
			back += pool.ASize(bp)
			return nil
		})
		if err != nil {
			return errf(CodeIO, "cannot rollback '%s': %v", o.Name, err)
		}
		err = dmu.Diff(dp.p, o.Root, s.Root, s.CreateTxg, func(bp *format.BlockPointer) error {
			dp.p.Free(bp)
			return nil
		})
		if err != nil {
			return errf(CodeIO, "cannot rollback '%s': %v", o.Name, err)
		}
		o.UsedBySnaps -= min(back, o.UsedBySnaps)
		o.Root = s.Root
		o.Referenced, o.RefLogical, o.RefPhys = s.Referenced, s.RefLogical, s.RefPhys
		o.Written = 0
		o.PrevSnapTxg = s.CreateTxg
		if l != nil {
			l.os = nil // reopened from the new root on next use
		}
		return nil
	})
}

func names(rs []*dsRec) string {
	var b strings.Builder
	for i, r := range rs {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(r.Name)
	}
	return b.String()
}
