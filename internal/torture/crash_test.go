package torture

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"coffer/internal/dmu"
	"coffer/internal/dsl"
	"coffer/internal/format"
	"coffer/internal/pool"
)

// The crash test re-executes the test binary as a writer (TestCrashChild
// with childEnv set), kills it with SIGKILL at a random moment, imports the
// pool in the parent and checks that the last state the child reported
// durable is exactly what is on disk.
//
// Journal protocol (stdout lines starting with linePrefix, one JSON object
// each, written with a single write):
//
//	ready  {seq, txg, state}  the child imported the pool; state is durable
//	intent {seq, txg, state}  the child is about to commit; txg is the last
//	                          committed txg, state what the commit makes durable
//	done   {seq, txg}         the commit of intent seq returned at txg
//
// After the kill the disk holds either the state of the last done line (txg
// equal), or that of the intent just after it (its commit completed but the
// child died before saying so: txg one higher). Nothing else is acceptable.

const (
	childEnv = "COFFER_TORTURE_CRASH_CHILD"
	// selfCheckEnv=1 makes the child read the whole state back after every
	// commit (slow; for hunting a difference down to its operation).
	selfCheckEnv = "COFFER_TORTURE_SELFCHECK"
	linePrefix   = "TORTURE "
	maxObjLen    = 3 << 20 // object contents stay small enough to model in memory
	maxObjs      = 20      // per dataset
	maxSnaps     = 3       // per dataset
)

// The datasets of the crash pool: plain, an encryption root, and an
// encrypted child that inherits the key with other compression.
var crashDatasets = []string{"tank/plain", "tank/enc", "tank/enc/z"}

// objState is what the journal says about one object.
type objState struct {
	Len   int    `json:"l"`
	Sum   string `json:"h"` // digest of the Len content bytes
	Bonus string `json:"b"` // digest of the bonus
}

// poolState is a complete durable state: live objects per dataset and the
// objects of every snapshot.
type poolState struct {
	Live  map[string]map[uint64]objState `json:"live"`
	Snaps map[string]map[uint64]objState `json:"snaps"`
}

type journalLine struct {
	T     string     `json:"t"`
	Seq   int        `json:"seq"`
	Txg   uint64     `json:"txg"`
	Op    string     `json:"op,omitempty"`
	State *poolState `json:"state,omitempty"`
}

// childConfig is passed to the child in childEnv.
type childConfig struct {
	Dirs      []string `json:"dirs"`
	StateFile string   `json:"state_file"`
	Seed      uint64   `json:"seed"`
	Cycle     int      `json:"cycle"`
	// MaxOps > 0 stops the child after that many operations: it commits,
	// closes the pool and writes its state to StateFile (TestCrashHunt).
	MaxOps int `json:"max_ops,omitempty"`
}

// stateFile is what the parent hands to the next child: the verified state.
type stateFile struct {
	Seq   int       `json:"seq"`
	State poolState `json:"state"`
}

func emptyState() poolState {
	st := poolState{Live: map[string]map[uint64]objState{}, Snaps: map[string]map[uint64]objState{}}
	for _, ds := range crashDatasets {
		st.Live[ds] = map[uint64]objState{}
	}
	return st
}

func TestCrash(t *testing.T) {
	cases := []struct {
		name          string
		mirror        int
		short, longer int
	}{
		{"single", 0, 12, 200},
		{"mirror", 2, 6, 60},
	}
	seed := testSeed(t)
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cycles := c.short
			if long() {
				cycles = c.longer
			}
			crashCycles(t, seed+uint64(i)*1_000_003, c.mirror, cycles)
		})
	}
}

// createCrashPool makes the pool of TestCrash and returns its txg.
func createCrashPool(t *testing.T, spec pool.VdevSpec) uint64 {
	dp := createPool(t, spec)
	for _, ds := range crashDatasets {
		var o dsl.CreateOpts
		switch ds {
		case "tank/plain":
			o.Props = plainProps("lz4")
		case "tank/enc":
			o.Props, o.Key = encProps("off"), []byte(passphrase)
		default:
			o.Props = plainProps("lz4") // inherits tank/enc's key
		}
		if err := dp.Create(nil, ds, o); err != nil {
			t.Fatal(err)
		}
	}
	txg := dp.Raw().Txg()
	if err := dp.Close(); err != nil {
		t.Fatal(err)
	}
	return txg
}

