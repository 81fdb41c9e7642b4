package dsl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"coffer/internal/crypto"
	"coffer/internal/dmu"
	"coffer/internal/format"
	"coffer/internal/pool"
	"coffer/internal/props"
	"coffer/internal/stream"
)

// RecvOpts are the options of receive.
type RecvOpts struct {
	Force     bool              // -F: roll back or replace the target first
	NoMount   bool              // -u
	Resumable bool              // -s: an interrupted raw receive keeps what arrived
	Props     map[string]string // -o: set locally on the received dataset
	Exclude   []string          // -x: received properties to ignore
}

// recvSession maps the datasets of a (replication) stream to targets.
type recvSession struct {
	target  string            // as given
	srcTop  string            // first stream's dataset
	created map[string]string // sender dataset name -> receiver dataset name
	out     []string
}

// Receive reads one or more streams from r and applies them under target.
// Nothing of a stream is committed unless all of it arrived intact and
// applies; blocks written for a refused stream are freed.
func (dp *Pool) Receive(ctx context.Context, target string, o RecvOpts, r io.Reader) ([]string, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	sess := &recvSession{target: target, created: map[string]string{}}
	for n := 0; ; n++ {
		if _, err := br.Peek(1); err == io.EOF {
			if n == 0 {
				return nil, errf(CodeInvalid, "cannot receive: stream is empty")
			}
			return sess.out, nil
		}
		sr := stream.NewReader(br)
		rec, err := sr.Next()
		if err != nil {
			return sess.out, errf(CodeInvalid, "cannot receive: %v", err)
		}
		b, ok := rec.(*stream.Begin)
		if !ok {
			return sess.out, errf(CodeInvalid, "cannot receive: stream does not start with a begin record")
		}
		if err := dp.receiveOne(ctx, sess, b, sr, o); err != nil {
			return sess.out, err
		}
	}
}

// targetFor maps a stream's snapshot to the receiving dataset and snapshot.
func (sess *recvSession) targetFor(b *stream.Begin) (ds, snap string, err error) {
	srcDS, srcSnap := props.Split(b.Name)
	if srcDS == "" || srcSnap == "" {
		return "", "", fmt.Errorf("stream names no snapshot")
	}
	if sess.srcTop == "" {
		sess.srcTop = srcDS
	}
	tds, tsnap := props.Split(sess.target)
	if tsnap == "" {
		tsnap = srcSnap
	} else if srcDS != sess.srcTop {
		return "", "", fmt.Errorf("a snapshot target takes one stream only")
	}
	rel := strings.TrimPrefix(srcDS, sess.srcTop)
	if rel != "" && !strings.HasPrefix(rel, "/") {
		return "", "", fmt.Errorf("stream for '%s' is not below '%s'", srcDS, sess.srcTop)
	}
	return tds + rel, tsnap, nil
}

