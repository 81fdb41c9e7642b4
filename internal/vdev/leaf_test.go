package vdev

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

func testLabel(pool string) Label {
	return Label{
		Version: LabelVersion, PoolName: pool, PoolGUID: 0x1111, TopGUID: 0x2222,
		GUID: 0x3333, State: LabelActive, Txg: 4, Config: json.RawMessage(`{"k":1}`),
	}
}

// createLeaf makes a fresh leaf in a temporary directory, closed at cleanup.
func createLeaf(t *testing.T) *Leaf {
	t.Helper()
	l, err := CreateLeaf(filepath.Join(t.TempDir(), "v"), testLabel("tank"), false)
	if err != nil {
		t.Fatalf("CreateLeaf: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// listing returns "name size" for every entry of dir, to prove that a
// refused operation changed nothing.
func listing(t *testing.T, dir string) []string {
	t.Helper()
	if fi, err := os.Stat(dir); errors.Is(err, fs.ErrNotExist) {
		return nil
	} else if err == nil && !fi.IsDir() {
		b, _ := os.ReadFile(dir)
		return []string{"file " + string(b)}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		out = append(out, fmt.Sprintf("%s %d %x", e.Name(), fi.Size(), sha256.Sum256(b)))
	}
	return out
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

func writeLabelFile(t *testing.T, dir string, lb Label) {
	t.Helper()
	b, err := json.Marshal(lb)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, labelFile), string(b))
}

func TestCreateLeaf(t *testing.T) {
	t.Parallel()
	withLabel := func(state string) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			lb := testLabel("other")
			lb.State = state
			os.Mkdir(dir, 0o700)
			writeLabelFile(t, dir, lb)
		}
	}
	withFile := func(t *testing.T, dir string) {
		os.Mkdir(dir, 0o700)
		writeFile(t, filepath.Join(dir, "notes.txt"), "mine")
	}
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		force   bool
		label   func(*Label)
		wantErr string // substring; "" means success
	}{
		{name: "missing dir is created"},
		{name: "empty dir", setup: func(t *testing.T, dir string) { os.Mkdir(dir, 0o700) }},
		{name: "nested missing dirs", setup: func(t *testing.T, dir string) {}, label: nil},
		{name: "not a directory", setup: func(t *testing.T, dir string) { writeFile(t, dir, "x") },
			wantErr: "not a directory"},
		{name: "not a directory forced", setup: func(t *testing.T, dir string) { writeFile(t, dir, "x") },
			force: true, wantErr: "not a directory"},
		{name: "active pool", setup: withLabel(LabelActive), wantErr: "is part of active pool 'other'"},
		{name: "active pool forced", setup: withLabel(LabelActive), force: true,
			wantErr: "is part of active pool 'other'"},
		{name: "exported pool", setup: withLabel(LabelExported), force: true,
			wantErr: "is part of exported pool 'other'"},
		{name: "destroyed pool is reused", setup: withLabel(LabelDestroyed)},
		{name: "non-empty dir", setup: withFile, wantErr: "is not empty"},
		{name: "non-empty dir forced", setup: withFile, force: true},
		{name: "unreadable label", setup: func(t *testing.T, dir string) {
			os.Mkdir(dir, 0o700)
			writeFile(t, filepath.Join(dir, labelFile), "{garbage")
		}, wantErr: "unreadable vdev label"},
		{name: "unreadable label forced", force: true, setup: func(t *testing.T, dir string) {
			os.Mkdir(dir, 0o700)
			writeFile(t, filepath.Join(dir, labelFile), "{garbage")
		}},
		{name: "bad label state", label: func(l *Label) { l.State = "bogus" }, wantErr: "unknown label state"},
		{name: "bad label version", label: func(l *Label) { l.Version = 7 }, wantErr: "unsupported label version 7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "v")
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			before := listing(t, dir)
			lb := testLabel("tank")
			if tt.label != nil {
				tt.label(&lb)
			}
			l, err := CreateLeaf(dir, lb, tt.force)
			if tt.wantErr != "" {
				if err == nil {
					l.Close()
					t.Fatalf("CreateLeaf succeeded, want error %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), dir) ||
					strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %q: want one line naming %s and containing %q", err, dir, tt.wantErr)
				}
				if after := listing(t, dir); !slices.Equal(before, after) {
					t.Fatalf("refused create changed the directory:\nbefore %q\nafter  %q", before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("CreateLeaf: %v", err)
			}
			defer l.Close()
			if got := l.Label(); got.PoolName != "tank" || got.GUID != lb.GUID {
				t.Errorf("Label() = %+v", got)
			}
			if l.Path() != dir {
				t.Errorf("Path() = %q, want %q", l.Path(), dir)
			}
			fi, err := os.Stat(filepath.Join(dir, ringFile))
			if err != nil || fi.Size() != RingSize {
				t.Errorf("uberblock ring: %v, size %v", err, fi)
			}
			if n, err := l.Size(); err != nil || n != 0 {
				t.Errorf("Size() = %d, %v; want 0", n, err)
			}
			rl, err := ReadLabel(dir)
			if err != nil || rl.PoolName != "tank" || rl.State != LabelActive || string(rl.Config) != `{"k":1}` {
				t.Errorf("ReadLabel = %+v, %v", rl, err)
			}
			if tt.force && tt.setup != nil {
				if b, err := os.ReadFile(filepath.Join(dir, "notes.txt")); err == nil && string(b) != "mine" {
					t.Errorf("forced create changed an unrelated file")
				}
			}
		})
	}
}

func TestCreateLeafInUse(t *testing.T) {
	t.Parallel()
	l := createLeaf(t)
	// Another create on a vdev that is open: it is part of a pool, and in use.
	lb := testLabel("tank")
	lb.State = LabelDestroyed
	if err := l.WriteLabel(lb); err != nil {
		t.Fatal(err)
	}
	_, err := CreateLeaf(l.Path(), testLabel("other"), true)
	if err == nil || err.Error() != "vdev "+l.Path()+" is in use by another process" {
		t.Fatalf("CreateLeaf on an open vdev: %v", err)
	}
}

func TestOpenLeaf(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		setup   func(t *testing.T, dir string)
		wantIs  []error
		wantErr string
	}{
		{name: "missing dir", wantIs: []error{ErrNoLabel, fs.ErrNotExist}, wantErr: "does not exist"},
		{name: "empty dir", setup: func(t *testing.T, dir string) { os.Mkdir(dir, 0o700) },
			wantIs: []error{ErrNoLabel, fs.ErrNotExist}, wantErr: "no vdev label"},
		{name: "bad json", setup: func(t *testing.T, dir string) {
			os.Mkdir(dir, 0o700)
			writeFile(t, filepath.Join(dir, labelFile), `{"version":`)
		}, wantIs: []error{ErrBadLabel}},
		{name: "future version", setup: func(t *testing.T, dir string) {
			os.Mkdir(dir, 0o700)
			lb := testLabel("x")
			lb.Version = 2
			writeLabelFile(t, dir, lb)
		}, wantIs: []error{ErrBadLabel}, wantErr: "version 2"},
		{name: "ring missing", setup: func(t *testing.T, dir string) {
			l, err := CreateLeaf(dir, testLabel("x"), false)
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			os.Remove(filepath.Join(dir, ringFile))
		}, wantIs: []error{fs.ErrNotExist}, wantErr: "uberblock ring"},
		{name: "ring truncated", setup: func(t *testing.T, dir string) {
			l, err := CreateLeaf(dir, testLabel("x"), false)
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			os.Truncate(filepath.Join(dir, ringFile), 100)
		}, wantErr: "uberblock ring has 100 bytes"},
		{name: "data missing", setup: func(t *testing.T, dir string) {
			l, err := CreateLeaf(dir, testLabel("x"), false)
			if err != nil {
				t.Fatal(err)
			}
			l.Close()
			os.Remove(filepath.Join(dir, dataFile))
		}, wantIs: []error{fs.ErrNotExist}, wantErr: "data file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "v")
			if tt.setup != nil {
				tt.setup(t, dir)
			}
			before := listing(t, dir)
			l, err := OpenLeaf(dir)
			if err == nil {
				l.Close()
				t.Fatal("OpenLeaf succeeded")
			}
			for _, target := range tt.wantIs {
				if !errors.Is(err, target) {
					t.Errorf("error %q is not %v", err, target)
				}
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), dir) ||
				strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want one line naming %s and containing %q", err, dir, tt.wantErr)
			}
			if tt.name != "ring truncated" && tt.name != "ring missing" && tt.name != "data missing" {
				if after := listing(t, dir); !slices.Equal(before, after) {
					t.Errorf("failed open changed the directory: %q -> %q", before, after)
				}
			}
		})
	}
}

