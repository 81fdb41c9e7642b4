package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The load test: the real daemon, an encrypted file system mounted through
// FUSE, concurrent writers, a snapshot every second with old ones destroyed,
// and raw (full and incremental) and plaintext sends in flight all the time,
// each received into another pool. At the end every file, a sample of
// snapshots taken while it ran and every received dataset match what the
// writers recorded, `coffer pool check` is clean on every pool, and neither
// the plaintext marker the writers put in file names and contents nor the
// key appears in the vdev files, the raw streams or the daemon's log.
//
// It runs for COFFER_LOAD_DURATION (a Go duration); the default is 30s, or
// 10m with COFFER_TORTURE_LONG=1 (make torture).

const (
	loadWriters  = 4
	loadMaxFiles = 24         // per writer
	loadMaxSize  = 1536 << 10 // largest file a writer keeps
	loadKeepSnap = 5          // snapshots of tank/enc kept by the snapshotter
	loadKeepRecv = 6          // snapshots of backup/raw kept by the raw sender
)

func loadDuration(t *testing.T) time.Duration {
	t.Helper()
	if s := os.Getenv("COFFER_LOAD_DURATION"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("COFFER_LOAD_DURATION=%q: %v", s, err)
		}
		return d
	}
	if os.Getenv("COFFER_TORTURE_LONG") == "1" {
		return 10 * time.Minute
	}
	return 30 * time.Second
}

// loadSeed is COFFER_TORTURE_SEED when set, else the clock. The writers
// run concurrently, so a seed replays each writer's choices, not their
// interleaving.
func loadSeed(t *testing.T) uint64 {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("COFFER_TORTURE_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("COFFER_TORTURE_SEED=%q: %v", s, err)
		}
		seed = v
	}
	t.Logf("seed %d (COFFER_TORTURE_SEED=%d replays each writer's choices)", seed, seed)
	return seed
}

// treeModel is a file tree as the writers expect it: relative path ->
// sha256 of the content.
type treeModel map[string][32]byte

// wfile is one file of a writer's model.
type wfile struct {
	data []byte
	sum  [32]byte
	ok   bool // sum is up to date
}

func (f *wfile) hash() [32]byte {
	if !f.ok {
		f.sum, f.ok = sha256.Sum256(f.data), true
	}
	return f.sum
}

// loadWriter owns one directory of the mount; mu is held for each
// operation, so that the snapshotter sees the model and the file system in
// the same state.
type loadWriter struct {
	mu    sync.Mutex
	rel   string
	dir   string
	files map[string]*wfile
	rng   *mrand.Rand
	next  int
	ops   map[string]int
}

type loadRun struct {
	t      *testing.T
	d      *daemon
	mnt    string // tank/enc's mountpoint
	marker []byte
	key    []byte
	keyURL string
	tmp    string // stream files
	stop   chan struct{}
	once   sync.Once
	ws     []*loadWriter

	mu       sync.Mutex
	models   map[string]treeModel // every snapshot taken, by short name
	live     []string             // snapshots of tank/enc, oldest first
	pinned   map[string]int       // snapshots a sender uses
	received []string             // snapshots received into backup/raw
	counts   map[string]int
	lastSnap time.Duration // how long the last snapshot command took
}

func (r *loadRun) fail(format string, a ...any) {
	r.t.Helper()
	r.t.Errorf(format, a...)
	r.once.Do(func() { close(r.stop) })
}

func (r *loadRun) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

func (r *loadRun) count(what string) {
	r.mu.Lock()
	r.counts[what]++
	r.mu.Unlock()
}

// cli runs the coffer CLI against the daemon from any goroutine; it
// returns an error with the whole result when the command fails or writes
// to stderr (except for lines starting with allowStderr).
func (r *loadRun) cli(allowStderr string, args ...string) (string, error) {
	res := r.d.run(nil, args...)
	stderr := res.stderr
	if allowStderr != "" {
		var keep []string
		for _, l := range lines(stderr) {
			if !strings.HasPrefix(l, allowStderr) {
				keep = append(keep, l)
			}
		}
		stderr = strings.Join(keep, "\n")
	}
	if res.code != 0 || stderr != "" {
		return res.stdout, errors.New(res.String())
	}
	return res.stdout, nil
}

