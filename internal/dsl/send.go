package dsl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"coffer/internal/crypto"
	"coffer/internal/dmu"
	"coffer/internal/format"
	"coffer/internal/pool"
	"coffer/internal/props"
	"coffer/internal/stream"
)

// SendOpts are the options of send.
type SendOpts struct {
	Raw           bool   // -w: blocks as stored
	Replicate     bool   // -R: the dataset tree, all snapshots up to the named one
	From          string // -i/-I base: "@snap" or "ds@snap"
	Intermediates bool   // -I
	Token         string // -t: resume an interrupted receive (the snapshot comes from it)
}

// SendStep is one stream of a send: full when From is empty.
type SendStep struct {
	From, To string
	Bytes    uint64
	from, to *dsRec
	skip     uint64 // blocks the receiver already has (resume)
}

// sendPlan resolves a send into its streams; dp.mu held.
func (dp *Pool) sendPlan(snap string, o SendOpts) ([]SendStep, string, error) {
	if o.Token != "" {
		return dp.resumePlan(o.Token)
	}
	s := dp.lookup(snap)
	if s == nil || s.Type != "snapshot" {
		return nil, "", errf(CodeNotFound, "cannot send '%s': snapshot does not exist", snap)
	}
	owner := dp.owner(s)
	_, snapName := props.Split(snap)
	var fromName string
	if o.From != "" {
		ds, fs := props.Split(o.From)
		if strings.HasPrefix(o.From, "@") {
			ds = owner.Name
		}
		if ds != owner.Name || fs == "" {
			return nil, "", errf(CodeInvalid, "cannot send '%s': incremental source '%s' must be a snapshot of '%s'", snap, o.From, owner.Name)
		}
		fromName = fs
		f := dp.lookup(owner.Name + "@" + fs)
		if f == nil {
			return nil, "", errf(CodeNotFound, "cannot send '%s': incremental source '%s' does not exist", snap, owner.Name+"@"+fs)
		}
		if f.CreateTxg >= s.CreateTxg {
			return nil, "", errf(CodeInvalid, "cannot send '%s': incremental source '%s' is not earlier than it", snap, f.Name)
		}
	}
	datasets := []*dsRec{owner}
	if o.Replicate {
		datasets = dp.descendants(owner)
	}
	var steps []SendStep
	warning := ""
	for _, d := range datasets {
		to := dp.lookup(d.Name + "@" + snapName)
		if to == nil {
			continue // -R: a child created after the snapshot
		}
		if d.Suite != 0 && !o.Raw {
			if l := dp.live[d.ID]; l == nil || l.key == nil {
				return nil, "", errf(CodeKey, "cannot send '%s': encryption key not loaded (use -w to send it raw)", to.Name)
			}
			warning = fmt.Sprintf("warning: '%s' is encrypted and this stream carries it in plaintext (use -w for a raw, encrypted stream)", d.Name)
		}
		var from *dsRec
		if fromName != "" {
			from = dp.lookup(d.Name + "@" + fromName)
		}
		snaps := dp.snapshots(d)
		switch {
		case o.Replicate || o.Intermediates:
			prev := from
			for _, x := range snaps {
				if x.CreateTxg > to.CreateTxg || (prev != nil && x.CreateTxg <= prev.CreateTxg) {
					continue
				}
				if from == nil && !o.Replicate && x.ID != to.ID {
					continue
				}
				steps = append(steps, SendStep{from: prev, to: x})
				prev = x
			}
		default:
			steps = append(steps, SendStep{from: from, to: to})
		}
	}
	for i := range steps {
		st := &steps[i]
		st.To = st.to.Name
		if st.from != nil {
			st.From = st.from.Name
			if o.Raw && st.from.KeyGUID != st.to.KeyGUID {
				return nil, "", errf(CodeInvalid, "cannot send '%s': incremental source '%s' has another master key (deep rekey); send a full stream", st.To, st.From)
			}
		}
	}
	return steps, warning, nil
}

// SendEstimate returns the streams a send would write and their sizes.
func (dp *Pool) SendEstimate(snap string, o SendOpts) ([]SendStep, string, error) {
	dp.mu.Lock()
	steps, warning, err := dp.sendPlan(snap, o)
	dp.mu.Unlock()
	if err != nil {
		return nil, "", err
	}
	for i := range steps {
		st := &steps[i]
		var base format.BlockPointer
		var min uint64
		if st.from != nil {
			base, min = st.from.Root, st.from.CreateTxg
		}
		n := uint64(512) // begin and end records
		err := dmu.Changes(dp.p, st.to.Root, base, min, false, func(_ dmu.Pos, bp *format.BlockPointer) error {
			if o.Raw {
				n += uint64(bp.PSize) + 32 + 146
			} else if bp.Type == format.TypeData {
				n += uint64(bp.LSize) + 48
			} else if bp.Type == format.TypeDnode {
				n += uint64(bp.Fill) * (32 + 26 + format.BonusMax)
			}
			return nil
		})
		if err != nil {
			return nil, "", errf(CodeIO, "cannot send '%s': %v", st.To, err)
		}
		st.Bytes = n
	}
	return steps, warning, nil
}

