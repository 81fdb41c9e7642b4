package e2e

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestKillDaemonDuringWrites: kill -9 the daemon while a workload writes
// and fsyncs files on an encrypted mount; after restart and unlock, every
// file whose fsync returned is intact.
func TestKillDaemonDuringWrites(t *testing.T) {
	d := startDaemon(t)
	mnt := t.TempDir()
	d.ok("pool", "create", "-O", "mountpoint="+mnt, "tank", filepath.Join(t.TempDir(), "v"))
	const pw = "correct horse battery"
	d.okIn(pass(pw), "create", "-o", "keyformat=passphrase", "-o", "pbkdf2iters=100000", "tank/enc")
	d.ok("mount", "tank/enc")
	dir := filepath.Join(mnt, "enc")
	var durable []syncedFile
	for cycle := 0; cycle < 3; cycle++ {
		var mu sync.Mutex
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(cycle), uint64(w)))
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					name := fmt.Sprintf("c%d-w%d-%04d.bin", cycle, w, i)
					f, ok := writeSynced(dir, name, 1000+rng.IntN(300_000), rng)
					if !ok {
						return // the daemon is gone
					}
					mu.Lock()
					durable = append(durable, f)
					mu.Unlock()
				}
			}()
		}
		time.Sleep(time.Duration(300+cycle*250) * time.Millisecond)
		if err := d.cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-d.exit
		d.cmd = nil
		close(stop)
		wg.Wait()
		d.start()
		d.okIn(pass(pw), "unlock", "tank/enc")
		for _, f := range durable {
			b, err := os.ReadFile(filepath.Join(dir, f.name))
			if err != nil {
				t.Fatalf("cycle %d: fsynced file %s: %v", cycle, f.name, err)
			}
			if sha256.Sum256(b) != f.sum {
				t.Fatalf("cycle %d: fsynced file %s differs after kill -9", cycle, f.name)
			}
		}
		t.Logf("cycle %d: %d fsynced files intact", cycle, len(durable))
	}
	if len(durable) < 10 {
		t.Fatalf("only %d files were fsynced before the kills: the workload did not run", len(durable))
	}
	if r := d.run(nil, "pool", "status", "tank"); !bytes.Contains([]byte(r.stdout), []byte("No known data errors")) {
		t.Fatalf("pool status after kills: %s", r)
	}
}

// syncedFile is a file written and fsynced through a mount, with the
// SHA-256 of what was written.
type syncedFile struct {
	name string
	sum  [32]byte
}

// writeSynced writes size random bytes to dir/name and fsyncs them; ok is
// false when that failed (the daemon was killed mid-write).
// fuseSuperMagic is the f_type of a FUSE file system (statfs(2)).
const fuseSuperMagic = 0x65735546

func writeSynced(dir, name string, size int, rng *rand.Rand) (f syncedFile, ok bool) {
	b := make([]byte, size)
	for j := range b {
		b[j] = byte(rng.Uint32())
	}
	fh, err := os.Create(filepath.Join(dir, name))
	if err != nil {
		return f, false
	}
	_, err = fh.Write(b)
	if err == nil {
		err = fh.Sync()
	}
	// A daemon killed just before the create leaves dir unmounted: the
	// file then went to the directory under the mount, not to coffer.
	var st unix.Statfs_t
	onFUSE := unix.Fstatfs(int(fh.Fd()), &st) == nil && st.Type == fuseSuperMagic
	fh.Close()
	if err == nil && !onFUSE {
		os.Remove(filepath.Join(dir, name))
		err = errors.New("not on the mount")
	}
	if err != nil {
		return f, false
	}
	return syncedFile{name, sha256.Sum256(b)}, true
}
