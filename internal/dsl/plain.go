package dsl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"coffer/internal/crypto"
	"coffer/internal/dmu"
	"coffer/internal/format"
	"coffer/internal/props"
	"coffer/internal/stream"
)

// sendPlain writes the change from step.from to step.to as plaintext
// object records; key opens an encrypted dataset.
func (dp *Pool) sendPlain(ctx context.Context, sw *stream.Writer, st SendStep, key, fromKey *crypto.DatasetKey) error {
	fail := func(err error) error { return errf(CodeIO, "cannot send '%s': %v", st.To, err) }
	to, err := dmu.Open(dp.p, st.to.Root, dmu.Options{Key: key, KeyGUID: st.to.KeyGUID, Suite: crypto.Suite(st.to.Suite), ReadOnly: true})
	if err != nil {
		return fail(err)
	}
	var from *dmu.Objset
	var base format.BlockPointer
	var min uint64
	if st.from != nil {
		base, min = st.from.Root, st.from.CreateTxg
		if from, err = dmu.Open(dp.p, base, dmu.Options{Key: fromKey, KeyGUID: st.from.KeyGUID, Suite: crypto.Suite(st.from.Suite), ReadOnly: true}); err != nil {
			return fail(err)
		}
	}
	dnodeBlocks := map[uint64]bool{}
	writes := map[uint64][]uint64{}
	frees := map[uint64][][2]uint64{}
	err = dmu.Changes(dp.p, st.to.Root, base, min, true, func(pos dmu.Pos, bp *format.BlockPointer) error {
		switch {
		case pos.Header:
		case pos.Obj == 0:
			span := uint64(1) << (uint(pos.Level) * format.IndirectShift)
			for k := pos.BlkID * span; k < (pos.BlkID+1)*span && (pos.Level == 0 || !bp.IsHole()); k++ {
				if pos.Level == 0 {
					dnodeBlocks[k] = true
				}
			}
			if pos.Level > 0 && bp.IsHole() {
				for k := pos.BlkID * span; k < (pos.BlkID+1)*span; k++ {
					dnodeBlocks[k] = true
				}
			}
		case bp.IsHole():
			span := uint64(1) << (uint(pos.Level) * format.IndirectShift)
			frees[pos.Obj] = append(frees[pos.Obj], [2]uint64{pos.BlkID * span, (pos.BlkID + 1) * span})
		case pos.Level == 0:
			writes[pos.Obj] = append(writes[pos.Obj], pos.BlkID)
		}
		return nil
	})
	if err != nil {
		return fail(err)
	}
	blocks := make([]uint64, 0, len(dnodeBlocks))
	for k := range dnodeBlocks {
		blocks = append(blocks, k)
	}
	sort.Slice(blocks, func(i, j int) bool { return blocks[i] < blocks[j] })
	var objs []uint64
	for _, k := range blocks {
		for slot := uint64(0); slot < format.DnodesPerBlock; slot++ {
			id := k*format.DnodesPerBlock + slot
			if id == 0 {
				continue
			}
			no, nerr := to.Object(id)
			var oo *dmu.Object
			if from != nil {
				oo, _ = from.Object(id)
			}
			if nerr != nil {
				if !errors.Is(nerr, dmu.ErrNoObject) {
					return fail(nerr)
				}
				if oo != nil {
					if err := sw.FreeObject(stream.FreeObject{Obj: id}); err != nil {
						return err
					}
				}
				continue
			}
			ni := no.Info()
			nb, err := no.Bonus()
			if err != nil {
				return fail(err)
			}
			if oo != nil {
				oi := oo.Info()
				ob, _ := oo.Bonus()
				if oi == ni && bytes.Equal(ob, nb) && len(writes[id]) == 0 && len(frees[id]) == 0 {
					continue
				}
				if oi.Gen != ni.Gen {
					if err := sw.FreeObject(stream.FreeObject{Obj: id}); err != nil {
						return err
					}
				}
			}
			if err := sw.Object(stream.Object{Obj: id, Type: uint8(ni.Type), BlkSz: ni.BlkSz, MaxBlkID: ni.MaxBlkID, Bonus: nb}); err != nil {
				return err
			}
			objs = append(objs, id)
		}
	}
	for _, id := range objs {
		o, _ := to.Object(id)
		bs := uint64(o.Info().BlkSz)
		for _, f := range frees[id] {
			if err := sw.Free(stream.Free{Obj: id, First: f[0], End: f[1]}); err != nil {
				return err
			}
		}
		ids := writes[id]
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		buf := make([]byte, bs)
		for _, blk := range ids {
			if err := ctx.Err(); err != nil {
				return err
			}
			if err := o.Read(buf, blk*bs); err != nil {
				return fail(err)
			}
			if err := sw.Write(stream.Write{Obj: id, BlkID: blk, Data: buf}); err != nil {
				return err
			}
		}
	}
	return nil
}