// shell runs a bash pipeline of coffer commands ("coffer" is the binary).
func (r *loadRun) shell(script string) error {
	cmd := exec.Command("bash", "-o", "pipefail", "-c", script)
	cmd.Env = append(os.Environ(), "COFFER_SOCKET="+r.d.sock, "COFFER="+bin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", script, err, out)
	}
	return nil
}

// content makes n bytes: random or compressible text, starting with the
// marker and sometimes holding it again further in.
func loadContent(rng *mrand.Rand, n int, marker []byte) []byte {
	b := make([]byte, n)
	if rng.IntN(4) == 0 {
		pat := append(append([]byte(nil), marker...), " compressible text "...)
		for i := 0; i < n; i += len(pat) {
			copy(b[i:], pat)
		}
	} else {
		var seed [32]byte
		for i := 0; i < 4; i++ {
			binary.LittleEndian.PutUint64(seed[8*i:], rng.Uint64())
		}
		_, _ = mrand.NewChaCha8(seed).Read(b)
	}
	if n >= len(marker) {
		copy(b, marker)
		if rng.IntN(2) == 0 {
			copy(b[rng.IntN(n-len(marker)+1):], marker)
		}
	}
	return b
}

func loadSize(rng *mrand.Rand) int {
	switch k := rng.IntN(10); {
	case k < 1:
		return 0
	case k < 5:
		return 1 + rng.IntN(16<<10)
	case k < 9:
		return 1 + rng.IntN(256<<10)
	default:
		return 1 + rng.IntN(1<<20)
	}
}

