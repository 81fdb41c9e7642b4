package e2e

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// tree hashes every regular file under dir by relative path.
func tree(t *testing.T, dir string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && e.Name() == ".coffer" {
			return filepath.SkipDir
		}
		if !e.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		out[rel] = sha256.Sum256(b)
		return nil
	})
	if err != nil {
		t.Fatalf("read %s: %v", dir, err)
	}
	return out
}

func sameTree(t *testing.T, what string, got, want map[string][32]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d files, want %d", what, len(got), len(want))
	}
	for n, h := range want {
		if got[n] != h {
			t.Fatalf("%s: %s differs", what, n)
		}
	}
}

type rekeyStatus struct {
	Datasets []struct {
		Dataset   string `json:"dataset"`
		State     string `json:"state"`
		SnapsDone int    `json:"snapshots_done"`
		Snaps     int    `json:"snapshots"`
		LastError string `json:"last_error"`
		Finished  int64  `json:"finished"`
		Started   int64  `json:"started"`
		Written   uint64 `json:"bytes_written"`
		Total     uint64 `json:"bytes_total"`
	} `json:"datasets"`
}

func (d *daemon) rekeyState(ds string) (state string, done, all int) {
	d.t.Helper()
	var st rekeyStatus
	mustJSON(d.t, d.ok("rekey", "--status", "-j", ds), &st)
	s := st.Datasets[0]
	return s.State, s.SnapsDone, s.Snaps
}