func (dp *Pool) receiveOne(ctx context.Context, sess *recvSession, b *stream.Begin, sr *stream.Reader, o RecvOpts) error {
	dsName, snapName, err := sess.targetFor(b)
	if err != nil {
		return errf(CodeInvalid, "cannot receive: %v", err)
	}
	full := dsName + "@" + snapName
	fail := func(code, f string, a ...any) error {
		return errf(code, "cannot receive '%s': %s", full, fmt.Sprintf(f, a...))
	}
	if b.Type != "filesystem" && b.Type != "volume" {
		return fail(CodeInvalid, "stream has unknown dataset type '%s'", b.Type)
	}
	if err := props.ValidSnapshotName(full); err != nil {
		return fail(CodeInvalid, "%v", err)
	}
	if !b.Raw {
		return dp.receivePlain(ctx, sess, b, sr, o, dsName, snapName)
	}

	// Check the target and pick the base under the lock; then read the
	// stream without it.
	dp.mu.Lock()
	target := dp.lookup(dsName)
	if target != nil && target.Rekey != nil {
		dp.mu.Unlock()
		return rekeyBusy("receive", full, target)
	}
	var base *dsRec
	var start rawResult
	resuming := b.ResumeAt > 0
	if resuming {
		st := (*resumeState)(nil)
		if target != nil {
			st = target.Resume
		}
		if st == nil || st.Begin.GUID != b.GUID || st.Begin.FromGUID != b.FromGUID || st.Records != b.ResumeAt {
			dp.mu.Unlock()
			return fail(CodeInvalid, "stream does not resume the interrupted receive into '%s'", dsName)
		}
		var err error
		if start, err = st.restore(); err != nil {
			dp.mu.Unlock()
			return fail(CodeIO, "%v", err)
		}
	} else if target != nil && target.Resume != nil {
		dp.mu.Unlock()
		return fail(CodeBusy, "'%s' has an interrupted receive: resume it with 'coffer send -t TOKEN' (receive_resume_token) or discard it with 'coffer receive -A %s'", dsName, dsName)
	}
	switch b.Kind {
	case "full":
		if resuming && target.Partial {
			break
		}
		if target != nil {
			if !o.Force {
				dp.mu.Unlock()
				return fail(CodeExists, "destination '%s' exists (use -F to replace it)", dsName)
			}
			if err := dp.destroyTree(target); err != nil {
				dp.mu.Unlock()
				return err
			}
			target = nil
		}
		parent := dp.lookup(props.Parent(dsName))
		if parent == nil || parent.Type != "filesystem" {
			dp.mu.Unlock()
			return fail(CodeNotFound, "parent '%s' does not exist", props.Parent(dsName))
		}
		if b.Crypt == nil && parent.Suite != 0 {
			dp.mu.Unlock()
			return fail(CodeInvalid, "an unencrypted raw stream cannot be received under encrypted '%s'", parent.Name)
		}
	case "incremental":
		base, err = dp.incrementalBase(target, b, o.Force, fail)
		if err != nil {
			dp.mu.Unlock()
			return err
		}
	default:
		dp.mu.Unlock()
		return fail(CodeInvalid, "unknown stream kind '%s'", b.Kind)
	}
	if c := b.Crypt; c != nil {
		if !crypto.Suite(c.Suite).Valid() || len(c.Wrapped) == 0 {
			dp.mu.Unlock()
			return fail(CodeInvalid, "stream has bad key information")
		}
		if target != nil && target.KeyGUID != c.KeyGUID {
			dp.mu.Unlock()
			if base != nil {
				return fail(CodeInvalid, "incremental source '%s' has another master key than the stream (one side was deep-rekeyed); send a full stream", base.Name)
			}
			return fail(CodeInvalid, "stream is encrypted with another key than '%s'", dsName)
		}
	} else if target != nil && target.Suite != 0 {
		dp.mu.Unlock()
		return fail(CodeInvalid, "an unencrypted raw stream cannot update encrypted '%s'", dsName)
	}
	var baseRoot format.BlockPointer
	if base != nil {
		baseRoot = base.Root
		dp.hold(base.ID)
	}
	txg := dp.p.Txg() + 1
	dp.mu.Unlock()
	if base != nil {
		defer dp.release(base.ID)
	}

	res, err := dp.placeRaw(ctx, sr, baseRoot, txg, start)
	if err != nil {
		interrupted := errors.Is(err, stream.ErrTruncated) || errors.Is(err, context.Canceled) || CodeOf(err) == ""
		if o.Resumable && interrupted && !errors.Is(err, stream.ErrCorrupt) && len(res.all) > 0 {
			if serr := dp.saveResume(dsName, b, res, target); serr == nil {
				return fail(CodeInvalid, "%v; the blocks received are kept: resume with 'coffer send -t TOKEN' (get receive_resume_token %s)", err, dsName)
			}
		}
		for i := range res.all {
			dp.p.Free(&res.all[i])
		}
		if resuming {
			dp.clearResume(dsName)
		}
		if errors.Is(err, stream.ErrCorrupt) || errors.Is(err, stream.ErrTruncated) {
			return fail(CodeInvalid, "%v", err)
		}
		return fail(CodeOf(err), "%s", strings.TrimPrefix(err.Error(), "cannot receive: "))
	}

	dp.mu.Lock()
	defer dp.mu.Unlock()
	// The target must be as it was when the stream started.
	if cur := dp.lookup(dsName); (cur == nil) != (target == nil) || (cur != nil && cur.Resume != nil && !resuming) || (base != nil && (cur.Root != base.Root || !dp.isNewest(base))) {
		for i := range res.all {
			dp.p.Free(&res.all[i])
		}
		return fail(CodeBusy, "destination '%s' changed during the receive", dsName)
	}
	if target != nil && target.Partial {
		// The partial record only held the resume state: the dataset is
		// created now, as by a full receive.
		delete(dp.live, target.ID)
		delete(dp.m.Datasets, target.ID)
		target = nil
	} else if target != nil {
		target.Resume = nil
	}
	err = dp.txgDo(func(ctxg uint64) error {
		return dp.commitReceive(sess, b, o, dsName, snapName, target, base, res, ctxg)
	})
	if err != nil {
		return err
	}
	sess.out = append(sess.out, full)
	srcDS, _ := props.Split(b.Name)
	sess.created[srcDS] = dsName
	return nil
}