// step runs one random operation of a writer; the caller holds w.mu.
func (r *loadRun) step(w *loadWriter) error {
	rng := w.rng
	names := make([]string, 0, len(w.files))
	for n := range w.files {
		names = append(names, n)
	}
	sort.Strings(names)
	pick := func() (string, *wfile) {
		n := names[rng.IntN(len(names))]
		return n, w.files[n]
	}
	path := func(n string) string { return filepath.Join(w.dir, n) }
	syncAfter := rng.IntN(4) == 0
	op := rng.IntN(100)
	if len(names) == 0 || (op < 20 && len(names) < loadMaxFiles) {
		// create
		w.next++
		name := fmt.Sprintf("f%05d", w.next)
		if rng.IntN(4) == 0 { // the marker in a file name
			name = fmt.Sprintf("%s-%05d", r.marker, w.next)
		}
		data := loadContent(rng, loadSize(rng), r.marker)
		f, err := os.OpenFile(path(name), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", name, err)
		}
		if syncAfter {
			if err := f.Sync(); err != nil {
				f.Close()
				return fmt.Errorf("fsync %s: %w", name, err)
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
		w.files[name] = &wfile{data: data}
		w.ops["create"]++
		return nil
	}
	name, wf := pick()
	switch {
	case op < 40: // overwrite, sometimes past the end (a hole)
		off := rng.IntN(len(wf.data) + 1)
		if rng.IntN(5) == 0 {
			off += rng.IntN(256 << 10)
		}
		data := loadContent(rng, 1+rng.IntN(128<<10), r.marker)
		if off+len(data) > loadMaxSize {
			return nil
		}
		f, err := os.OpenFile(path(name), os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		if _, err := f.WriteAt(data, int64(off)); err != nil {
			f.Close()
			return fmt.Errorf("pwrite %s at %d: %w", name, off, err)
		}
		if syncAfter {
			if err := f.Sync(); err != nil {
				f.Close()
				return fmt.Errorf("fsync %s: %w", name, err)
			}
		}
		if err := f.Close(); err != nil {
			return err
		}
		if end := off + len(data); end > len(wf.data) {
			wf.data = append(wf.data, make([]byte, end-len(wf.data))...)
		}
		copy(wf.data[off:], data)
		wf.ok = false
		w.ops["overwrite"]++
	case op < 52: // append
		data := loadContent(rng, 1+rng.IntN(64<<10), r.marker)
		if len(wf.data)+len(data) > loadMaxSize {
			return nil
		}
		f, err := os.OpenFile(path(name), os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return fmt.Errorf("append %s: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
		wf.data = append(wf.data, data...)
		wf.ok = false
		w.ops["append"]++
	case op < 60: // truncate, sometimes larger
		size := rng.IntN(len(wf.data) + 1)
		if rng.IntN(4) == 0 {
			size = len(wf.data) + rng.IntN(128<<10)
		}
		if size > loadMaxSize {
			return nil
		}
		if err := os.Truncate(path(name), int64(size)); err != nil {
			return err
		}
		if size <= len(wf.data) {
			wf.data = wf.data[:size:size]
		} else {
			wf.data = append(wf.data, make([]byte, size-len(wf.data))...)
		}
		wf.ok = false
		w.ops["truncate"]++
	case op < 70: // fsync
		f, err := os.OpenFile(path(name), os.O_RDWR, 0)
		if err != nil {
			return err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return fmt.Errorf("fsync %s: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
		w.ops["fsync"]++
	case op < 80: // rename, to a new name or over another file
		w.next++
		to := fmt.Sprintf("r%05d", w.next)
		if len(names) > 1 && rng.IntN(3) == 0 {
			for to = name; to == name; {
				to, _ = pick()
			}
		}
		if err := os.Rename(path(name), path(to)); err != nil {
			return err
		}
		delete(w.files, name)
		w.files[to] = wf
		w.ops["rename"]++
	case op < 88: // delete
		if err := os.Remove(path(name)); err != nil {
			return err
		}
		delete(w.files, name)
		w.ops["delete"]++
	default: // read back
		b, err := os.ReadFile(path(name))
		if err != nil {
			return err
		}
		if !bytes.Equal(b, wf.data) {
			return fmt.Errorf("read back %s: %d bytes, want %d (%s)", name, len(b), len(wf.data), firstDiff(b, wf.data))
		}
		w.ops["read"]++
	}
	return nil
}

func firstDiff(a, b []byte) string {
	for i := 0; i < min(len(a), len(b)); i++ {
		if a[i] != b[i] {
			return fmt.Sprintf("first difference at byte %d", i)
		}
	}
	return "one is a prefix of the other"
}

// model is the writers' current tree; the caller holds every writer's lock.
func (r *loadRun) model() treeModel {
	m := treeModel{}
	for _, w := range r.ws {
		for n, f := range w.files {
			m[w.rel+"/"+n] = f.hash()
		}
	}
	return m
}

func (r *loadRun) lockAll() {
	for _, w := range r.ws {
		w.mu.Lock()
	}
}

func (r *loadRun) unlockAll() {
	for _, w := range r.ws {
		w.mu.Unlock()
	}
}

// verifyTree compares the regular files under root (the writers'
// directories; .coffer is skipped) with want.
func verifyTree(root string, want treeModel) []string {
	var probs []string
	seen := map[string]bool{}
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			probs = append(probs, err.Error())
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		if e.IsDir() {
			if rel == ".coffer" {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() {
			probs = append(probs, fmt.Sprintf("%s: not a regular file (%v)", rel, e.Type()))
			return nil
		}
		seen[rel] = true
		sum, ok := want[rel]
		if !ok {
			probs = append(probs, fmt.Sprintf("%s: exists, not in the model", rel))
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			probs = append(probs, fmt.Sprintf("%s: %v", rel, err))
			return nil
		}
		if sha256.Sum256(b) != sum {
			probs = append(probs, fmt.Sprintf("%s: content differs (%d bytes)", rel, len(b)))
		}
		return nil
	})
	if err != nil {
		probs = append(probs, err.Error())
	}
	for rel := range want {
		if !seen[rel] {
			probs = append(probs, fmt.Sprintf("%s: missing", rel))
		}
	}
	sort.Strings(probs)
	return probs
}

func (r *loadRun) verify(what, root string, want treeModel) {
	r.t.Helper()
	if probs := verifyTree(root, want); len(probs) > 0 {
		r.fail("%s (%s) differs from the model, %d problems:\n%s", what, root, len(probs), strings.Join(probs[:min(len(probs), 20)], "\n"))
	}
}

// scanFile reports whether the file at p holds any of the needles; it
// reads in chunks, so vdev files of any size can be scanned.
func scanFile(p string, needles [][]byte) ([]int, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	maxLen := 0
	for _, n := range needles {
		maxLen = max(maxLen, len(n))
	}
	found := map[int]bool{}
	buf := make([]byte, 4<<20+maxLen)
	carry := 0
	for {
		n, err := io.ReadFull(f, buf[carry:])
		chunk := buf[:carry+n]
		for i, nd := range needles {
			if bytes.Contains(chunk, nd) {
				found[i] = true
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, err
		}
		carry = min(maxLen-1, len(chunk))
		copy(buf, chunk[len(chunk)-carry:])
	}
	var out []int
	for i := range needles {
		if found[i] {
			out = append(out, i)
		}
	}
	return out, nil
}

// scanTree returns "file: needle" for every needle found in a file under root.
func scanTree(t *testing.T, root string, needles [][]byte, names []string) []string {
	t.Helper()
	var hits []string
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !e.Type().IsRegular() {
			return err
		}
		found, err := scanFile(p, needles)
		if err != nil {
			return err
		}
		for _, i := range found {
			hits = append(hits, p+": "+names[i])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func TestLoad(t *testing.T) {
	dur := loadDuration(t)
	seed := loadSeed(t)
	d := startDaemon(t)
	base := t.TempDir()
	var mk [8]byte
	rand.Read(mk[:])
	r := &loadRun{
		t: t, d: d,
		marker: []byte("COFFER-LOAD-MARKER-" + hex.EncodeToString(mk[:])),
		key:    make([]byte, 32),
		tmp:    filepath.Join(base, "streams"),
		stop:   make(chan struct{}),
		models: map[string]treeModel{},
		pinned: map[string]int{},
		counts: map[string]int{},
	}
	rand.Read(r.key)
	if err := os.MkdirAll(r.tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	r.keyURL = writeKey(t, "load.key", []byte(hex.EncodeToString(r.key)+"\n"))
	vdevs := map[string]string{}
	mnts := map[string]string{}
	for _, p := range []string{"tank", "backup", "clear"} {
		vdevs[p] = filepath.Join(base, p+"-vdev")
		mnts[p] = filepath.Join(base, p+"-mnt")
		d.ok("pool", "create", "-O", "mountpoint="+mnts[p], p, vdevs[p])
	}
	d.ok("create", "-o", "encryption=on", "-o", "keyformat=hex", "-o", "keylocation="+r.keyURL, "-o", "compression=lz4", "tank/enc")
	if !strings.Contains(d.ok("mount"), "tank/enc") {
		d.ok("mount", "tank/enc")
	}
	r.mnt = filepath.Join(mnts["tank"], "enc")
	for i := 0; i < loadWriters; i++ {
		w := &loadWriter{rel: fmt.Sprintf("w%d", i), files: map[string]*wfile{}, rng: mrand.New(mrand.NewPCG(seed, uint64(i))), ops: map[string]int{}}
		w.dir = filepath.Join(r.mnt, w.rel)
		if err := os.Mkdir(w.dir, 0o755); err != nil {
			t.Fatal(err)
		}
		r.ws = append(r.ws, w)
	}

	var wg sync.WaitGroup
	start := time.Now()
	for _, w := range r.ws {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !r.stopped() {
				w.mu.Lock()
				err := r.step(w)
				w.mu.Unlock()
				if err != nil {
					r.fail("writer %s: %v", w.rel, err)
					return
				}
			}
		}()
	}
	wg.Add(4)
	go func() { defer wg.Done(); r.progress(start) }()
	go func() { defer wg.Done(); r.snapshotter() }()
	go func() { defer wg.Done(); r.rawSender() }()
	go func() { defer wg.Done(); r.plainSender(mnts["clear"]) }()
	select {
	case <-time.After(dur):
		r.once.Do(func() { close(r.stop) })
	case <-r.stop:
	}
	wg.Wait()
	elapsed := time.Since(start)
	if t.Failed() {
		t.FailNow()
	}

	// Every file as the writers left it.
	r.lockAll()
	final := r.model()
	r.unlockAll()
	r.verify("tank/enc", r.mnt, final)
	// The snapshots still there.
	for _, s := range r.live {
		r.verify("tank/enc@"+s, filepath.Join(r.mnt, ".coffer", "snapshot", s), r.models[s])
	}
	// The raw replica: its head and the snapshots it kept, after load-key.
	d.ok("load-key", "-L", r.keyURL, "backup/raw")
	d.ok("mount", "backup/raw")
	braw := filepath.Join(mnts["backup"], "raw")
	if n := len(r.received); n > 0 {
		r.verify("backup/raw", braw, r.models[r.received[n-1]])
	}
	kept := d.names("-H", "-t", "snapshot", "-r", "backup/raw")
	for _, s := range kept {
		_, short, _ := strings.Cut(s, "@")
		r.verify(s, filepath.Join(braw, ".coffer", "snapshot", short), r.models[short])
	}
	// Remount tank/enc: everything comes back from disk.
	d.ok("unmount", "tank/enc")
	d.ok("mount", "tank/enc")
	r.verify("tank/enc after remount", r.mnt, final)
	for _, p := range []string{"tank", "backup", "clear"} {
		out, err := r.cli("", "pool", "check", p)
		if err != nil {
			t.Errorf("pool check %s: %v", p, err)
		} else {
			t.Logf("%s", strings.TrimSpace(out))
		}
	}
	for _, p := range []string{"tank", "backup"} {
		if out := d.ok("pool", "status", p); !strings.Contains(out, "errors: No known data errors") {
			t.Errorf("pool status %s:\n%s", p, out)
		}
	}
	d.ok("unmount", "tank/enc")
	d.ok("unmount", "backup/raw")

	// Leak scan: vdevs of the encrypted pools, raw streams, daemon log.
	needles := [][]byte{r.marker, r.key, []byte(hex.EncodeToString(r.key))}
	names := []string{"plaintext marker", "key bytes", "key in hex"}
	for _, root := range []string{vdevs["tank"], vdevs["backup"], filepath.Join(r.tmp, "raw")} {
		if hits := scanTree(t, root, needles, names); len(hits) > 0 {
			t.Errorf("leak scan: %s", strings.Join(hits, "\n"))
		}
	}
	logf := filepath.Join(base, "daemon.log")
	if err := os.WriteFile(logf, []byte(d.log.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if hits := scanTree(t, logf, needles, names); len(hits) > 0 {
		t.Errorf("leak scan of the daemon log: %s", strings.Join(hits, "\n"))
	}
	// The scan is not blind: the plaintext stream and the unencrypted
	// pool that received it hold the marker.
	for _, root := range []string{filepath.Join(r.tmp, "plain"), vdevs["clear"]} {
		if hits := scanTree(t, root, needles[:1], names); len(hits) == 0 {
			t.Errorf("leak scan control: no marker in %s", root)
		}
	}

	var ops []string
	total := map[string]int{}
	for _, w := range r.ws {
		for k, v := range w.ops {
			total[k] += v
		}
	}
	for k, v := range total {
		ops = append(ops, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(ops)
	var cs []string
	for k, v := range r.counts {
		cs = append(cs, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(cs)
	t.Logf("load for %v: writer ops: %s; %s; %d files at the end", elapsed.Round(time.Second), strings.Join(ops, ", "), strings.Join(cs, ", "), len(final))
	if total["create"] == 0 || r.counts["snapshot"] < 2 || r.counts["raw incremental"] == 0 || r.counts["plain send verified"] == 0 {
		t.Errorf("the load did not run: %v %v", total, r.counts)
	}
}

// progress logs the work done every 10 seconds (every minute in runs of
// more than five minutes).
func (r *loadRun) progress(start time.Time) {
	every := 10 * time.Second
	if d := loadDuration(r.t); d > 5*time.Minute {
		every = time.Minute
	}
	for r.pause(every) {
		ops := 0
		for _, w := range r.ws {
			w.mu.Lock()
			for _, n := range w.ops {
				ops += n
			}
			w.mu.Unlock()
		}
		r.mu.Lock()
		r.t.Logf("%v: %d writer ops, %d snapshots (last took %v), %d raw incrementals, %d plain sends",
			time.Since(start).Round(time.Second), ops, r.counts["snapshot"], r.lastSnap.Round(time.Millisecond), r.counts["raw incremental"], r.counts["plain send"])
		r.mu.Unlock()
	}
}

// snapshotter takes a snapshot of tank/enc every second with the writers
// paused between two operations, records the model, checks a sample of
// snapshots through .coffer/snapshot, and destroys old snapshots that no
// sender uses.
func (r *loadRun) snapshotter() {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for i := 1; ; i++ {
		select {
		case <-r.stop:
			return
		case <-tick.C:
		}
		name := fmt.Sprintf("s%05d", i)
		r.lockAll()
		t0 := time.Now()
		_, err := r.cli("", "snapshot", "tank/enc@"+name)
		took := time.Since(t0)
		var m treeModel
		if err == nil {
			m = r.model()
		}
		r.unlockAll()
		if err != nil {
			r.fail("snapshot: %v", err)
			return
		}
		r.mu.Lock()
		r.models[name] = m
		r.lastSnap = took
		r.live = append(r.live, name)
		r.counts["snapshot"]++
		r.mu.Unlock()
		if i%3 == 0 { // a sample, read while the writers go on
			r.verify("tank/enc@"+name, filepath.Join(r.mnt, ".coffer", "snapshot", name), m)
			r.count("snapshot verified")
		}
		r.mu.Lock()
		for len(r.live) > loadKeepSnap && r.pinned[r.live[0]] == 0 {
			old := r.live[0]
			if _, err := r.cli("", "destroy", "tank/enc@"+old); err != nil {
				r.mu.Unlock()
				r.fail("destroy snapshot: %v", err)
				return
			}
			r.live = r.live[1:]
			r.counts["snapshot destroyed"]++
		}
		r.mu.Unlock()
	}
}

// pinLatest returns the newest snapshot of tank/enc and keeps the
// snapshotter from destroying it until unpin.
func (r *loadRun) pinLatest() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.live) == 0 {
		return ""
	}
	s := r.live[len(r.live)-1]
	r.pinned[s]++
	return s
}

func (r *loadRun) unpin(s string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if s != "" {
		r.pinned[s]--
	}
}

func (r *loadRun) pause(d time.Duration) bool {
	select {
	case <-r.stop:
		return false
	case <-time.After(d):
		return true
	}
}

// rawSender keeps backup/raw up to date with raw incremental sends of the
// newest snapshot, prunes its old snapshots, and every few rounds writes a
// raw full stream to a file, scans it for the marker and the key, receives
// it into backup/fullN, loads the key there and checks every file.
func (r *loadRun) rawSender() {
	base := ""
	defer func() { r.unpin(base) }()
	if err := os.MkdirAll(filepath.Join(r.tmp, "raw"), 0o700); err != nil {
		r.fail("%v", err)
		return
	}
	prevFull := ""
	for round := 0; ; round++ {
		if !r.pause(300 * time.Millisecond) {
			return
		}
		s := r.pinLatest()
		if s == "" || s == base {
			r.unpin(s)
			continue
		}
		var err error
		if base == "" {
			err = r.shell(fmt.Sprintf(`"$COFFER" send -w tank/enc@%s | "$COFFER" receive -u backup/raw`, s))
			r.count("raw chain start")
		} else {
			err = r.shell(fmt.Sprintf(`"$COFFER" send -w -i @%s tank/enc@%s | "$COFFER" receive -u backup/raw`, base, s))
			r.count("raw incremental")
		}
		if err != nil {
			r.unpin(s)
			r.fail("raw send: %v", err)
			return
		}
		r.unpin(base)
		base = s
		r.mu.Lock()
		r.received = append(r.received, s)
		r.mu.Unlock()
		if snaps, err := r.cli("", "list", "-H", "-o", "name", "-t", "snapshot", "-r", "backup/raw"); err != nil {
			r.fail("%v", err)
			return
		} else if l := lines(snaps); len(l) > loadKeepRecv {
			for _, old := range l[:len(l)-loadKeepRecv] {
				if _, err := r.cli("", "destroy", old); err != nil {
					r.fail("prune backup: %v", err)
					return
				}
			}
		}
		if round%4 != 0 {
			continue
		}
		// A raw full stream through a file into a new dataset.
		full := r.pinLatest()
		file := filepath.Join(r.tmp, "raw", full+".stream")
		err = r.shell(fmt.Sprintf(`"$COFFER" send -w tank/enc@%s > %s`, full, shq(file)))
		r.unpin(full)
		if err != nil {
			r.fail("raw full send: %v", err)
			return
		}
		if found, err := scanFile(file, [][]byte{r.marker, r.key, []byte(hex.EncodeToString(r.key))}); err != nil || len(found) > 0 {
			r.fail("raw stream %s: leak scan found %v (%v)", file, found, err)
			return
		}
		ds := "backup/full" + full
		if err := r.shell(fmt.Sprintf(`"$COFFER" receive -u %s < %s`, ds, shq(file))); err != nil {
			r.fail("receive raw full: %v", err)
			return
		}
		if _, err := r.cli("", "load-key", "-L", r.keyURL, ds); err != nil {
			r.fail("%v", err)
			return
		}
		if _, err := r.cli("", "mount", ds); err != nil {
			r.fail("%v", err)
			return
		}
		r.mu.Lock()
		m := r.models[full]
		r.mu.Unlock()
		mp, err := r.cli("", "get", "-H", "-o", "value", "mountpoint", ds)
		if err != nil {
			r.fail("%v", err)
			return
		}
		r.verify(ds, strings.TrimSpace(mp), m)
		r.count("raw full stream received and verified")
		if prevFull != "" {
			if _, err := r.cli("", "destroy", "-r", "-f", prevFull); err != nil {
				r.fail("%v", err)
				return
			}
		}
		prevFull = ds
		// Keep the last two streams for the final scan.
		if old, _ := filepath.Glob(filepath.Join(r.tmp, "raw", "*.stream")); len(old) > 2 {
			slices.Sort(old)
			for _, f := range old[:len(old)-2] {
				os.Remove(f)
			}
		}
	}
}

// plainSender sends the newest snapshot as plaintext to a file, receives
// it into the unencrypted pool clear, checks every file, and destroys it
// before the next round (the last one stays for the scan's control).
func (r *loadRun) plainSender(clearMnt string) {
	dir := filepath.Join(r.tmp, "plain")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		r.fail("%v", err)
		return
	}
	prev := ""
	for {
		if !r.pause(200 * time.Millisecond) {
			return
		}
		s := r.pinLatest()
		if s == "" {
			continue
		}
		file := filepath.Join(dir, "plain.stream")
		err := r.shell(fmt.Sprintf(`"$COFFER" send tank/enc@%s 2>%s > %s`, s, shq(file+".err"), shq(file)))
		r.unpin(s)
		if err != nil {
			b, _ := os.ReadFile(file + ".err")
			r.fail("plain send: %v\n%s", err, b)
			return
		}
		if b, _ := os.ReadFile(file + ".err"); !bytes.HasPrefix(b, []byte("warning: ")) && len(b) > 0 {
			r.fail("plain send stderr: %s", b)
			return
		}
		r.count("plain send")
		if prev != "" {
			if _, err := r.cli("", "destroy", "-r", "-f", prev); err != nil {
				r.fail("%v", err)
				return
			}
		}
		ds := "clear/p" + s
		if err := r.shell(fmt.Sprintf(`"$COFFER" receive %s < %s`, ds, shq(file))); err != nil {
			r.fail("receive plain: %v", err)
			return
		}
		prev = ds
		r.mu.Lock()
		m := r.models[s]
		r.mu.Unlock()
		r.verify(ds, filepath.Join(clearMnt, "p"+s), m)
		r.count("plain send verified")
	}
}