// TestCrashHunt runs the child's operations in this process, without
// kills, reading the whole state back after every commit and reopening the
// pool every few hundred operations, for COFFER_TORTURE_HUNT (a duration).
// It finds a difference between the pool and the model at the operation
// that made it, much faster than TestCrash does.
func TestCrashHunt(t *testing.T) {
	d := os.Getenv("COFFER_TORTURE_HUNT")
	if d == "" {
		t.Skip("COFFER_TORTURE_HUNT=DURATION runs it")
	}
	dur, err := time.ParseDuration(d)
	if err != nil {
		t.Fatalf("COFFER_TORTURE_HUNT=%q: %v", d, err)
	}
	seed := testSeed(t)
	rng := newRand(seed, 3)
	base := t.TempDir()
	spec := pool.VdevSpec{Paths: []string{filepath.Join(base, "v0")}}
	createCrashPool(t, spec)
	stPath := filepath.Join(base, "state.json")
	b, _ := json.Marshal(stateFile{State: emptyState()})
	if err := os.WriteFile(stPath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var tr bytes.Buffer
	selfCheck, journalOut, traceOut = true, io.Discard, &tr
	t.Cleanup(func() { selfCheck, journalOut, traceOut = false, os.Stdout, os.Stderr })
	end := time.Now().Add(dur)
	cycle := 0
	for ; time.Now().Before(end); cycle++ {
		tr.Reset()
		cfg := childConfig{Dirs: spec.Paths, StateFile: stPath, Seed: seed + uint64(cycle)*7919, Cycle: cycle, MaxOps: 50 + rng.IntN(500)}
		if err := runChild(cfg); !errors.Is(err, errStopped) {
			t.Fatalf("cycle %d: %v\n%s\nlast operations:\n%s", cycle, err, keepPool(t, spec.Paths), lastLines(tr.String(), 80))
		}
	}
	t.Logf("%d cycles in %v without a difference", cycle, dur)
}

func crashCycles(t *testing.T, seed uint64, mirror, cycles int) {
	base := t.TempDir()
	var spec pool.VdevSpec
	if mirror == 0 {
		spec.Paths = []string{filepath.Join(base, "v0")}
	} else {
		spec.Mirror = true
		for i := 0; i < mirror; i++ {
			spec.Paths = append(spec.Paths, filepath.Join(base, fmt.Sprintf("m%d", i)))
		}
	}
	prevTxg := createCrashPool(t, spec)
	stPath := filepath.Join(base, "state.json")
	sf := stateFile{State: emptyState()}
	rng := newRand(seed, 1)
	start := time.Now()
	var commits, pendingWins, noReady int
	for cycle := 0; cycle < cycles; cycle++ {
		b, _ := json.Marshal(sf)
		if err := os.WriteFile(stPath, b, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg := childConfig{Dirs: spec.Paths, StateFile: stPath, Seed: seed + uint64(cycle)*7919, Cycle: cycle}
		lines, stderr := runAndKill(t, cfg, rng)
		// Find the durable candidates.
		intents := map[int]*journalLine{}
		var done *journalLine // last done (or ready) line
		var doneState *poolState
		for i := range lines {
			l := &lines[i]
			switch l.T {
			case "ready":
				if l.Seq != sf.Seq {
					t.Fatalf("cycle %d: child ready at seq %d, state file has %d", cycle, l.Seq, sf.Seq)
				}
				done, doneState = l, l.State
			case "intent":
				intents[l.Seq] = l
			case "done":
				in := intents[l.Seq]
				if in == nil {
					t.Fatalf("cycle %d: done %d without intent", cycle, l.Seq)
				}
				done, doneState = l, in.State
				commits++
			}
		}
		want, wantSeq, wantTxg := sf.State, sf.Seq, prevTxg
		var pending *journalLine
		if done != nil {
			want, wantSeq, wantTxg = *doneState, done.Seq, done.Txg
			pending = intents[done.Seq+1]
		} else {
			noReady++
		}
		dp, err := importPool(spec.Paths...)
		if err != nil {
			t.Fatalf("cycle %d: import after kill: %v\nchild stderr:\n%s", cycle, err, stderr)
		}
		got := dp.Raw().Txg()
		switch {
		case got == wantTxg:
		case pending != nil && got == pending.Txg+1:
			want, wantSeq = *pending.State, pending.Seq
			pendingWins++
		default:
			dp.Close()
			p := "none"
			if pending != nil {
				p = fmt.Sprintf("seq %d (%s) after txg %d", pending.Seq, pending.Op, pending.Txg)
			}
			t.Fatalf("cycle %d: pool imported at txg %d; last durable txg %d (seq %d), pending intent %s", cycle, got, wantTxg, wantSeq, p)
		}
		if err := dp.CheckErr(); err != nil {
			dp.Close()
			t.Fatalf("cycle %d (seq %d, txg %d): %v", cycle, wantSeq, got, err)
		}
		if err := dp.LoadKey("tank/enc", false, "", []byte(passphrase)); err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		if probs := verifyState(dp, want); len(probs) > 0 {
			dp.Close()
			which := "the last acknowledged commit"
			if got != wantTxg {
				which = "the unacknowledged commit " + pending.Op
			}
			t.Fatalf("cycle %d: state seq %d at txg %d (%s) differs from the journal (%d problems):\n%s\n%s\nlast operations of the child:\n%s",
				cycle, wantSeq, got, which, len(probs), strings.Join(probs[:min(len(probs), 15)], "\n"), keepPool(t, spec.Paths), lastLines(stderr, 60))
		}
		if n := dp.Raw().DamagedBlocks(); n != 0 {
			t.Fatalf("cycle %d: %d damaged blocks after a crash", cycle, n)
		}
		prevTxg = dp.Raw().Txg()
		if err := dp.Close(); err != nil {
			t.Fatal(err)
		}
		sf = stateFile{Seq: wantSeq, State: want}
		if (cycle+1)%25 == 0 {
			t.Logf("%d cycles in %v", cycle+1, time.Since(start).Round(time.Millisecond))
		}
	}
	nobj := 0
	for _, m := range sf.State.Live {
		nobj += len(m)
	}
	t.Logf("%d cycles in %v: %d commits acknowledged, %d kills landed after an unacknowledged commit, %d before the child was ready; final state seq %d, %d objects, %d snapshots",
		cycles, time.Since(start).Round(time.Millisecond), commits, pendingWins, noReady, sf.Seq, nobj, len(sf.State.Snaps))
}

// runAndKill starts the child, kills it with SIGKILL after a random delay
// and returns the complete journal lines it wrote and its stderr.
func runAndKill(t *testing.T, cfg childConfig, rng *rand.Rand) ([]journalLine, string) {
	t.Helper()
	b, _ := json.Marshal(cfg)
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+string(b))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		lines []journalLine
		ready = make(chan struct{})
		eof   = make(chan struct{})
	)
	go func() {
		defer close(eof)
		r := bufio.NewReaderSize(out, 1<<20)
		once := sync.Once{}
		for {
			raw, err := r.ReadBytes('\n')
			if err != nil {
				return // a line without its newline was cut by the kill: ignore it
			}
			s, ok := strings.CutPrefix(string(raw), linePrefix)
			if !ok {
				continue
			}
			var l journalLine
			if err := json.Unmarshal([]byte(s), &l); err != nil {
				continue
			}
			mu.Lock()
			lines = append(lines, l)
			mu.Unlock()
			if l.T == "ready" {
				once.Do(func() { close(ready) })
			}
		}
	}()
	delay := time.Duration(50+rng.IntN(751)) * time.Millisecond
	fromStart := rng.IntN(5) == 0 // sometimes during startup and import
	if !fromStart {
		select {
		case <-ready:
		case <-eof:
		case <-time.After(60 * time.Second):
			t.Error("child not ready after 60s")
		}
	}
	select {
	case <-time.After(delay):
	case <-eof:
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-eof
	werr := cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(werr, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Fatalf("child ended on its own (%v) before the kill:\n%s", werr, lastLines(stderr.String(), 80))
	}
	mu.Lock()
	defer mu.Unlock()
	return lines, stderr.String()
}

// verifyState compares the pool with a journal state: every object of
// every dataset and snapshot, byte for byte through its digest, bytes past
// the end read as zeros, no object that the journal does not list.
func verifyState(dp *dsl.Pool, want poolState) []string {
	var probs []string
	bad := func(f string, a ...any) { probs = append(probs, fmt.Sprintf(f, a...)) }
	for _, ds := range crashDatasets {
		os, err := dp.Objset(ds)
		if err != nil {
			bad("%s: %v", ds, err)
			continue
		}
		verifyObjects(os, ds, want.Live[ds], bad)
		var snaps []string
		for name := range want.Snaps {
			if strings.HasPrefix(name, ds+"@") {
				snaps = append(snaps, name)
			}
		}
		sort.Strings(snaps)
		have := slices.Clone(dp.Snapshots(ds))
		sort.Strings(have)
		if !slices.Equal(snaps, have) {
			bad("%s: snapshots %v, journal says %v", ds, have, snaps)
		}
		for _, name := range snaps {
			sos, err := dp.SnapshotObjset(name)
			if err != nil {
				bad("%s: %v", name, err)
				continue
			}
			verifyObjects(sos, name, want.Snaps[name], bad)
		}
	}
	return probs
}

func verifyObjects(os *dmu.Objset, name string, want map[uint64]objState, bad func(string, ...any)) {
	maxID := os.MaxObjectID()
	for id := range want {
		maxID = max(maxID, id)
	}
	for id := uint64(1); id <= maxID; id++ {
		w, listed := want[id]
		o, err := os.Object(id)
		if isNoObject(err) {
			if listed {
				bad("%s: object %d (len %d) is missing", name, id, w.Len)
			}
			continue
		}
		if err != nil {
			bad("%s: object %d: %v", name, id, err)
			continue
		}
		if !listed {
			bad("%s: object %d exists but the journal does not list it (freed or never committed)", name, id)
			continue
		}
		buf := make([]byte, w.Len+64<<10)
		if err := o.Read(buf, 0); err != nil {
			bad("%s: object %d: read: %v", name, id, err)
			continue
		}
		if d := digest(buf[:w.Len]); d != w.Sum {
			bad("%s: object %d: content of %d bytes differs (digest %s, want %s)", name, id, w.Len, d, w.Sum)
		}
		if i := bytes.IndexFunc(buf[w.Len:], func(r rune) bool { return r != 0 }); i >= 0 {
			bad("%s: object %d: non-zero byte at %d, past its end %d", name, id, w.Len+i, w.Len)
		}
		bonus, err := o.Bonus()
		if err != nil {
			bad("%s: object %d: bonus: %v", name, id, err)
		} else if d := digest(bonus); d != w.Bonus {
			bad("%s: object %d: bonus of %d bytes differs", name, id, len(bonus))
		}
	}
}

// trace writes one line about a child's operation to its stderr, which the
// parent shows when a state differs from the journal.
func trace(f string, a ...any) { fmt.Fprintf(traceOut, f+"\n", a...) }

// Where the child writes its journal and trace (TestCrashHunt runs the
// child's code in its own process).
var (
	journalOut io.Writer = os.Stdout
	traceOut   io.Writer = os.Stderr
)

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// keepPool copies the vdevs of a failed run out of the test's temporary
// directory and says where they are.
func keepPool(t *testing.T, paths []string) string {
	dir, err := os.MkdirTemp("", "coffer-crash-")
	if err != nil {
		return "pool not kept: " + err.Error()
	}
	for i, p := range paths {
		copyDir(t, p, filepath.Join(dir, fmt.Sprintf("v%d", i)))
	}
	return "pool kept in " + dir
}

// ---- the child ----

// TestCrashChild is the writer process of TestCrash; it does nothing unless
// childEnv is set.
func TestCrashChild(t *testing.T) {
	raw := os.Getenv(childEnv)
	if raw == "" {
		return
	}
	var cfg childConfig
	if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child config:", err)
		os.Exit(3)
	}
	selfCheck = os.Getenv(selfCheckEnv) == "1"
	err := runChild(cfg)
	fmt.Fprintln(os.Stderr, "child stopped:", err)
	os.Exit(3)
}