// receivePlain applies a plaintext stream through the target's own object
// set: the data is compressed and encrypted as the target's properties say
// (an encrypted parent's key for a new dataset under it).
func (dp *Pool) receivePlain(ctx context.Context, sess *recvSession, b *stream.Begin, sr *stream.Reader, o RecvOpts, dsName, snapName string) error {
	full := dsName + "@" + snapName
	fail := func(code, f string, a ...any) error {
		return errf(code, "cannot receive '%s': %s", full, fmt.Sprintf(f, a...))
	}
	dp.mu.Lock()
	target := dp.lookup(dsName)
	if target != nil && target.Rekey != nil {
		dp.mu.Unlock()
		return rekeyBusy("receive", dsName+"@"+snapName, target)
	}
	var base *dsRec
	created := false
	switch b.Kind {
	case "full":
		if target != nil {
			if !o.Force {
				dp.mu.Unlock()
				return fail(CodeExists, "destination '%s' exists (use -F to replace it)", dsName)
			}
			if err := dp.destroyTree(target); err != nil {
				dp.mu.Unlock()
				return err
			}
		}
		pl, err := dp.planCreateUnder(dsName, b.Type, b.Volsize, nil, nil, nil)
		if err != nil {
			dp.mu.Unlock()
			return fail(CodeOf(err), "%s", trimCannot(err))
		}
		if err := dp.txgDo(func(txg uint64) error { return dp.applyCreate(txg, pl) }); err != nil {
			dp.mu.Unlock()
			return err
		}
		target, created = dp.lookup(dsName), true
	case "incremental":
		var err error
		base, err = dp.incrementalBase(target, b, o.Force, fail)
		if err != nil {
			dp.mu.Unlock()
			return err
		}
	default:
		dp.mu.Unlock()
		return fail(CodeInvalid, "unknown stream kind '%s'", b.Kind)
	}
	if target.Suite != 0 && dp.live[target.ID].key == nil {
		dp.mu.Unlock()
		return fail(CodeKey, "encryption key of '%s' is not loaded (a plaintext stream is encrypted on receive)", dsName)
	}
	os, err := dp.objset(target.ID)
	dp.mu.Unlock()
	if err != nil {
		return fail(CodeIO, "%v", err)
	}
	undo := func() {
		dp.mu.Lock()
		defer dp.mu.Unlock()
		if cur := dp.lookup(dsName); cur != nil {
			if created {
				_ = dp.destroyTree(cur)
			} else if base != nil {
				_ = dp.rollbackLocked(base, true)
			}
		}
	}
	if err := dp.applyPlain(ctx, os, sr); err != nil {
		undo()
		if errors.Is(err, stream.ErrCorrupt) || errors.Is(err, stream.ErrTruncated) {
			return fail(CodeInvalid, "%v", err)
		}
		return fail(CodeInvalid, "stream does not apply: %v", err)
	}
	dp.mu.Lock()
	defer dp.mu.Unlock()
	err = dp.txgDo(func(txg uint64) error {
		dp.applyReceivedProps(target, b, o)
		id := dp.m.NextID
		dp.m.NextID++
		s := &dsRec{ID: id, GUID: b.GUID, Name: full, Type: "snapshot", Parent: target.ID, Created: b.Creation,
			CreateTxg: txg, Root: target.Root, Suite: target.Suite, KeyGUID: target.KeyGUID, EncRoot: target.EncRoot,
			Referenced: target.Referenced, RefLogical: target.RefLogical, RefPhys: target.RefPhys, Written: target.Written}
		if s.Created == 0 {
			s.Created = time.Now().Unix()
		}
		dp.m.Datasets[id] = s
		target.Snaps = append(target.Snaps, id)
		target.PrevSnapTxg = txg
		target.Written = 0
		return nil
	})
	if err != nil {
		return err
	}
	sess.out = append(sess.out, full)
	sess.created[props.Split1(b.Name)] = dsName
	return nil
}

func trimCannot(err error) string {
	s := err.Error()
	if _, rest, ok := strings.Cut(s, "': "); ok && strings.HasPrefix(s, "cannot ") {
		return rest
	}
	return s
}

// applyPlain writes the records of a plaintext stream into os.
func (dp *Pool) applyPlain(ctx context.Context, os *dmu.Objset, sr *stream.Reader) error {
	objs := map[uint64]*dmu.Object{}
	get := func(id uint64) (*dmu.Object, error) {
		if o := objs[id]; o != nil {
			return o, nil
		}
		o, err := os.Object(id)
		if err != nil {
			return nil, fmt.Errorf("record for object %d before its object record", id)
		}
		objs[id] = o
		return o, nil
	}
	for {
		rec, err := sr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		switch r := rec.(type) {
		case *stream.Object:
			if r.Obj == 0 || r.Type == 0 || len(r.Bonus) > format.BonusMax {
				return fmt.Errorf("%w: bad object record", stream.ErrCorrupt)
			}
			o, err := os.Claim(r.Obj, format.ObjectType(r.Type), r.BlkSz, dp.NextTxg())
			if err != nil {
				return err
			}
			if err := o.SetBonus(r.Bonus); err != nil {
				return err
			}
			info := o.Info()
			if info.MaxBlkID > r.MaxBlkID {
				if err := o.Truncate((r.MaxBlkID + 1) * uint64(r.BlkSz)); err != nil {
					return err
				}
			}
			objs[r.Obj] = o
		case *stream.FreeObject:
			delete(objs, r.Obj)
			if err := os.FreeObject(r.Obj); err != nil && !errors.Is(err, dmu.ErrNoObject) {
				return err
			}
		case *stream.Write:
			o, err := get(r.Obj)
			if err != nil {
				return err
			}
			bs := uint64(o.Info().BlkSz)
			if uint64(len(r.Data)) != bs {
				return fmt.Errorf("write of %d bytes to object %d with %d-byte blocks", len(r.Data), r.Obj, bs)
			}
			if err := o.Write(r.Data, r.BlkID*bs); err != nil {
				return err
			}
			if err := dp.MaybeSync(); err != nil {
				return err
			}
		case *stream.Free:
			o, err := get(r.Obj)
			if err != nil {
				return err
			}
			if err := o.FreeRange(r.First, r.End); err != nil {
				return err
			}
		default:
			return fmt.Errorf("%w: unexpected record in a plaintext stream", stream.ErrCorrupt)
		}
	}
}
