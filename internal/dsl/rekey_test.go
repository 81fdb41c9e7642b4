package dsl

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"coffer/internal/crypto"
	"coffer/internal/dmu"
	"coffer/internal/format"
	"coffer/internal/pool"
)

// rekeyFixture is an encrypted dataset with three snapshots and a head
// that differ from each other.
type rekeyFixture struct {
	dp       *Pool
	dir      string
	versions map[string]map[uint64][]byte // snapshot name or head -> object -> content
}

func newRekeyFixture(t *testing.T) *rekeyFixture {
	t.Helper()
	dp, dir := newPool(t)
	f := &rekeyFixture{dp: dp, dir: dir, versions: map[string]map[uint64][]byte{}}
	encProps := map[string]string{"encryption": "on", "keyformat": "passphrase", "pbkdf2iters": "100000"}
	if err := dp.Create(nil, "tank/secret", CreateOpts{Props: encProps, Key: []byte(pass)}); err != nil {
		t.Fatal(err)
	}
	cur := files(t, dp, "tank/secret", 8)
	snap := func(name string) {
		if err := dp.Snapshot([]string{"tank/secret@" + name}, false, nil); err != nil {
			t.Fatal(err)
		}
		c := map[uint64][]byte{}
		for id, b := range cur {
			c[id] = append([]byte(nil), b...)
		}
		f.versions["tank/secret@"+name] = c
	}
	change := func(seed int) {
		os, err := dp.Objset("tank/secret")
		if err != nil {
			t.Fatal(err)
		}
		for id, b := range cur {
			if int(id)%3 != seed%3 || len(b) < 5000 {
				continue
			}
			patch := make([]byte, 3000)
			rand.Read(patch)
			off := (seed * 7919) % (len(b) - len(patch))
			o, err := os.Object(id)
			if err != nil {
				t.Fatal(err)
			}
			if err := o.Write(patch, uint64(off)); err != nil {
				t.Fatal(err)
			}
			copy(b[off:], patch)
		}
		for id, b := range files(t, dp, "tank/secret", 2) {
			cur[id] = b
		}
		if err := dp.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	snap("a")
	change(1)
	snap("b")
	snap("b2") // no change: shares the whole tree with @b
	change(2)
	snap("c")
	change(3)
	f.versions["head"] = cur
	return f
}

func (f *rekeyFixture) verify(t *testing.T) {
	t.Helper()
	dp := f.dp
	for name, want := range f.versions {
		var os *dmu.Objset
		var err error
		if name == "head" {
			os, err = dp.Objset("tank/secret")
		} else {
			os, err = dp.SnapshotObjset(name)
		}
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for id, b := range want {
			o, err := os.Object(id)
			if err != nil {
				t.Fatalf("%s object %d: %v", name, id, err)
			}
			got := make([]byte, len(b))
			if err := o.Read(got, 0); err != nil {
				t.Fatalf("%s object %d: %v", name, id, err)
			}
			if !bytes.Equal(got, b) {
				t.Fatalf("%s object %d differs", name, id)
			}
			bonus, err := o.Bonus()
			if err != nil || !strings.HasPrefix(string(bonus), "bonus-") {
				t.Fatalf("%s object %d bonus %q: %v", name, id, bonus, err)
			}
		}
	}
}

// masterKey returns an independent copy of dataset name's current master
// key (what an attacker who kept the old key would hold).
func masterKey(t *testing.T, dp *Pool, name string) *crypto.DatasetKey {
	t.Helper()
	dp.mu.Lock()
	defer dp.mu.Unlock()
	r := dp.lookup(name)
	var w crypto.WrappedKey
	if err := w.UnmarshalBinary(r.Wrapped); err != nil {
		t.Fatal(err)
	}
	k, err := crypto.Unwrap(dp.wk[r.EncRoot], w, nil)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// opened counts the blocks, bonus buffers and headers of every version of
// dataset name that key authenticates, and all of them. The associated data
// is rebuilt from the frozen layouts with the key's own GUID.
func opened(t *testing.T, dp *Pool, name string, key *crypto.DatasetKey) (ok, all int) {
	t.Helper()
	dp.mu.Lock()
	r := dp.lookup(name)
	roots := []format.BlockPointer{r.Root}
	for _, s := range dp.snapshots(r) {
		roots = append(roots, s.Root)
	}
	dp.mu.Unlock()
	g := key.GUID()
	bad := func(pos dmu.Pos, bp *format.BlockPointer) []byte {
		if pos.Header {
			b := []byte{'H', 0, 0, 0, 0, 0, 0, 0, 0}
			binary.LittleEndian.PutUint64(b[1:], g)
			return b
		}
		b := make([]byte, 34)
		b[0] = 'B'
		binary.LittleEndian.PutUint64(b[1:], g)
		binary.LittleEndian.PutUint64(b[9:], pos.Obj)
		b[17] = pos.Level
		binary.LittleEndian.PutUint64(b[18:], pos.BlkID)
		binary.LittleEndian.PutUint64(b[26:], bp.Birth)
		return b
	}
	seen := map[uint64]bool{}
	for _, root := range roots {
		err := dmu.Changes(dp.p, root, format.BlockPointer{}, 0, false, func(pos dmu.Pos, bp *format.BlockPointer) error {
			if seen[bp.Offset] {
				return nil
			}
			seen[bp.Offset] = true
			stored, err := dp.p.ReadStored(bp)
			if err != nil {
				return err
			}
			all++
			b, err := pool.Decode(bp, stored, key, bad(pos, bp))
			if err == nil {
				ok++
			}
			if bp.Type == format.TypeDnode {
				if b == nil {
					b, _ = pool.Decode(bp, stored, nil, nil)
				}
				for i := 0; i*format.DnodeSize < len(b); i++ {
					var dn format.Dnode
					if dn.Decode(b[i*format.DnodeSize:]) != nil || dn.IsFree() || dn.Flags&format.DnodeFlagCrypt == 0 {
						continue
					}
					obj := pos.BlkID*format.DnodesPerBlock + uint64(i)
					ad := make([]byte, 25)
					ad[0] = 'N'
					binary.LittleEndian.PutUint64(ad[1:], g)
					binary.LittleEndian.PutUint64(ad[9:], obj)
					binary.LittleEndian.PutUint64(ad[17:], dn.Gen)
					var iv [12]byte
					var mac [16]byte
					var salt [8]byte
					copy(iv[:], dn.Bonus[0:])
					copy(mac[:], dn.Bonus[12:])
					copy(salt[:], dn.Bonus[28:])
					all++
					if _, err := key.Open(crypto.PurposeBonus, dn.Bonus[36:36+int(dn.BonusLen)], iv, salt, mac, ad); err == nil {
						ok++
					}
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return ok, all
}

func roots(dp *Pool, name string) []format.BlockPointer {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	r := dp.lookup(name)
	out := []format.BlockPointer{r.Root}
	for _, s := range dp.snapshots(r) {
		out = append(out, s.Root)
	}
	return out
}

func usedBySnaps(dp *Pool, name string) uint64 {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	return dp.lookup(name).UsedBySnaps
}

func TestDeepRekey(t *testing.T) {
	f := newRekeyFixture(t)
	dp := f.dp
	k1 := masterKey(t, dp, "tank/secret")
	defer k1.Wipe()
	if ok, all := opened(t, dp, "tank/secret", k1); ok != all || all < 50 {
		t.Fatalf("before the rekey the old key opens %d of %d blocks", ok, all)
	}
	// The stored ciphertext of every old data block, to look for on disk
	// afterwards.
	var oldCT [][]byte
	for _, root := range roots(dp, "tank/secret") {
		err := dmu.Walk(dp.p, root, func(bp *format.BlockPointer) (bool, error) {
			if bp.Type == format.TypeData {
				b, err := dp.p.ReadStored(bp)
				if err != nil {
					return false, err
				}
				oldCT = append(oldCT, b[:min(len(b), 48)])
			}
			return true, nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	// A snapshot opened before the rekey (a mounted snapshot directory)
	// reads on after it, from the new tree.
	openSnap, err := dp.SnapshotObjset("tank/secret@a")
	if err != nil {
		t.Fatal(err)
	}
	var openID uint64
	for id := range f.versions["tank/secret@a"] {
		openID = id
		break
	}
	openObj, err := openSnap.Object(openID)
	if err != nil {
		t.Fatal(err)
	}
	snapsBefore := usedBySnaps(dp, "tank/secret")
	allocBefore := dp.p.AllocatedBytes() - dp.p.DeferredBytes()
	var progress []RekeyProgress
	res, err := dp.Rekey("tank/secret", RekeyOpts{Progress: func(p RekeyProgress) { progress = append(progress, p) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 1 || res[0].Objsets != 5 || res[0].NewKeyGUID == k1.GUID() || res[0].OldKeyGUID != k1.GUID() || res[0].Resumed {
		t.Fatalf("result %+v", res)
	}
	if len(progress) == 0 || progress[len(progress)-1].Objsets != 5 || progress[len(progress)-1].Bytes == 0 {
		t.Fatalf("progress %+v", progress)
	}
	// Only the previous metadata documents wait to be released; every old
	// block of the dataset is released (and punched out of the file).
	mosBP := dp.p.MOSPointer()
	if n, d := dp.p.PendingFrees(), dp.p.DeferredBytes(); n != 0 || d > uint64(pool.DeferTxgs)*pool.ASize(&mosBP) {
		t.Fatalf("after the rekey %d frees pending and %d bytes deferred: old blocks still on disk", n, d)
	}
	checked(t, dp)
	f.verify(t)
	if ok, all := opened(t, dp, "tank/secret", k1); ok != 0 {
		t.Fatalf("after the rekey the old key still opens %d of %d blocks", ok, all)
	}
	if openSnap.KeyGUID() != res[0].NewKeyGUID {
		t.Fatal("open snapshot still on the old key")
	}
	wantOpen := f.versions["tank/secret@a"][openID]
	gotOpen := make([]byte, len(wantOpen))
	if err := openObj.Read(gotOpen, 0); err != nil || !bytes.Equal(gotOpen, wantOpen) {
		t.Fatalf("object of a snapshot opened before the rekey: %v", err)
	}
	disk, err := os.ReadFile(filepath.Join(f.dir, "d0", "data"))
	if err != nil {
		t.Fatal(err)
	}
	for i, ct := range oldCT {
		if bytes.Contains(disk, ct) {
			t.Fatalf("old ciphertext %d of %d is still in the vdev file", i, len(oldCT))
		}
	}
	k2 := masterKey(t, dp, "tank/secret")
	if ok, all := opened(t, dp, "tank/secret", k2); ok != all {
		t.Fatalf("the new key opens %d of %d blocks", ok, all)
	}
	k2.Wipe()
	// Shared blocks stay shared: space is about what it was.
	if after := usedBySnaps(dp, "tank/secret"); after > snapsBefore+snapsBefore/10+64<<10 || after+snapsBefore/10+64<<10 < snapsBefore {
		t.Fatalf("used by snapshots %d, before %d", after, snapsBefore)
	}
	if a := dp.p.AllocatedBytes() - dp.p.DeferredBytes(); a > allocBefore+allocBefore/10 {
		t.Fatalf("allocated %d after the rekey, %d before", a, allocBefore)
	}
	dp.mu.Lock()
	for _, s := range dp.snapshots(dp.lookup("tank/secret")) {
		if s.KeyGUID != res[0].NewKeyGUID {
			t.Errorf("%s has key %x", s.Name, s.KeyGUID)
		}
	}
	dp.mu.Unlock()
	// From disk, with the same passphrase.
	dp = reimport(t, dp, f.dir)
	f.dp = dp
	defer dp.Close()
	if err := dp.LoadKey("tank/secret", false, "", []byte(pass)); err != nil {
		t.Fatal(err)
	}
	f.verify(t)
	checked(t, dp)
	if ok, _ := opened(t, dp, "tank/secret", k1); ok != 0 {
		t.Fatal("old key opens blocks after reimport")
	}
	// A second rekey works as the first.
	if _, err := dp.Rekey("tank/secret", RekeyOpts{}); err != nil {
		t.Fatal(err)
	}
	f.verify(t)
	checked(t, dp)
}

func TestDeepRekeyBadInput(t *testing.T) {
	dp, _ := newPool(t)
	defer dp.Close()
	if err := dp.Create(nil, "tank/plain", CreateOpts{}); err != nil {
		t.Fatal(err)
	}
	encProps := map[string]string{"encryption": "on", "keyformat": "passphrase", "pbkdf2iters": "100000"}
	if err := dp.Create(nil, "tank/enc", CreateOpts{Props: encProps, Key: []byte(pass)}); err != nil {
		t.Fatal(err)
	}
	if err := dp.Snapshot([]string{"tank/enc@s"}, false, nil); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"tank/nope":  "cannot open 'tank/nope': dataset does not exist",
		"tank/plain": "cannot rekey 'tank/plain': dataset is not encrypted",
		"tank/enc@s": "cannot rekey 'tank/enc@s': snapshots are rekeyed with their dataset",
	} {
		if _, err := dp.Rekey(name, RekeyOpts{}); err == nil || err.Error() != want {
			t.Errorf("rekey %s: %v, want %q", name, err, want)
		}
	}
	if _, err := dp.UnloadKey("tank/enc", false, false); err != nil {
		t.Fatal(err)
	}
	if _, err := dp.Rekey("tank/enc", RekeyOpts{}); err == nil || CodeOf(err) != CodeKey {
		t.Errorf("rekey without key: %v", err)
	}
}

// TestDeepRekeyRecursive rekeys a root and a child that inherits its key.
func TestDeepRekeyRecursive(t *testing.T) {
	dp, dir := newPool(t)
	encProps := map[string]string{"encryption": "on", "keyformat": "passphrase", "pbkdf2iters": "100000"}
	if err := dp.Create(nil, "tank/enc", CreateOpts{Props: encProps, Key: []byte(pass)}); err != nil {
		t.Fatal(err)
	}
	if err := dp.Create(nil, "tank/enc/kid", CreateOpts{}); err != nil {
		t.Fatal(err)
	}
	a, b := files(t, dp, "tank/enc", 3), files(t, dp, "tank/enc/kid", 3)
	ka, kb := masterKey(t, dp, "tank/enc"), masterKey(t, dp, "tank/enc/kid")
	res, err := dp.Rekey("tank/enc", RekeyOpts{})
	if err != nil || len(res) != 1 {
		t.Fatal(res, err)
	}
	if ok, _ := opened(t, dp, "tank/enc/kid", kb); ok == 0 {
		t.Fatal("a rekey without -r changed the child")
	}
	// From disk, without opening the datasets first.
	dp = reimport(t, dp, dir)
	defer dp.Close()
	if err := dp.LoadKey("tank/enc", false, "", []byte(pass)); err != nil {
		t.Fatal(err)
	}
	res, err = dp.Rekey("tank/enc", RekeyOpts{Recursive: true})
	if err != nil || len(res) != 2 {
		t.Fatal(res, err)
	}
	verify(t, dp, "tank/enc", a)
	verify(t, dp, "tank/enc/kid", b)
	if ok, _ := opened(t, dp, "tank/enc/kid", kb); ok != 0 {
		t.Fatal("old child key still opens blocks")
	}
	if ok, _ := opened(t, dp, "tank/enc", ka); ok != 0 {
		t.Fatal("old key still opens blocks")
	}
	checked(t, dp)
}

// TestDeepRekeyConcurrentWrites writes, commits and snapshots while the
// dataset is rekeyed; every write survives.
func TestDeepRekeyConcurrentWrites(t *testing.T) {
	f := newRekeyFixture(t)
	dp := f.dp
	defer dp.Close()
	os, err := dp.Objset("tank/secret")
	if err != nil {
		t.Fatal(err)
	}
	obj, err := os.NewObject(format.ObjectPlain, 128<<10, dp.NextTxg())
	if err != nil {
		t.Fatal(err)
	}
	// Two cached objects: one with its bonus loaded before the rekey, one
	// without; both must work on the new tree afterwards.
	var ids []uint64
	for id := range f.versions["head"] {
		ids = append(ids, id)
	}
	loaded, unloaded := ids[0], ids[1]
	oL, err := os.Object(loaded)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := oL.Bonus(); err != nil {
		t.Fatal(err)
	}
	oU, err := os.Object(unloaded)
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 4<<20)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var werr error
	var writes int
	wg.Add(1)
	go func() {
		defer wg.Done()
		buf := make([]byte, 64<<10)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			rand.Read(buf)
			off := (i * 37 * 4096) % (len(want) - len(buf))
			if err := obj.Write(buf, uint64(off)); err != nil {
				werr = err
				return
			}
			copy(want[off:], buf)
			writes++
			if i%8 == 0 {
				if err := dp.Sync(); err != nil {
					werr = err
					return
				}
			}
			if i == 20 {
				if err := dp.Snapshot([]string{"tank/secret@during"}, false, nil); err != nil {
					werr = err
					return
				}
			}
		}
	}()
	_, rerr := dp.Rekey("tank/secret", RekeyOpts{})
	close(stop)
	wg.Wait()
	if rerr != nil || werr != nil {
		t.Fatal(rerr, werr)
	}
	if writes < 5 {
		t.Fatalf("only %d writes during the rekey", writes)
	}
	got := make([]byte, len(want))
	if err := obj.Read(got, 0); err != nil || !bytes.Equal(got, want) {
		t.Fatalf("live object after the rekey: %v", err)
	}
	if b, err := oU.Bonus(); err != nil || !strings.HasPrefix(string(b), "bonus-") {
		t.Fatalf("bonus of a cached object after the rekey: %q %v", b, err)
	}
	if err := oL.SetBonus([]byte("bonus-after-rekey")); err != nil {
		t.Fatal(err)
	}
	if err := dp.Sync(); err != nil {
		t.Fatal(err)
	}
	f.verify(t)
	checked(t, dp)
	if err := dp.Sync(); err != nil {
		t.Fatal(err)
	}
	id := obj.ID()
	dp = reimport(t, dp, f.dir)
	f.dp = dp
	if err := dp.LoadKey("tank/secret", false, "", []byte(pass)); err != nil {
		t.Fatal(err)
	}
	if b, err := readFile(dp, "tank/secret", id, len(want)); err != nil || !bytes.Equal(b, want) {
		t.Fatalf("object after reimport: %v", err)
	}
	os, _ = dp.Objset("tank/secret")
	if o, err := os.Object(loaded); err != nil {
		t.Fatal(err)
	} else if b, err := o.Bonus(); err != nil || string(b) != "bonus-after-rekey" {
		t.Fatalf("bonus set after the rekey: %q %v", b, err)
	}
	f.verify(t)
	checked(t, dp)
}

// copyDir copies a stopped-in-the-middle pool directory: what a crash at
// that moment leaves on disk.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(to, 0o700)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(to)
		if err != nil {
			return err
		}
		defer out.Close()
		_, err = io.Copy(out, in)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

var errInjected = errors.New("injected stop")

// TestDeepRekeyResume stops a rekey at several points, both cleanly (the
// rekey returns an error, the pool stays open) and as a crash (the pool
// directory as it was at that moment is imported), and continues it.
func TestDeepRekeyResume(t *testing.T) {
	for _, tc := range []struct {
		event string
		n     uint64
		crash bool
	}{
		{"block", 1, false},
		{"block", 40, true},
		{"objset", 1, true},
		{"objset", 3, false},
		{"objset", 4, true},
		{"block", 50, false},
		{"head-block", 1, true},
		{"head-block", 5, false},
	} {
		t.Run(fmt.Sprintf("%s%d-crash=%v", tc.event, tc.n, tc.crash), func(t *testing.T) {
			f := newRekeyFixture(t)
			dp := f.dp
			k1 := masterKey(t, dp, "tank/secret")
			defer k1.Wipe()
			crashDir := t.TempDir()
			fired := false
			rekeyHook = func(event string, n uint64) error {
				if event != tc.event || n != tc.n {
					return nil
				}
				fired = true
				if tc.crash {
					copyDir(t, f.dir, crashDir)
				}
				return errInjected
			}
			_, err := dp.Rekey("tank/secret", RekeyOpts{})
			rekeyHook = nil
			if !fired || err == nil || !strings.Contains(err.Error(), errInjected.Error()) {
				t.Fatalf("stop not injected: fired %v, %v", fired, err)
			}
			// Interrupted: the pool is consistent and every version reads.
			checked(t, dp)
			f.verify(t)
			if _, err := dp.Destroy("tank/secret@a", DestroyOpts{}); err == nil || !strings.Contains(err.Error(), "deep rekey of 'tank/secret' in progress") {
				t.Fatalf("destroy during an interrupted rekey: %v", err)
			}
			if st, _ := dp.RekeyStatus("tank/secret", false); st[0].SnapsDone > 0 && st[0].SnapsDone < st[0].Snaps {
				// @a has the new key, @c the old one: a raw incremental
				// between them cannot be applied anywhere.
				err := dp.Send(context.Background(), "tank/secret@c", SendOpts{Raw: true, From: "@a"}, io.Discard)
				if err == nil || err.Error() != "cannot send 'tank/secret@c': incremental source 'tank/secret@a' has another master key (deep rekey); send a full stream" {
					t.Fatalf("raw incremental across keys: %v", err)
				}
				// A plaintext incremental reads each side with its own key.
				var buf bytes.Buffer
				if err := dp.Send(context.Background(), "tank/secret@c", SendOpts{From: "@a"}, &buf); err != nil || buf.Len() == 0 {
					t.Fatalf("plain incremental across keys: %v", err)
				}
			}
			if tc.crash {
				dp.Close()
				found, err := pool.Scan([]string{crashDir})
				if err != nil || len(found) != 1 {
					t.Fatal(found, err)
				}
				if dp, err = Import(found[0], Options{}); err != nil {
					t.Fatal(err)
				}
				f.dp, f.dir = dp, crashDir
				// The crash copy was taken before the test's last writes
				// were lost: the fixture's versions were all committed.
			} else {
				dp = reimport(t, dp, f.dir)
				f.dp = dp
			}
			defer dp.Close()
			checked(t, dp)
			if err := dp.LoadKey("tank/secret", false, "", []byte(pass)); err != nil {
				t.Fatal(err)
			}
			f.verify(t)
			pending := dp.PendingRekeys()
			st, err := dp.RekeyStatus("tank/secret", false)
			if err != nil {
				t.Fatal(err)
			}
			if len(pending) == 1 != (st[0].State == "in-progress") {
				t.Fatalf("pending %v, status %+v", pending, st)
			}
			if len(pending) == 1 {
				res, err := dp.Rekey("tank/secret", RekeyOpts{})
				if err != nil {
					t.Fatal(err)
				}
				if !res[0].Resumed {
					t.Fatalf("not resumed: %+v", res)
				}
			}
			st, _ = dp.RekeyStatus("tank/secret", false)
			if st[0].State != "none" {
				t.Fatalf("status after resume %+v", st)
			}
			f.verify(t)
			checked(t, dp)
			if ok, all := opened(t, dp, "tank/secret", k1); ok != 0 {
				t.Fatalf("old key opens %d of %d blocks after a resumed rekey", ok, all)
			}
		})
	}
}

// TestDeepRekeyRawSend: a full raw stream of a rekeyed dataset receives and
// loads with the same passphrase; an incremental onto a replica that still
// has the old master key is refused.
func TestDeepRekeyRawSend(t *testing.T) {
	f := newRekeyFixture(t)
	src := f.dp
	defer src.Close()
	dst, _ := newNamedPool(t, "backup")
	full := send(t, src, "tank/secret@a", SendOpts{Raw: true})
	if _, err := dst.Receive(context.Background(), "backup/secret", RecvOpts{}, bytes.NewReader(full)); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Rekey("tank/secret", RekeyOpts{}); err != nil {
		t.Fatal(err)
	}
	inc := send(t, src, "tank/secret@b", SendOpts{Raw: true, From: "@a"})
	_, err := dst.Receive(context.Background(), "backup/secret", RecvOpts{}, bytes.NewReader(inc))
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "has another master key than the stream") {
		t.Fatalf("incremental across a rekey: %v", err)
	}
	checked(t, dst)
	full = send(t, src, "tank/secret@c", SendOpts{Raw: true})
	if _, err := dst.Receive(context.Background(), "backup/fresh", RecvOpts{}, bytes.NewReader(full)); err != nil {
		t.Fatal(err)
	}
	if err := dst.LoadKey("backup/fresh", false, "", []byte(pass)); err != nil {
		t.Fatal(err)
	}
	verify(t, dst, "backup/fresh", f.versions["tank/secret@c"])
	checked(t, dst)
}

// TestDeepRekeySnapshotDuringHead takes a snapshot and overwrites data
// while the head is being rewritten: the rekey rewrites the new snapshot
// too, the pool stays consistent throughout, and nothing is lost.
func TestDeepRekeySnapshotDuringHead(t *testing.T) {
	f := newRekeyFixture(t)
	dp := f.dp
	defer dp.Close()
	k1 := masterKey(t, dp, "tank/secret")
	defer k1.Wipe()
	head := f.versions["head"]
	var big uint64
	for id, b := range head {
		if len(b) > len(head[big]) {
			big = id
		}
	}
	objsets, done := uint64(0), false
	var herr error
	rekeyHook = func(event string, n uint64) error {
		if event == "objset" {
			objsets = n
			return nil
		}
		if objsets != 4 || done {
			return nil
		}
		done = true // first block of the head, outside the pool lock
		herr = func() error {
			if err := dp.CheckErr(); err != nil {
				return fmt.Errorf("check during the rekey: %w", err)
			}
			os, err := dp.Objset("tank/secret")
			if err != nil {
				return err
			}
			o, err := os.Object(big)
			if err != nil {
				return err
			}
			patch := make([]byte, 200<<10)
			rand.Read(patch)
			if err := o.Write(patch, 0); err != nil {
				return err
			}
			copy(head[big], patch)
			if err := dp.Sync(); err != nil {
				return err
			}
			if err := dp.Snapshot([]string{"tank/secret@mid"}, false, nil); err != nil {
				return err
			}
			c := map[uint64][]byte{}
			for id, b := range head {
				c[id] = append([]byte(nil), b...)
			}
			f.versions["tank/secret@mid"] = c
			rand.Read(patch)
			if err := o.Write(patch, 100<<10); err != nil {
				return err
			}
			copy(head[big][100<<10:], patch)
			if err := dp.Sync(); err != nil {
				return err
			}
			return dp.CheckErr()
		}()
		return herr
	}
	res, err := dp.Rekey("tank/secret", RekeyOpts{})
	rekeyHook = nil
	if err != nil || herr != nil || !done {
		t.Fatal(err, herr, done)
	}
	if res[0].Objsets != 6 {
		t.Fatalf("rewrote %d object sets, want 4 snapshots + @mid + head", res[0].Objsets)
	}
	f.verify(t)
	checked(t, dp)
	if ok, all := opened(t, dp, "tank/secret", k1); ok != 0 {
		t.Fatalf("old key opens %d of %d blocks", ok, all)
	}
	dp = reimport(t, dp, f.dir)
	f.dp = dp
	if err := dp.LoadKey("tank/secret", false, "", []byte(pass)); err != nil {
		t.Fatal(err)
	}
	f.verify(t)
	checked(t, dp)
}

// TestRekeyStateEncoding freezes the MOS encoding of a rekey state.
func TestRekeyStateEncoding(t *testing.T) {
	r := dsRec{ID: 7, Name: "tank/a", Type: "filesystem", Suite: 6, KeyGUID: 0x1111,
		Rekey: &rekeyState{Wrapped: []byte{1, 2, 3}, KeyGUID: 0x2222, Started: 1700000000}}
	b, err := json.Marshal(r.Rekey)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"wrapped":"AQID","key_guid":8738,"started":1700000000}`; string(b) != want {
		t.Fatalf("encoding %s, want %s", b, want)
	}
	doc := `{"version":1,"name":"tank","guid":1,"created":1,"next_id":8,"datasets":{"7":{"id":7,"guid":9,"name":"tank/a","type":"filesystem","created":1,"createtxg":1,"root":{},"suite":6,"key_guid":4369,"rekey":{"wrapped":"AQID","key_guid":8738,"started":1700000000},"referenced":0,"ref_logical":0,"ref_phys":0,"written":0}}}`
	m, err := parseMOS([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Datasets[7].Rekey; got == nil || got.KeyGUID != 0x2222 || !bytes.Equal(got.Wrapped, []byte{1, 2, 3}) || got.Started != 1700000000 {
		t.Fatalf("decoded %+v", got)
	}
	bad := strings.Replace(doc, `"key_guid":8738`, `"key_guid":0`, 1)
	if _, err := parseMOS([]byte(bad)); err == nil {
		t.Fatal("rekey state without key GUID accepted")
	}
}

// BenchmarkDeepRekey rekeys a 64 MiB dataset (incompressible data, 128 KiB
// records) with one snapshot sharing all of it; bytes/s is data rewritten.
func BenchmarkDeepRekey(b *testing.B) {
	dir := b.TempDir()
	dp, err := CreatePool("tank", []pool.VdevSpec{{Paths: []string{filepath.Join(dir, "d0")}}}, false, nil, nil, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer dp.Close()
	encProps := map[string]string{"encryption": "on", "keyformat": "passphrase", "pbkdf2iters": "100000"}
	if err := dp.Create(nil, "tank/bench", CreateOpts{Props: encProps, Key: []byte(pass)}); err != nil {
		b.Fatal(err)
	}
	os, err := dp.Objset("tank/bench")
	if err != nil {
		b.Fatal(err)
	}
	const size = 64 << 20
	buf := make([]byte, 1<<20)
	for f := 0; f < 8; f++ {
		o, err := os.NewObject(format.ObjectPlain, 128<<10, dp.NextTxg())
		if err != nil {
			b.Fatal(err)
		}
		for off := 0; off < size/8; off += len(buf) {
			rand.Read(buf)
			if err := o.Write(buf, uint64(off)); err != nil {
				b.Fatal(err)
			}
		}
		if err := dp.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	if err := dp.Snapshot([]string{"tank/bench@s"}, false, nil); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := dp.Rekey("tank/bench", RekeyOpts{}); err != nil {
			b.Fatal(err)
		}
	}
}

// TestDeepRekeyWaitsForSend: a send holding a snapshot's old tree delays
// that snapshot's swap until the send ends; the rekey then completes.
func TestDeepRekeyWaitsForSend(t *testing.T) {
	f := newRekeyFixture(t)
	dp := f.dp
	defer dp.Close()
	dp.mu.Lock()
	b := dp.lookup("tank/secret@b")
	dp.hold(b.ID) // as Send does, under the lock
	dp.mu.Unlock()
	done := make(chan error, 1)
	go func() {
		_, err := dp.Rekey("tank/secret", RekeyOpts{})
		done <- err
	}()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := dp.RekeyStatus("tank/secret", false)
		if err != nil {
			t.Fatal(err)
		}
		if st[0].SnapsDone == 1 && st[0].State == "running" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rekey did not reach @b: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-done:
		t.Fatalf("rekey ended while @b was held: %v", err)
	default:
	}
	if st, _ := dp.RekeyStatus("tank/secret", false); st[0].SnapsDone != 1 {
		t.Fatalf("held snapshot swapped: %+v", st)
	}
	dp.release(b.ID)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	f.verify(t)
	checked(t, dp)
}