// incrementalBase checks that an incremental applies to target and returns
// the snapshot it applies to; dp.mu held. With force, a modified target is
// rolled back and newer snapshots are destroyed.
func (dp *Pool) incrementalBase(target *dsRec, b *stream.Begin, force bool, fail func(string, string, ...any) error) (*dsRec, error) {
	if target == nil {
		return nil, fail(CodeNotFound, "destination does not exist (an incremental stream needs '%s')", b.FromName)
	}
	snaps := dp.snapshots(target)
	var base *dsRec
	for _, s := range snaps {
		if s.GUID == b.GUID {
			return nil, fail(CodeExists, "destination already has snapshot '%s' (stream already received)", s.Name)
		}
		if s.GUID == b.FromGUID {
			base = s
		}
	}
	if base == nil {
		return nil, fail(CodeInvalid, "incremental source '%s' is not a snapshot of '%s'", b.FromName, target.Name)
	}
	newest := snaps[len(snaps)-1]
	if newest.ID != base.ID || target.Root != base.Root {
		if !force {
			if newest.ID != base.ID {
				return nil, fail(CodeInvalid, "most recent snapshot of '%s' is not the incremental source (use -F to destroy newer snapshots)", target.Name)
			}
			return nil, fail(CodeBusy, "destination '%s' has been modified since most recent snapshot (use -F to roll it back)", target.Name)
		}
		if err := dp.rollbackLocked(base, true); err != nil {
			return nil, err
		}
	}
	return base, nil
}

func (dp *Pool) isNewest(s *dsRec) bool {
	snaps := dp.snapshots(dp.owner(s))
	return len(snaps) > 0 && snaps[len(snaps)-1].ID == s.ID
}

// rawResult is what placeRaw wrote.
type rawResult struct {
	root                 format.BlockPointer
	all                  []format.BlockPointer
	bytes, logical, phys uint64
	placed               map[dmu.Pos]format.BlockPointer // waiting for their parent
	records              int                             // BLOCK records applied from this stream
}