var selfCheck bool

// errStopped is runChild's return after cfg.MaxOps operations.
var errStopped = errors.New("stopped after MaxOps operations")

// model is the child's in-memory copy of everything it wrote.
type model struct {
	live  map[string]map[uint64]*objModel
	snaps map[string]map[uint64]objState
}

type objModel struct {
	data  []byte
	bonus []byte
	sum   string // digest of data; "" when it must be recomputed
}

func (m *model) state() poolState {
	st := poolState{Live: map[string]map[uint64]objState{}, Snaps: map[string]map[uint64]objState{}}
	for ds := range m.live {
		st.Live[ds] = m.dsState(ds)
	}
	for n, s := range m.snaps {
		st.Snaps[n] = s
	}
	return st
}

func (m *model) dsState(ds string) map[uint64]objState {
	out := map[uint64]objState{}
	for id, o := range m.live[ds] {
		if o.sum == "" {
			o.sum = digest(o.data)
		}
		out[id] = objState{Len: len(o.data), Sum: o.sum, Bonus: digest(o.bonus)}
	}
	return out
}

func emit(l journalLine) {
	b, err := json.Marshal(l)
	if err != nil {
		panic(err)
	}
	// One write per line, so that a line is in the pipe before the next
	// step starts.
	if _, err := journalOut.Write([]byte(linePrefix + string(b) + "\n")); err != nil {
		os.Exit(4)
	}
}