func TestOpenLeafLocking(t *testing.T) {
	t.Parallel()
	l := createLeaf(t)
	dir := l.Path()
	want := "vdev " + dir + " is in use by another process"
	for range 2 {
		if l2, err := OpenLeaf(dir); err == nil || err.Error() != want {
			if l2 != nil {
				l2.Close()
			}
			t.Fatalf("second open: %v, want %q", err, want)
		}
	}
	if _, err := ReadLabel(dir); err != nil {
		t.Fatalf("ReadLabel of an open vdev (import scan): %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := OpenLeaf(dir)
	if err != nil {
		t.Fatalf("open after close: %v", err)
	}
	defer l2.Close()
	if got := l2.Label(); got.PoolName != "tank" || got.Txg != 4 || string(got.Config) != `{"k":1}` {
		t.Errorf("reopened label = %+v", got)
	}
}

// A lock held only briefly, as by a child forked while the vdev was closed
// and reopened (it keeps a copy of the lock until it execs), delays the
// open; it does not fail it.
func TestOpenLeafBriefHolder(t *testing.T) {
	t.Parallel()
	l := createLeaf(t)
	dir := l.Path()
	l.Close()
	held, err := os.OpenFile(filepath.Join(dir, lockFileName), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := lockFile(held); err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(30*time.Millisecond, func() { held.Close() })
	l2, err := OpenLeaf(dir)
	if err != nil {
		t.Fatalf("open while the lock is held for 30 ms: %v", err)
	}
	l2.Close()
}

// TestHelperHoldLock is not a test: TestOpenLeafOtherProcess runs the test
// binary with it to hold a vdev open in another process.
func TestHelperHoldLock(t *testing.T) {
	dir := os.Getenv("VDEV_TEST_HOLD")
	if dir == "" {
		return // only meaningful as the helper process
	}
	l, err := OpenLeaf(dir)
	if err != nil {
		os.Stdout.WriteString("error " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Stdout.WriteString("locked\n")
	io.Copy(io.Discard, os.Stdin) // hold until the parent closes stdin
	l.Close()
	os.Exit(0)
}

// Not parallel: a forked child holds a copy of every open lock file until
// it execs (Go releases ForkLock before that), so a parallel test that
// closes and reopens a vdev in that window would have to wait it out.
func TestOpenLeafOtherProcess(t *testing.T) {
	l := createLeaf(t)
	dir := l.Path()
	l.Close()

	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperHoldLock$")
	cmd.Env = append(os.Environ(), "VDEV_TEST_HOLD="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper: %q, %v", line, err)
	}
	if l2, err := OpenLeaf(dir); err == nil || err.Error() != "vdev "+dir+" is in use by another process" {
		if l2 != nil {
			l2.Close()
		}
		t.Fatalf("open while another process holds it: %v", err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	l2, err := OpenLeaf(dir)
	if err != nil {
		t.Fatalf("open after the other process exited: %v", err)
	}
	l2.Close()
}

func TestWriteLabelAtomic(t *testing.T) {
	t.Parallel()
	l := createLeaf(t)
	path := filepath.Join(l.Path(), labelFile)
	old, err := os.Open(path) // the old inode must stay whole: rename, not rewrite
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	oldBytes, _ := os.ReadFile(path)

	nl := l.Label()
	nl.Txg = 99
	nl.State = LabelExported
	nl.Config = json.RawMessage(`{"vdevs":[1,2]}`)
	if err := l.WriteLabel(nl); err != nil {
		t.Fatal(err)
	}
	if b, _ := io.ReadAll(old); !bytes.Equal(b, oldBytes) {
		t.Errorf("label rewritten in place: old inode now %q", b)
	}
	got, err := ReadLabel(l.Path())
	if err != nil || got.Txg != 99 || got.State != LabelExported || string(got.Config) != `{"vdevs":[1,2]}` {
		t.Errorf("ReadLabel after WriteLabel = %+v, %v", got, err)
	}
	if l.Label().Txg != 99 {
		t.Errorf("Label() not updated")
	}
	if _, err := os.Stat(filepath.Join(l.Path(), labelTmpFile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("temporary label left behind: %v", err)
	}

	// An invalid label is refused and the old one kept.
	bad := nl
	bad.State = "bogus"
	if err := l.WriteLabel(bad); err == nil {
		t.Errorf("WriteLabel accepted state %q", bad.State)
	}
	if got, _ := ReadLabel(l.Path()); got.State != LabelExported || l.Label().State != LabelExported {
		t.Errorf("refused WriteLabel changed the label to %q", got.State)
	}

	// A crash in the middle of a write leaves a torn temporary file, which
	// neither reading nor the next write minds.
	writeFile(t, filepath.Join(l.Path(), labelTmpFile), `{"version":1,"pool_na`)
	if got, err := ReadLabel(l.Path()); err != nil || got.Txg != 99 {
		t.Errorf("ReadLabel with torn temp file = %+v, %v", got, err)
	}
	nl.Txg = 100
	if err := l.WriteLabel(nl); err != nil {
		t.Fatal(err)
	}
	if got, _ := ReadLabel(l.Path()); got.Txg != 100 {
		t.Errorf("txg = %d after rewrite, want 100", got.Txg)
	}
}

func TestUberblockRing(t *testing.T) {
	t.Parallel()
	l := createLeaf(t)
	slots, err := l.ReadUberblocks()
	if err != nil {
		t.Fatal(err)
	}
	if len(slots) != RingSlots {
		t.Fatalf("%d slots, want %d", len(slots), RingSlots)
	}
	for i, s := range slots {
		if len(s) != SlotSize || !bytes.Equal(s, make([]byte, SlotSize)) {
			t.Fatalf("fresh slot %d is not %d zero bytes", i, SlotSize)
		}
	}
	written := map[int][]byte{
		0:   []byte("first"),
		5:   bytes.Repeat([]byte{0xab}, SlotSize),
		127: []byte("last"),
	}
	for slot, b := range written {
		if err := l.WriteUberblock(slot, b); err != nil {
			t.Fatalf("WriteUberblock(%d): %v", slot, err)
		}
	}
	// Overwriting a slot with something shorter leaves no trace of the old.
	if err := l.WriteUberblock(5, []byte("short")); err != nil {
		t.Fatal(err)
	}
	written[5] = []byte("short")

	for _, tt := range []struct {
		slot int
		n    int
	}{{-1, 1}, {RingSlots, 1}, {0, SlotSize + 1}} {
		if err := l.WriteUberblock(tt.slot, make([]byte, tt.n)); err == nil {
			t.Errorf("WriteUberblock(%d, %d bytes) succeeded", tt.slot, tt.n)
		}
	}

	dir := l.Path()
	l.Close()
	l2, err := OpenLeaf(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	slots, err = l2.ReadUberblocks()
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range slots {
		want := make([]byte, SlotSize)
		copy(want, written[i])
		if !bytes.Equal(s, want) {
			t.Errorf("slot %d = %q..., want %q", i, s[:8], want[:8])
		}
	}
	if fi, _ := os.Stat(filepath.Join(dir, ringFile)); fi.Size() != RingSize {
		t.Errorf("ring size %d, want %d", fi.Size(), RingSize)
	}
}

func TestLeafReadWrite(t *testing.T) {
	t.Parallel()
	l := createLeaf(t)
	block := bytes.Repeat([]byte("0123456789abcdef"), 256) // 4 KiB
	if err := l.WriteAt(block, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.WriteAt(block, 1<<20); err != nil { // leaves a hole
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if n, err := l.Size(); err != nil || n != 1<<20+4096 {
		t.Errorf("Size() = %d, %v", n, err)
	}
	tests := []struct {
		name    string
		off     int64
		n       int
		want    []byte
		wantEOF bool
	}{
		{"block", 0, 4096, block, false},
		{"hole reads zeros", 8192, 4096, make([]byte, 4096), false},
		{"last block", 1 << 20, 4096, block, false},
		{"beyond EOF", 1<<20 + 4096, 4096, nil, true},
		{"across EOF", 1<<20 + 2048, 4096, nil, true},
		{"far beyond EOF", 1 << 40, 512, nil, true},
	}
	for _, tt := range tests {
		p := make([]byte, tt.n)
		err := l.ReadAt(p, tt.off)
		if tt.wantEOF {
			if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), l.Path()) {
				t.Errorf("%s: err = %v, want io.ErrUnexpectedEOF naming the vdev", tt.name, err)
			}
			continue
		}
		if err != nil || !bytes.Equal(p, tt.want) {
			t.Errorf("%s: err = %v, data ok = %v", tt.name, err, bytes.Equal(p, tt.want))
		}
	}
	if got := l.Status().ReadErrors; got != 3 {
		t.Errorf("read errors = %d, want 3", got)
	}
	if free, err := l.HostFree(); err != nil || free == 0 {
		t.Errorf("HostFree() = %d, %v", free, err)
	}
}

func allocated(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

func TestFree(t *testing.T) {
	t.Parallel()
	l := createLeaf(t)
	const size = 4 << 20
	buf := make([]byte, size)
	for i := range buf {
		buf[i] = byte(i*7 + i>>12)
	}
	if err := l.WriteAt(buf, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(l.Path(), dataFile)
	before := allocated(t, path)
	if before < size {
		t.Fatalf("allocated %d bytes before free, want >= %d", before, size)
	}
	// Free the middle 2 MiB.
	if err := l.Free(1<<20, 2<<20); err != nil {
		t.Fatal(err)
	}
	after := allocated(t, path)
	if after > before-(2<<20) {
		t.Errorf("allocated %d -> %d bytes after freeing 2 MiB", before, after)
	}
	if n, _ := l.Size(); n != size {
		t.Errorf("Size() = %d after Free, want %d (KEEP_SIZE)", n, size)
	}
	p := make([]byte, 4096)
	if err := l.ReadAt(p, 1<<20); err != nil || !bytes.Equal(p, make([]byte, 4096)) {
		t.Errorf("freed range does not read as zeros: %v", err)
	}
	if err := l.ReadAt(p, 3<<20); err != nil || !bytes.Equal(p, buf[3<<20:3<<20+4096]) {
		t.Errorf("data after the freed range changed: %v", err)
	}
	if err := l.Free(0, 0); err != nil {
		t.Errorf("Free(0, 0) = %v", err)
	}
}