// placeRaw writes the blocks of a raw stream at new addresses, children
// first, and returns the new object-set header.
func (dp *Pool) placeRaw(ctx context.Context, sr *stream.Reader, baseRoot format.BlockPointer, txg uint64, res rawResult) (rawResult, error) {
	if res.placed == nil {
		res.placed = map[dmu.Pos]format.BlockPointer{}
	}
	placed := res.placed
	var loc *dmu.Locator
	if !baseRoot.IsZero() {
		loc = dmu.NewLocator(dp.p, baseRoot)
	}
	haveRoot := false
	for {
		rec, err := sr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return res, err
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		blk, ok := rec.(*stream.Block)
		if !ok {
			return res, fmt.Errorf("%w: unexpected record in a raw stream", stream.ErrCorrupt)
		}
		if haveRoot {
			return res, fmt.Errorf("%w: block after the object-set header", stream.ErrCorrupt)
		}
		var bp format.BlockPointer
		if err := bp.Decode(blk.BP[:]); err != nil || (bp.Type == format.TypeData && bp.IsHole()) || bp.LSize == 0 {
			return res, fmt.Errorf("%w: bad block pointer", stream.ErrCorrupt)
		}
		pos := dmu.Pos(blk.Pos)
		var stored []byte
		switch bp.Type {
		case format.TypeData:
			if int(bp.PSize) != len(blk.Data) || !pool.ChecksumOK(&bp, blk.Data) {
				return res, fmt.Errorf("%w: block %+v does not match its checksum", stream.ErrCorrupt, pos)
			}
			stored = blk.Data
		case format.TypeIndirect, format.TypeDnode, format.TypeObjset:
			if pos.Header != (bp.Type == format.TypeObjset) {
				return res, fmt.Errorf("%w: header block at the wrong position", stream.ErrCorrupt)
			}
			bp.PSize = uint32(len(blk.Data))
			logical, err := pool.Decode(&bp, blk.Data, nil, nil)
			if err != nil {
				return res, fmt.Errorf("%w: block %+v: %v", stream.ErrCorrupt, pos, err)
			}
			err = dmu.Relocate(logical, &bp, pos, func(c dmu.Pos) (format.BlockPointer, error) {
				if nb, ok := placed[c]; ok {
					delete(placed, c)
					return nb, nil
				}
				if loc == nil {
					return format.BlockPointer{}, errf(CodeInvalid, "cannot receive: stream does not apply: block %+v is missing", c)
				}
				nb, err := loc.At(c)
				if err != nil {
					return nb, err
				}
				return nb, nil
			})
			if err != nil {
				if CodeOf(err) == "" {
					err = errf(CodeInvalid, "cannot receive: stream does not apply: %v", err)
				}
				return res, err
			}
			stored, err = pool.Reencode(&bp, logical)
			if err != nil {
				return res, err
			}
		default:
			return res, fmt.Errorf("%w: block of type %s", stream.ErrCorrupt, bp.Type)
		}
		bp.PhysBirth = txg
		if err := dp.p.Place(&bp, stored); err != nil {
			return res, errf(CodeIO, "cannot receive: %v", err)
		}
		res.all = append(res.all, bp)
		res.records++
		res.bytes += pool.ASize(&bp)
		if bp.Type == format.TypeData {
			res.logical += uint64(bp.LSize)
			res.phys += uint64(bp.PSize)
		}
		if pos.Header {
			res.root, haveRoot = bp, true
		} else {
			placed[pos] = bp
		}
	}
	if !haveRoot {
		if len(res.all) == 0 && loc != nil {
			res.root = baseRoot // nothing changed since the base
			return res, nil
		}
		return res, errf(CodeInvalid, "cannot receive: stream does not apply: no object-set header")
	}
	if len(placed) != 0 {
		return res, errf(CodeInvalid, "cannot receive: stream does not apply: %d blocks belong to no parent", len(placed))
	}
	return res, nil
}