// loadLive reads the objects a state lists from the pool into the model,
// checking them on the way.
func loadLive(dp *dsl.Pool, ds string, want map[uint64]objState) (map[uint64]*objModel, error) {
	os, err := dp.Objset(ds)
	if err != nil {
		return nil, err
	}
	out := map[uint64]*objModel{}
	for id, w := range want {
		o, err := os.Object(id)
		if err != nil {
			return nil, fmt.Errorf("%s object %d: %w", ds, id, err)
		}
		data := make([]byte, w.Len)
		if err := o.Read(data, 0); err != nil {
			return nil, fmt.Errorf("%s object %d: %w", ds, id, err)
		}
		bonus, err := o.Bonus()
		if err != nil {
			return nil, fmt.Errorf("%s object %d: %w", ds, id, err)
		}
		if digest(data) != w.Sum || digest(bonus) != w.Bonus {
			return nil, fmt.Errorf("%s object %d: content differs from the state it was loaded for", ds, id)
		}
		out[id] = &objModel{data: data, bonus: bonus, sum: w.Sum}
	}
	return out, nil
}

func runChild(cfg childConfig) error {
	b, err := os.ReadFile(cfg.StateFile)
	if err != nil {
		return err
	}
	var sf stateFile
	if err := json.Unmarshal(b, &sf); err != nil {
		return err
	}
	dp, err := importPool(cfg.Dirs...)
	if err != nil {
		return err
	}
	if err := dp.LoadKey("tank/enc", false, "", []byte(passphrase)); err != nil {
		return err
	}
	m := &model{live: map[string]map[uint64]*objModel{}, snaps: sf.State.Snaps}
	if m.snaps == nil {
		m.snaps = map[string]map[uint64]objState{}
	}
	for _, ds := range crashDatasets {
		if m.live[ds], err = loadLive(dp, ds, sf.State.Live[ds]); err != nil {
			return err
		}
	}
	seq := sf.Seq
	st := m.state()
	emit(journalLine{T: "ready", Seq: seq, Txg: dp.Raw().Txg(), State: &st})
	rng := newRand(cfg.Seed, 2)
	snapNo := 0
	ver := uint64(1000 * (cfg.Cycle + 1))

	// check reads everything back in this process with selfCheck: a
	// difference is found at the operation that made it, not after a kill.
	check := func(op string, want poolState) error {
		if !selfCheck {
			return nil
		}
		if probs := verifyState(dp, want); len(probs) > 0 {
			return fmt.Errorf("self-check after %s (seq %d, txg %d): %s", op, seq, dp.Raw().Txg(), strings.Join(probs[:min(len(probs), 5)], "; "))
		}
		return nil
	}
	// commit runs one committing operation between an intent and a done line.
	commit := func(op string, after poolState, fn func() error) error {
		seq++
		trace("commit %d %s at txg %d", seq, op, dp.Raw().Txg())
		emit(journalLine{T: "intent", Seq: seq, Txg: dp.Raw().Txg(), Op: op, State: &after})
		if err := fn(); err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		emit(journalLine{T: "done", Seq: seq, Txg: dp.Raw().Txg()})
		if op != "unload-key" {
			return check(op, after)
		}
		return nil
	}
	pickObj := func(ds string) (uint64, *objModel) {
		ids := make([]uint64, 0, len(m.live[ds]))
		for id := range m.live[ds] {
			ids = append(ids, id)
		}
		if len(ids) == 0 {
			return 0, nil
		}
		slices.Sort(ids)
		id := ids[rng.IntN(len(ids))]
		return id, m.live[ds][id]
	}
	snapsOf := func(ds string) []string { return dp.Snapshots(ds) }

	for ops := 0; ; ops++ {
		if cfg.MaxOps > 0 && ops == cfg.MaxOps {
			st := m.state()
			if err := commit("sync", st, dp.Sync); err != nil {
				return err
			}
			b, _ := json.Marshal(stateFile{Seq: seq, State: st})
			if err := errors.Join(dp.Close(), os.WriteFile(cfg.StateFile, b, 0o600)); err != nil {
				return err
			}
			return errStopped
		}
		ds := crashDatasets[rng.IntN(len(crashDatasets))]
		os, err := dp.Objset(ds)
		if err != nil {
			return err
		}
		objs := m.live[ds]
		ver++
		switch r := rng.IntN(100); {
		case r < 14 && len(objs) < maxObjs: // create
			rec := []uint32{512, 4 << 10, 16 << 10, 128 << 10}[rng.IntN(4)]
			o, err := os.NewObject(format.ObjectPlain, rec, dp.NextTxg())
			if err != nil {
				return err
			}
			var n int
			switch k := rng.IntN(10); {
			case k < 1:
				n = 0
			case k < 5:
				n = 1 + rng.IntN(8<<10)
			case k < 8:
				n = 1 + rng.IntN(256<<10)
			default:
				n = 1 + rng.IntN(2<<20)
			}
			if rec == 512 {
				n = min(n, 600<<10)
			}
			data := fill(o.ID(), ver, n)
			if n > 0 {
				if err := o.Write(data, 0); err != nil {
					return err
				}
			}
			objs[o.ID()] = &objModel{data: data, bonus: []byte{}}
			trace("create %s %d rec %d len %d", ds, o.ID(), rec, n)
		case r < 40: // overwrite a range, sometimes past the end (sparse)
			id, om := pickObj(ds)
			if om == nil {
				continue
			}
			o, err := os.Object(id)
			if err != nil {
				return err
			}
			off := rng.IntN(len(om.data) + 1)
			if rng.IntN(6) == 0 {
				off += rng.IntN(1 << 20)
			}
			n := 1 + rng.IntN(256<<10)
			if off+n > maxObjLen {
				continue
			}
			data := fill(id, ver, n)
			if err := o.Write(data, uint64(off)); err != nil {
				return err
			}
			if off+n > len(om.data) {
				om.data = append(om.data, make([]byte, off+n-len(om.data))...)
			}
			copy(om.data[off:], data)
			om.sum = ""
			trace("write %s %d off %d len %d", ds, id, off, n)
		case r < 50: // truncate, sometimes to a larger size
			id, om := pickObj(ds)
			if om == nil {
				continue
			}
			o, err := os.Object(id)
			if err != nil {
				return err
			}
			size := rng.IntN(len(om.data) + 1)
			if rng.IntN(8) == 0 {
				size = len(om.data) + rng.IntN(64<<10)
			}
			if err := o.Truncate(uint64(size)); err != nil {
				return err
			}
			if size <= len(om.data) {
				om.data = om.data[:size:size]
			} else {
				om.data = append(om.data, make([]byte, size-len(om.data))...)
			}
			om.sum = ""
			trace("truncate %s %d to %d", ds, id, size)
			if rng.IntN(3) == 0 {
				// Rewrite after truncate in the same txg (O_TRUNC, then write).
				off := size + rng.IntN(64<<10)
				if rng.IntN(4) == 0 {
					// Far enough that the tree may need another level
					// in the txg that frees the truncated blocks.
					off += 512<<10 + rng.IntN(512<<10)
				}
				data := fill(id, ver+1, 1+rng.IntN(16<<10))
				if off+len(data) <= maxObjLen {
					if err := o.Write(data, uint64(off)); err != nil {
						return err
					}
					om.data = append(om.data, make([]byte, off+len(data)-len(om.data))...)
					copy(om.data[off:], data)
					trace("write %s %d off %d len %d (after truncate)", ds, id, off, len(data))
				}
			}
		case r < 57: // free
			id, om := pickObj(ds)
			if om == nil {
				continue
			}
			if err := os.FreeObject(id); err != nil {
				return err
			}
			delete(objs, id)
			trace("free %s %d", ds, id)
		case r < 63: // bonus
			id, om := pickObj(ds)
			if om == nil {
				continue
			}
			o, err := os.Object(id)
			if err != nil {
				return err
			}
			bonus := fill(id, ver, rng.IntN(format.BonusMax+1))
			if err := o.SetBonus(bonus); err != nil {
				return err
			}
			om.bonus = bonus
			trace("bonus %s %d len %d", ds, id, len(bonus))
		case r < 80: // fsync
			if err := commit("sync", m.state(), dp.Sync); err != nil {
				return err
			}
		case r < 87: // snapshot
			if len(snapsOf(ds)) >= maxSnaps {
				continue
			}
			snapNo++
			name := fmt.Sprintf("%s@c%ds%d", ds, cfg.Cycle, snapNo)
			after := m.state()
			after.Snaps[name] = m.dsState(ds)
			if err := commit("snapshot "+name, after, func() error { return dp.Snapshot([]string{name}, false, nil) }); err != nil {
				return err
			}
			m.snaps[name] = after.Snaps[name]
		case r < 93: // destroy a snapshot
			snaps := snapsOf(ds)
			if len(snaps) == 0 {
				continue
			}
			name := snaps[rng.IntN(len(snaps))]
			after := m.state()
			delete(after.Snaps, name)
			if err := commit("destroy "+name, after, func() error {
				_, err := dp.Destroy(name, dsl.DestroyOpts{})
				return err
			}); err != nil {
				return err
			}
			delete(m.snaps, name)
		case r < 96: // roll back, destroying later snapshots
			snaps := snapsOf(ds)
			if len(snaps) == 0 {
				continue
			}
			i := rng.IntN(len(snaps))
			name := snaps[i]
			after := m.state()
			after.Live[ds] = m.snaps[name]
			for _, later := range snaps[i+1:] {
				delete(after.Snaps, later)
			}
			if err := commit("rollback "+name, after, func() error { return dp.Rollback(name, true) }); err != nil {
				return err
			}
			for _, later := range snaps[i+1:] {
				delete(m.snaps, later)
			}
			if m.live[ds], err = loadLive(dp, ds, after.Live[ds]); err != nil {
				return fmt.Errorf("after rollback to %s: %w", name, err)
			}
		default: // unload and reload the key (commits dirty data)
			if err := commit("unload-key", m.state(), func() error {
				_, err := dp.UnloadKey("tank/enc", false, false)
				return err
			}); err != nil {
				return err
			}
			if err := dp.LoadKey("tank/enc", false, "", []byte(passphrase)); err != nil {
				return err
			}
			if err := check("unload-key", m.state()); err != nil {
				return err
			}
		}
	}
}