// hold keeps snapshots from being destroyed while a send reads them.
func (dp *Pool) hold(ids ...uint64) {
	for _, id := range ids {
		dp.holds[id]++
	}
}

func (dp *Pool) release(ids ...uint64) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	for _, id := range ids {
		if dp.holds[id]--; dp.holds[id] <= 0 {
			delete(dp.holds, id)
		}
	}
}

// Send writes the streams of a send to w, one after another.
func (dp *Pool) Send(ctx context.Context, snap string, o SendOpts, w io.Writer) error {
	dp.mu.Lock()
	steps, _, err := dp.sendPlan(snap, o)
	if err != nil {
		dp.mu.Unlock()
		return err
	}
	type job struct {
		step    SendStep
		begin   stream.Begin
		key     *crypto.DatasetKey
		fromKey *crypto.DatasetKey
	}
	var jobs []job
	var held []uint64
	for _, st := range steps {
		d := dp.owner(st.to)
		b := stream.Begin{
			Kind: "full", Raw: o.Raw, Type: d.Type, Name: st.to.Name, GUID: st.to.GUID,
			CreateTxg: st.to.CreateTxg, Creation: st.to.Created, Volsize: d.Volsize,
		}
		if len(d.Props) > 0 {
			b.Props = map[string]string{}
			for k, v := range d.Props {
				b.Props[k] = v
			}
		}
		if st.from != nil {
			b.Kind, b.FromGUID, b.FromName = "incremental", st.from.GUID, st.from.Name
			held = append(held, st.from.ID)
		}
		if o.Token != "" {
			b.Raw, b.ResumeAt = true, st.skip
			o.Raw = true
		}
		held = append(held, st.to.ID)
		var key, fromKey *crypto.DatasetKey
		if d.Suite != 0 {
			if o.Raw {
				root := dp.m.Datasets[d.EncRoot]
				ki := root.KeyInfo
				b.Crypt = &stream.Crypt{Suite: d.Suite, KeyGUID: st.to.KeyGUID, Wrapped: append([]byte(nil), wrappedFor(d, st.to.KeyGUID)...),
					KeyFormat: ki.Format, KDF: ki.KDF, Salt: ki.Salt, Iters: ki.Iters, Memory: ki.Memory, Threads: ki.Threads,
					EncRoot: root.Name}
				if props.KeyProvider(ki.Location) != "" && len(ki.Sealed) > 0 {
					b.Crypt.Provider, b.Crypt.Sealed = ki.Location, append([]byte(nil), ki.Sealed...)
				}
			} else {
				key = dp.keyFor(d, st.to.KeyGUID)
				if st.from != nil {
					fromKey = dp.keyFor(d, st.from.KeyGUID)
				}
			}
		}
		jobs = append(jobs, job{st, b, key, fromKey})
	}
	dp.hold(held...)
	dp.mu.Unlock()
	defer dp.release(held...)
	for _, j := range jobs {
		if err := ctx.Err(); err != nil {
			return err
		}
		sw := stream.NewWriter(w)
		if err := sw.Begin(j.begin); err != nil {
			return err
		}
		if o.Raw {
			err = dp.sendRaw(ctx, sw, j.step)
		} else {
			err = dp.sendPlain(ctx, sw, j.step, j.key, j.fromKey)
		}
		if err != nil {
			return err
		}
		if err := sw.End(); err != nil {
			return err
		}
	}
	return nil
}

// sendReaders read a raw send's blocks ahead of its writer, in runs of at
// most sendRunBlocks blocks stored next to each other.
const (
	sendReaders   = 4
	sendRunBlocks = 16
)