// commitReceive records a received snapshot; dp.mu held, in txg.
func (dp *Pool) commitReceive(sess *recvSession, b *stream.Begin, o RecvOpts, dsName, snapName string, target, base *dsRec, res rawResult, txg uint64) error {
	dp.adoptChecksums(res.all)
	now := time.Now().Unix()
	if target == nil {
		parent := dp.lookup(props.Parent(dsName))
		id := dp.m.NextID
		dp.m.NextID++
		target = &dsRec{ID: id, GUID: pool.NewGUID(), Name: dsName, Type: b.Type, Parent: parent.ID, Created: now,
			CreateTxg: txg, Volsize: b.Volsize}
		if c := b.Crypt; c != nil {
			target.Suite, target.KeyGUID, target.Wrapped = c.Suite, c.KeyGUID, append([]byte(nil), c.Wrapped...)
			if rootName, ok := sess.created[c.EncRoot]; ok && c.EncRoot != props.Split1(b.Name) {
				target.EncRoot = dp.lookup(rootName).ID // -R: keep it under its received root
			} else {
				target.EncRoot = id
				target.KeyInfo = keyInfoOf(c)
			}
		}
		dp.m.Datasets[id] = target
		dp.live[id] = &liveDS{}
		target.Referenced, target.RefLogical, target.RefPhys = res.bytes, res.logical, res.phys
	} else {
		var killed, klog, kphys uint64
		err := dmu.Diff(dp.p, base.Root, res.root, 0, func(bp *format.BlockPointer) error {
			killed += pool.ASize(bp)
			if bp.Type == format.TypeData {
				klog += uint64(bp.LSize)
				kphys += uint64(bp.PSize)
			}
			return nil
		})
		if err != nil {
			return errf(CodeIO, "cannot receive: %v", err)
		}
		target.Referenced = base.Referenced + res.bytes - min(killed, base.Referenced+res.bytes)
		target.RefLogical = base.RefLogical + res.logical - min(klog, base.RefLogical+res.logical)
		target.RefPhys = base.RefPhys + res.phys - min(kphys, base.RefPhys+res.phys)
		target.UsedBySnaps += killed
		if c := b.Crypt; c != nil {
			// A change-key on the sender reaches the replica: the master key
			// is the same, its wrapping is new.
			target.Wrapped = append([]byte(nil), c.Wrapped...)
			if target.EncRoot == target.ID {
				ki := keyInfoOf(c)
				if target.KeyInfo == nil || !sameKeyInfo(target.KeyInfo, ki) {
					target.KeyInfo = ki
					if wk := dp.wk[target.ID]; wk != nil {
						wk.Wipe()
						delete(dp.wk, target.ID)
					}
				}
			}
		}
	}
	l := dp.live[target.ID]
	l.os = nil
	target.Root = res.root
	target.Written = 0
	target.PrevSnapTxg = txg
	dp.applyReceivedProps(target, b, o)
	sid := dp.m.NextID
	dp.m.NextID++
	s := &dsRec{ID: sid, GUID: b.GUID, Name: dsName + "@" + snapName, Type: "snapshot", Parent: target.ID,
		Created: b.Creation, CreateTxg: txg, Root: res.root, Suite: target.Suite, KeyGUID: target.KeyGUID,
		EncRoot: target.EncRoot, Referenced: target.Referenced, RefLogical: target.RefLogical, RefPhys: target.RefPhys,
		Written: res.bytes}
	dp.m.Datasets[sid] = s
	target.Snaps = append(target.Snaps, sid)
	return nil
}

func (dp *Pool) applyReceivedProps(r *dsRec, b *stream.Begin, o RecvOpts) {
	r.Received = nil
	for k, v := range b.Props {
		skip := false
		for _, x := range o.Exclude {
			if x == k {
				skip = true
			}
		}
		if d, ok := props.Lookup(k); skip || !ok || d.ReadOnly || d.CreateOnly || k == "keylocation" {
			continue
		}
		if r.Received == nil {
			r.Received = map[string]string{}
		}
		r.Received[k] = v
	}
	for k, v := range o.Props {
		if r.Props == nil {
			r.Props = map[string]string{}
		}
		r.Props[k] = v
	}
}