func writeFiles(t *testing.T, dir, prefix string, n int, rng *rand.Rand) {
	t.Helper()
	for i := 0; i < n; i++ {
		b := make([]byte, 1000+rng.IntN(900_000))
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-%03d.bin", prefix, i)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRekeyKillDaemon: a deep rekey of a mounted dataset with snapshots,
// with a writer running, and kill -9 of the daemon at random points of the
// rekey, several times. After each restart and unlock the daemon resumes
// the rekey by itself; at the end every file of the head and of every
// snapshot reads back identical, and the pool check is clean.
func TestRekeyKillDaemon(t *testing.T) {
	d := startDaemon(t)
	mnt := t.TempDir()
	d.ok("pool", "create", "-O", "mountpoint="+mnt, "tank", filepath.Join(t.TempDir(), "v"))
	const pw = "correct horse battery"
	d.okIn(pass(pw), "create", "-o", "keyformat=passphrase", "-o", "pbkdf2iters=100000", "tank/enc")
	d.ok("mount", "tank/enc")
	dir := filepath.Join(mnt, "enc")
	rng := rand.New(rand.NewPCG(1, 2))
	snaps := map[string]map[string][32]byte{}
	for i, s := range []string{"a", "b", "c"} {
		writeFiles(t, dir, "f"+s, 12, rng)
		if i > 0 { // rewrite part of an older file
			f, err := os.OpenFile(filepath.Join(dir, "fa-001.bin"), os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			f.WriteAt(bytes.Repeat([]byte{byte(i)}, 4096), int64(i)*8192)
			f.Close()
		}
		d.ok("snapshot", "tank/enc@"+s)
		snaps[s] = tree(t, dir)
	}
	writeFiles(t, dir, "head", 4, rng)
	head := tree(t, dir)

	// A writer runs during the whole rekey; its fsynced files must survive.
	var mu sync.Mutex
	var durable []syncedFile
	writer := func(cycle int, stop chan struct{}, wg *sync.WaitGroup) {
		defer wg.Done()
		wr := rand.New(rand.NewPCG(uint64(cycle), 9))
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			name := fmt.Sprintf("w%d-%04d.bin", cycle, i)
			f, ok := writeSynced(dir, name, 1000+wr.IntN(200_000), wr)
			if !ok {
				return // the daemon is gone
			}
			mu.Lock()
			durable = append(durable, f)
			mu.Unlock()
		}
	}

	interrupted := 0
	for cycle := 0; cycle < 8 && interrupted < 3; cycle++ {
		if st, _, _ := d.rekeyState("tank/enc"); st == "none" {
			d.ok("rekey", "--no-wait", "tank/enc")
		}
		stop := make(chan struct{})
		var wg sync.WaitGroup
		wg.Add(1)
		go writer(cycle, stop, &wg)
		time.Sleep(time.Duration(20+rand.IntN(250)) * time.Millisecond)
		if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-d.exit
		d.cmd = nil
		close(stop)
		wg.Wait()
		d.start()
		if st, done, all := d.rekeyState("tank/enc"); st != "none" {
			interrupted++
			t.Logf("cycle %d: killed during the rekey, %d/%d snapshots done", cycle, done, all)
		} else {
			t.Logf("cycle %d: the rekey had finished", cycle)
		}
		// Unlocking resumes the rekey in the daemon.
		d.okIn(pass(pw), "unlock", "tank/enc")
		if r := d.run(nil, "pool", "check", "tank"); r.code != 0 {
			t.Fatalf("cycle %d: pool check during the rekey: %s", cycle, r)
		}
	}
	if interrupted == 0 {
		t.Fatal("no kill hit a running rekey")
	}
	// Let the resumed rekey finish, with a writer still going.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go writer(9, stop, &wg)
	// `coffer rekey` follows the resumed rekey (or, if it has finished,
	// runs a new one) until it is done.
	if r := d.run(nil, "rekey", "tank/enc"); r.code != 0 || !strings.Contains(r.stdout, "rekeyed 'tank/enc'") {
		t.Fatalf("rekey after the kills: %s", r)
	}
	if st, _, _ := d.rekeyState("tank/enc"); st != "none" {
		t.Fatalf("state after the rekey: %s", st)
	}
	close(stop)
	wg.Wait()
	for s, want := range snaps {
		sameTree(t, "@"+s, tree(t, filepath.Join(dir, ".coffer", "snapshot", s)), want)
	}
	now := tree(t, dir)
	for n, h := range head {
		if now[n] != h {
			t.Fatalf("head file %s differs after the rekey", n)
		}
	}
	for _, f := range durable {
		b, err := os.ReadFile(filepath.Join(dir, f.name))
		if err != nil || sha256.Sum256(b) != f.sum {
			t.Fatalf("fsynced file %s lost or changed: %v", f.name, err)
		}
	}
	if len(durable) < 5 {
		t.Fatalf("only %d files written during the rekeys", len(durable))
	}
	d.ok("pool", "check", "tank")
	// And once more from a clean restart.
	d.restart()
	d.okIn(pass(pw), "unlock", "tank/enc")
	for s, want := range snaps {
		sameTree(t, "@"+s+" after restart", tree(t, filepath.Join(dir, ".coffer", "snapshot", s)), want)
	}
	d.ok("pool", "check", "tank")
	audit, _ := os.ReadFile(filepath.Join(d.state, "audit.log"))
	if !strings.Contains(string(audit), `"op":"rekey"`) || !strings.Contains(string(audit), `"op":"rekey-resume-done","dataset":"tank/enc","outcome":"ok","ok":true`) {
		t.Fatalf("audit log lacks the rekey:\n%s", audit)
	}
}

// TestRekeyCLI: the waiting form prints progress and a summary, -j prints
// the final state, bad input gets one-line errors and changes nothing.
func TestRekeyCLI(t *testing.T) {
	d := startDaemon(t)
	d.newPool("tank")
	const pw = "correct horse battery"
	d.okIn(pass(pw), "create", "-o", "keyformat=passphrase", "-o", "pbkdf2iters=100000", "tank/enc")
	d.ok("create", "tank/enc/kid")
	d.ok("create", "tank/plain")
	d.ok("snapshot", "-r", "tank/enc@s1")
	r := d.run(nil, "rekey", "tank/enc")
	if r.code != 0 || !strings.Contains(r.stdout, "rekeyed 'tank/enc': new master key, 1 snapshots re-encrypted") ||
		!strings.HasPrefix(r.stderr, "TIME") {
		t.Fatalf("rekey: %s", r)
	}
	var st rekeyStatus
	mustJSON(t, d.ok("rekey", "-r", "-j", "tank/enc"), &st)
	if len(st.Datasets) != 2 || st.Datasets[1].Dataset != "tank/enc/kid" || st.Datasets[1].State != "none" || st.Datasets[1].Finished == 0 {
		t.Fatalf("rekey -r -j: %+v", st)
	}
	d.unchanged("refused rekeys", func() {
		d.fail(1, "cannot rekey 'tank/plain': dataset is not encrypted", "rekey", "tank/plain")
		d.fail(1, "cannot open 'tank/nope': dataset does not exist", "rekey", "tank/nope")
		d.fail(1, "cannot rekey 'tank/enc@s1': snapshots are rekeyed with their dataset", "rekey", "tank/enc@s1")
		d.fail(2, "missing dataset argument", "rekey")
	})
	d.ok("unload-key", "-r", "tank/enc")
	d.fail(1, "cannot rekey 'tank/enc': encryption key not loaded", "rekey", "tank/enc")
	out := d.ok("rekey", "--status", "tank/enc")
	if !strings.Contains(out, "tank/enc") || !strings.Contains(out, "none") {
		t.Fatalf("status: %s", out)
	}
	var raw json.RawMessage
	mustJSON(t, d.ok("rekey", "--status", "-r", "-j", "tank"), &raw)
}

// TestRekeyResumesAtStart: a key-format dataset whose key the keystore
// holds is unlocked at daemon start, and an interrupted rekey of it
// continues by itself, with no command; the user key is unchanged.
func TestRekeyResumesAtStart(t *testing.T) {
	d := startDaemon(t)
	mnt := t.TempDir()
	d.ok("pool", "create", "-O", "mountpoint="+mnt, "tank", filepath.Join(t.TempDir(), "v"))
	key := make([]byte, 32)
	for i := range key {
		key[i] = byte(i * 7)
	}
	keyFile := filepath.Join(t.TempDir(), "vault.key")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	d.ok("create", "-o", "encryption=on", "-o", "keyformat=raw", "-o", "keylocation=file://"+keyFile, "tank/vault")
	os.Remove(keyFile) // the keystore must be enough from now on
	d.ok("mount", "tank/vault")
	dir := filepath.Join(mnt, "vault")
	rng := rand.New(rand.NewPCG(3, 4))
	writeFiles(t, dir, "a", 16, rng)
	d.ok("snapshot", "tank/vault@a")
	snapA := tree(t, dir)
	writeFiles(t, dir, "b", 16, rng)
	d.ok("snapshot", "tank/vault@b")
	head := tree(t, dir)
	exported := d.ok("key", "export", "tank/vault")
	resumed := func() bool {
		audit, _ := os.ReadFile(filepath.Join(d.state, "audit.log"))
		return strings.Contains(string(audit), `"op":"rekey-resume-done","dataset":"tank/vault","outcome":"ok","ok":true`)
	}
	for attempt := 0; attempt < 8 && !resumed(); attempt++ {
		d.ok("rekey", "--no-wait", "tank/vault")
		time.Sleep(time.Duration(10+rand.IntN(150)) * time.Millisecond)
		if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-d.exit
		d.cmd = nil
		d.start() // unlocks from the keystore; resumes the rekey by itself
		deadline := time.Now().Add(time.Minute)
		for {
			st, done, all := d.rekeyState("tank/vault")
			if st == "none" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("attempt %d: rekey not finished after restart: %s %d/%d", attempt, st, done, all)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if !resumed() {
		t.Fatal("no kill hit a running rekey")
	}
	if got := d.ok("key", "export", "tank/vault"); got != exported {
		t.Fatalf("deep rekey changed the user key:\n%s\n%s", exported, got)
	}
	if r := d.run(nil, "mount", "tank/vault"); r.code != 0 && !strings.Contains(r.stderr, "already mounted") {
		t.Fatalf("mount: %s", r)
	}
	sameTree(t, "head", tree(t, dir), head)
	sameTree(t, "@a", tree(t, filepath.Join(dir, ".coffer", "snapshot", "a")), snapA)
	sameTree(t, "@b", tree(t, filepath.Join(dir, ".coffer", "snapshot", "b")), head)
	d.ok("pool", "check", "tank")
}

// TestRekeySnapshotDirStaysReadable: a snapshot directory read before a
// rekey reads the same files after it in the same daemon.
func TestRekeySnapshotDirStaysReadable(t *testing.T) {
	d := startDaemon(t)
	mnt := t.TempDir()
	d.ok("pool", "create", "-O", "mountpoint="+mnt, "tank", filepath.Join(t.TempDir(), "v"))
	d.okIn(pass("correct horse battery"), "create", "-o", "keyformat=passphrase", "-o", "pbkdf2iters=100000", "tank/enc")
	d.ok("mount", "tank/enc")
	dir := filepath.Join(mnt, "enc")
	writeFiles(t, dir, "s", 6, rand.New(rand.NewPCG(5, 6)))
	d.ok("snapshot", "tank/enc@s")
	snap := filepath.Join(dir, ".coffer", "snapshot", "s")
	before := tree(t, snap)
	sameTree(t, "@s before", before, tree(t, dir))
	if r := d.run(nil, "rekey", "tank/enc"); r.code != 0 {
		t.Fatalf("rekey: %s", r)
	}
	sameTree(t, "@s after the rekey", tree(t, snap), before)
	d.ok("pool", "check", "tank")
}