// sendRaw writes the blocks of step.to that step.from does not have, as
// stored, children before parents. The walk feeds sendReaders goroutines
// that read ahead; blocks are written in walk order.
func (dp *Pool) sendRaw(ctx context.Context, sw *stream.Writer, st SendStep) error {
	var base format.BlockPointer
	var min uint64
	if st.from != nil {
		base, min = st.from.Root, st.from.CreateTxg
	}
	type item struct {
		pos  dmu.Pos
		bp   format.BlockPointer
		seq  uint64 // its record's sequence number in the stream
		data []byte
		sum  uint64 // its record's checksum (stream.BlockSum)
		err  error
		done chan struct{}
	}
	// Nothing else is written while the blocks are, so block i is record
	// seq0+i; the readers compute each record's checksum (the writer
	// checks the seq and computes it again if it differs).
	seq := sw.Seq()
	block := func(it *item) stream.Block {
		b := stream.Block{Pos: stream.Pos(it.pos), Data: it.data}
		it.bp.Portable(b.BP[:])
		return b
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ordered := make(chan *item, 64)
	work := make(chan []*item, 4)
	walkErr := make(chan error, 1)
	go func() {
		defer close(ordered)
		defer close(work)
		skip := st.skip
		// Blocks stored next to each other, in walk order, go to one
		// reader as a run and are read with one read (pool.RunSpan).
		var run []*item
		var bps []format.BlockPointer
		flush := func() error {
			if len(run) == 0 {
				return nil
			}
			// To the readers first, then to the writer: every block the
			// writer waits for is being read, even when the send stops
			// between the two (the writer then never sees the block).
			select {
			case work <- run:
			case <-ctx.Done():
				return ctx.Err()
			}
			for _, it := range run {
				select {
				case ordered <- it:
				case <-ctx.Done():
					return ctx.Err()
				}
			}
			run, bps = nil, bps[:0]
			return nil
		}
		err := dmu.Changes(dp.p, st.to.Root, base, min, false, func(pos dmu.Pos, bp *format.BlockPointer) error {
			if skip > 0 { // the receiver has these already (resume)
				skip--
				return nil
			}
			if len(run) == sendRunBlocks || (len(run) > 0 && !pool.RunSpan(append(bps, *bp))) {
				if err := flush(); err != nil {
					return err
				}
			}
			run = append(run, &item{pos: pos, bp: *bp, seq: seq, done: make(chan struct{})})
			seq++
			bps = append(bps, *bp)
			return nil
		})
		if err == nil {
			err = flush()
		}
		walkErr <- err
	}()
	read := func(it *item, b []byte, err error) {
		it.data, it.err = b, err
		if err == nil {
			it.sum = stream.BlockSum(it.seq, block(it))
		}
		close(it.done)
	}
	for i := 0; i < sendReaders; i++ {
		go func() {
			for run := range work {
				if len(run) == 1 {
					b, err := dp.p.ReadStoredBuf(&run[0].bp)
					read(run[0], b, err)
					continue
				}
				bps := make([]format.BlockPointer, len(run))
				for i, it := range run {
					bps[i] = it.bp
				}
				dp.p.ReadStoredRun(bps, func(i int, b []byte, err error) { read(run[i], b, err) })
			}
		}()
	}
	var err error
	for it := range ordered {
		<-it.done
		if err == nil && it.err != nil {
			err = errf(CodeIO, "cannot send '%s': %v", st.To, it.err)
		}
		if err == nil {
			err = sw.BlockSummed(block(it), it.seq, it.sum)
		}
		if it.data != nil {
			pool.PutBuf(it.data)
		}
		if err != nil {
			cancel() // stop the walk; keep draining so the readers finish
		}
	}
	if werr := <-walkErr; err == nil && werr != nil && !errors.Is(werr, context.Canceled) {
		err = errf(CodeIO, "cannot send '%s': %v", st.To, werr)
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// resumePlan is the one step a resume token names; dp.mu held.
func (dp *Pool) resumePlan(token string) ([]SendStep, string, error) {
	t, err := parseToken(token)
	if err != nil {
		return nil, "", err
	}
	if !t.Raw {
		return nil, "", errf(CodeInvalid, "cannot resume send: only raw (-w) streams resume")
	}
	var to, from *dsRec
	for _, r := range dp.m.Datasets {
		if r.Type == "snapshot" && r.GUID == t.GUID {
			to = r
		}
	}
	if to == nil {
		return nil, "", errf(CodeNotFound, "cannot resume send: snapshot '%s' (guid %d) does not exist here", t.Name, t.GUID)
	}
	if t.FromGUID != 0 {
		for _, r := range dp.snapshots(dp.owner(to)) {
			if r.GUID == t.FromGUID {
				from = r
			}
		}
		if from == nil {
			return nil, "", errf(CodeNotFound, "cannot resume send: the incremental source of '%s' does not exist here", to.Name)
		}
	}
	st := SendStep{To: to.Name, to: to, from: from, skip: t.Records}
	if from != nil {
		st.From = from.Name
	}
	return []SendStep{st}, "", nil
}