func keyInfoOf(c *stream.Crypt) *keyInfo {
	ki := &keyInfo{Format: c.KeyFormat, Location: "prompt", KDF: c.KDF, Salt: append([]byte(nil), c.Salt...),
		Iters: c.Iters, Memory: c.Memory, Threads: c.Threads}
	if len(c.Sealed) > 0 && props.KeyProvider(c.Provider) != "" {
		ki.Sealed, ki.SealedBy = append([]byte(nil), c.Sealed...), c.Provider
	}
	return ki
}

func sameKeyInfo(a, b *keyInfo) bool {
	return a.Format == b.Format && a.KDF == b.KDF && string(a.Salt) == string(b.Salt) && a.Iters == b.Iters &&
		a.Memory == b.Memory && a.Threads == b.Threads && string(a.Sealed) == string(b.Sealed) && a.SealedBy == b.SealedBy
}

// destroyTree destroys a dataset with its snapshots and children; dp.mu
// held. Used by receive -F.
func (dp *Pool) destroyTree(r *dsRec) error {
	all := dp.descendants(r)
	for _, d := range all {
		if d.Rekey != nil {
			return rekeyBusy("destroy", d.Name, d)
		}
	}
	return dp.txgDo(func(txg uint64) error {
		for i := len(all) - 1; i >= 0; i-- {
			snaps := dp.snapshots(all[i])
			for j := len(snaps) - 1; j >= 0; j-- {
				if err := dp.destroySnapshot(snaps[j]); err != nil {
					return err
				}
			}
			if err := dp.destroyDataset(all[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// adoptChecksums raises a version 1 pool's metadata to version 2 when
// bps, received raw and about to be referenced, hold XXH3 checksums: a
// reader that knows only xxhash64 must refuse the pool by its version
// instead of finding blocks it cannot verify. The pool then writes XXH3
// too. dp.mu held, inside the txg that references bps.
func (dp *Pool) adoptChecksums(bps []format.BlockPointer) {
	if dp.m.writeChecksum() == format.ChecksumXXH3 {
		return
	}
	for i := range bps {
		if bps[i].CksumAlg == format.ChecksumXXH3 {
			dp.m.Version = mosVersion
			_ = dp.p.SetWriteChecksum(format.ChecksumXXH3) // a known algorithm
			return
		}
	}
}

// saveResume commits the state of an interrupted resumable receive.
func (dp *Pool) saveResume(dsName string, b *stream.Begin, res rawResult, target *dsRec) error {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	st := saveState(b, res)
	return dp.txgDo(func(txg uint64) error {
		dp.adoptChecksums(res.all)
		if cur := dp.lookup(dsName); cur != nil {
			cur.Resume = st
			return nil
		}
		parent := dp.lookup(props.Parent(dsName))
		if parent == nil {
			return errf(CodeNotFound, "parent of '%s' vanished", dsName)
		}
		id := dp.m.NextID
		dp.m.NextID++
		r := &dsRec{ID: id, GUID: pool.NewGUID(), Name: dsName, Type: b.Type, Parent: parent.ID, Created: time.Now().Unix(),
			CreateTxg: txg, Partial: true, Resume: st}
		if c := b.Crypt; c != nil {
			r.Suite, r.KeyGUID, r.EncRoot = c.Suite, c.KeyGUID, id
			r.Wrapped = append([]byte(nil), c.Wrapped...)
			r.KeyInfo = keyInfoOf(c)
		}
		dp.m.Datasets[id] = r
		dp.live[id] = &liveDS{}
		return nil
	})
}

func (dp *Pool) clearResume(dsName string) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	r := dp.lookup(dsName)
	if r == nil || r.Resume == nil {
		return
	}
	_ = dp.txgDo(func(txg uint64) error {
		r.Resume = nil
		if r.Partial {
			delete(dp.live, r.ID)
			delete(dp.m.Datasets, r.ID)
		}
		return nil
	})
}
