package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"sync"
	"testing"
)

func newKey(t testing.TB, s Suite) *DatasetKey {
	t.Helper()
	k, err := NewDatasetKey(s)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Wipe)
	return k
}

func TestSuites(t *testing.T) {
	t.Parallel()
	want := map[string]Suite{
		"off": Off, "on": AES256GCM,
		"aes-128-ccm": AES128CCM, "aes-192-ccm": AES192CCM, "aes-256-ccm": AES256CCM,
		"aes-128-gcm": AES128GCM, "aes-192-gcm": AES192GCM, "aes-256-gcm": AES256GCM,
	}
	for name, s := range want {
		got, err := ParseSuite(name)
		if err != nil || got != s {
			t.Errorf("ParseSuite(%q) = %v, %v", name, got, err)
		}
		if name != "on" && s.String() != name {
			t.Errorf("%d.String() = %q", s, s.String())
		}
	}
	_, err := ParseSuite("x")
	const msg = `invalid encryption "x": must be one of off, on, aes-128-ccm, aes-192-ccm, aes-256-ccm, aes-128-gcm, aes-192-gcm, aes-256-gcm`
	if err == nil || err.Error() != msg {
		t.Errorf("ParseSuite(x) error = %v", err)
	}
	for _, bad := range []string{"", "AES-256-GCM", "aes-256-gcm ", "suite(6)"} {
		if _, err := ParseSuite(bad); err == nil {
			t.Errorf("ParseSuite(%q) accepted", bad)
		}
	}
	// Frozen numbering.
	if Off != 0 || AES128CCM != 1 || AES192CCM != 2 || AES256CCM != 3 || AES128GCM != 4 || AES192GCM != 5 || AES256GCM != 6 {
		t.Fatal("suite numbering changed: this breaks the on-disk format")
	}
	sup := Supported()
	if len(sup) != 6 || sup[0] != AES128CCM || sup[5] != AES256GCM {
		t.Fatalf("Supported() = %v", sup)
	}
	for _, s := range sup {
		if kl := s.KeyLen(); kl != map[Suite]int{AES128CCM: 16, AES192CCM: 24, AES256CCM: 32, AES128GCM: 16, AES192GCM: 24, AES256GCM: 32}[s] {
			t.Errorf("%v.KeyLen() = %d", s, kl)
		}
	}
	if Off.KeyLen() != 0 || Suite(7).KeyLen() != 0 || Suite(7).Valid() || Suite(7).String() != "suite(7)" {
		t.Error("unknown suite handling")
	}
	if _, err := NewDatasetKey(Off); err == nil {
		t.Error("NewDatasetKey(Off) succeeded")
	}
	if _, err := NewDatasetKey(Suite(9)); err == nil {
		t.Error("NewDatasetKey(9) succeeded")
	}
}

func TestSealOpenRoundTrip(t *testing.T) {
	t.Parallel()
	for _, s := range Supported() {
		t.Run(s.String(), func(t *testing.T) {
			t.Parallel()
			k := newKey(t, s)
			if k.GUID() == 0 || k.Suite() != s {
				t.Fatal("bad key identity")
			}
			for _, n := range []int{0, 1, 16, 512, 4096, 128 << 10} {
				pt := bytes.Repeat([]byte{0x5c}, n)
				for _, p := range []Purpose{PurposeData, PurposeBonus} {
					ct, iv, salt, mac, err := k.Seal(p, pt, []byte("ad"))
					if err != nil {
						t.Fatal(err)
					}
					if len(ct) != n {
						t.Fatalf("ciphertext length %d, want %d", len(ct), n)
					}
					if n >= 16 && bytes.Equal(ct, pt) {
						t.Fatal("ciphertext equals plaintext")
					}
					got, err := k.Open(p, ct, iv, salt, mac, []byte("ad"))
					if err != nil || !bytes.Equal(got, pt) {
						t.Fatalf("round trip failed: %v", err)
					}
				}
			}
		})
	}
}

// sealed is one sealed block with everything stored beside it.
type sealed struct {
	ct   []byte
	iv   [IVLen]byte
	salt [SaltLen]byte
	mac  [MACLen]byte
	ad   []byte
	p    Purpose
}

func seal(t *testing.T, k *DatasetKey, p Purpose, pt, ad []byte) sealed {
	t.Helper()
	ct, iv, salt, mac, err := k.Seal(p, pt, ad)
	if err != nil {
		t.Fatal(err)
	}
	return sealed{ct, iv, salt, mac, ad, p}
}

func (b sealed) open(k *DatasetKey) ([]byte, error) {
	return k.Open(b.p, b.ct, b.iv, b.salt, b.mac, b.ad)
}

// TestOpenRejects: every way of presenting a block out of its context fails
// with ErrAuth and returns no plaintext.
func TestOpenRejects(t *testing.T) {
	t.Parallel()
	for _, s := range Supported() {
		t.Run(s.String(), func(t *testing.T) {
			t.Parallel()
			k := newKey(t, s)
			other := newKey(t, s)
			pt := bytes.Repeat([]byte("block 1 "), 64)
			b := seal(t, k, PurposeData, pt, []byte("obj=1 blk=1"))
			b2 := seal(t, k, PurposeData, bytes.Repeat([]byte("block 2 "), 64), []byte("obj=1 blk=2"))
			if got, err := b.open(k); err != nil || !bytes.Equal(got, pt) {
				t.Fatal("baseline open failed")
			}
			cases := map[string]func(sealed) sealed{
				"flipped ciphertext": func(x sealed) sealed { x.ct = bytes.Clone(x.ct); x.ct[7] ^= 1; return x },
				"flipped last byte":  func(x sealed) sealed { x.ct = bytes.Clone(x.ct); x.ct[len(x.ct)-1] ^= 0x80; return x },
				"truncated":          func(x sealed) sealed { x.ct = x.ct[:len(x.ct)-1]; return x },
				"extended":           func(x sealed) sealed { x.ct = append(bytes.Clone(x.ct), 0); return x },
				"empty":              func(x sealed) sealed { x.ct = nil; return x },
				"flipped mac":        func(x sealed) sealed { x.mac[15] ^= 1; return x },
				"flipped iv":         func(x sealed) sealed { x.iv[0] ^= 1; return x },
				"zero iv":            func(x sealed) sealed { x.iv = [IVLen]byte{}; return x },
				"wrong salt":         func(x sealed) sealed { x.salt[3] ^= 1; return x },
				"wrong ad":           func(x sealed) sealed { x.ad = []byte("obj=1 blk=9"); return x },
				"missing ad":         func(x sealed) sealed { x.ad = nil; return x },
				"wrong purpose":      func(x sealed) sealed { x.p = PurposeBonus; return x },
				"swapped block":      func(x sealed) sealed { y := b2; y.ad = x.ad; return y },
				"swapped mac":        func(x sealed) sealed { x.mac = b2.mac; return x },
				"swapped iv":         func(x sealed) sealed { x.iv = b2.iv; return x },
			}
			for name, mutate := range cases {
				got, err := mutate(b).open(k)
				if !errors.Is(err, ErrAuth) || got != nil {
					t.Errorf("%s: got %d bytes, err %v; want ErrAuth", name, len(got), err)
				}
			}
			if _, err := b.open(other); !errors.Is(err, ErrAuth) {
				t.Errorf("other key: err %v, want ErrAuth", err)
			}
			if _, err := k.Open(Purpose(9), b.ct, b.iv, b.salt, b.mac, b.ad); err == nil {
				t.Error("invalid purpose accepted")
			}
			if _, _, _, _, err := k.Seal(Purpose(0), pt, nil); err == nil {
				t.Error("Seal with invalid purpose succeeded")
			}
		})
	}
}

func TestSuiteSeparation(t *testing.T) {
	t.Parallel()
	// The same master under another suite (even one with the same key length
	// and mode family) must not open the block.
	k := katKey(t, AES256GCM)
	b := seal(t, k, PurposeData, katPT, katAD)
	for _, s := range Supported() {
		if s == AES256GCM {
			continue
		}
		k2, _ := newDatasetKey(s, keyOptions{master: katMaster(), guid: katGUID})
		if _, err := b.open(k2); !errors.Is(err, ErrAuth) {
			t.Errorf("%v opened an aes-256-gcm block", s)
		}
	}
}

func TestSealToOpenTo(t *testing.T) {
	t.Parallel()
	for _, s := range []Suite{AES256GCM, AES256CCM} {
		k := newKey(t, s)
		pt := bytes.Repeat([]byte{1, 2, 3, 4}, 1000)
		// Appending to a prefix.
		out, iv, salt, mac, err := k.SealTo([]byte("hdr:"), PurposeData, pt, nil)
		if err != nil || string(out[:4]) != "hdr:" || len(out) != 4+len(pt) {
			t.Fatalf("SealTo: %v", err)
		}
		back, err := k.OpenTo([]byte("pfx"), PurposeData, out[4:], iv, salt, mac, nil)
		if err != nil || string(back[:3]) != "pfx" || !bytes.Equal(back[3:], pt) {
			t.Fatalf("OpenTo: %v", err)
		}
		// In place, with room for the tag scratch space.
		buf := make([]byte, len(pt), len(pt)+MACLen)
		copy(buf, pt)
		ct, iv, salt, mac, err := k.SealTo(buf[:0], PurposeData, buf, nil)
		if err != nil || &ct[0] != &buf[0] {
			t.Fatalf("in-place SealTo did not reuse the buffer: %v", err)
		}
		got, err := k.OpenTo(ct[:0], PurposeData, ct, iv, salt, mac, nil)
		if err != nil || !bytes.Equal(got, pt) || &got[0] != &buf[0] {
			t.Fatalf("in-place OpenTo: %v", err)
		}
		// Failure leaves no plaintext in the destination.
		ct, iv, salt, mac, _ = k.Seal(PurposeData, pt, nil)
		mac[0] ^= 1
		dst := make([]byte, 0, len(pt)+MACLen)
		if _, err := k.OpenTo(dst, PurposeData, ct, iv, salt, mac, nil); !errors.Is(err, ErrAuth) {
			t.Fatal("tampered mac accepted")
		}
		if bytes.Contains(dst[:len(pt)], pt[:64]) {
			t.Fatal("plaintext left in dst after a failed OpenTo")
		}
	}
}

func TestSealToAllocs(t *testing.T) {
	k := newKey(t, AES256GCM)
	pt := make([]byte, 128<<10)
	dst := make([]byte, 0, len(pt)+MACLen)
	out := make([]byte, 0, len(pt)+MACLen)
	ct, iv, salt, mac, _ := k.SealTo(dst, PurposeData, pt, nil)
	k.OpenTo(out, PurposeData, ct, iv, salt, mac, nil) // warm the cache
	if n := testing.AllocsPerRun(50, func() {
		k.SealTo(dst, PurposeData, pt, nil)
	}); n > 0 {
		t.Errorf("SealTo allocates %.1f times per call", n)
	}
	if n := testing.AllocsPerRun(50, func() {
		k.OpenTo(out, PurposeData, ct, iv, salt, mac, nil)
	}); n > 0 {
		t.Errorf("OpenTo allocates %.1f times per call", n)
	}
}

func TestIVsAreUnique(t *testing.T) {
	t.Parallel()
	k := newKey(t, AES128GCM)
	seen := map[[IVLen]byte]bool{}
	for range 10000 {
		_, iv, _, _, err := k.Seal(PurposeData, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if seen[iv] || allZero(iv[:]) {
			t.Fatalf("repeated or zero IV %x", iv)
		}
		seen[iv] = true
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }

func TestZeroIVRejected(t *testing.T) {
	t.Parallel()
	k, err := newDatasetKey(AES256GCM, keyOptions{master: katMaster(), guid: 1, rand: zeroReader{}})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, _, _, err := k.Seal(PurposeData, []byte("x"), nil); err == nil {
		t.Fatal("Seal accepted an all-zero IV from the random source")
	}
	if _, err := Wrap(katWrapKey, k, nil); err == nil {
		t.Fatal("Wrap accepted an all-zero IV")
	}
}

func TestSaltRotation(t *testing.T) {
	t.Parallel()
	if SaltRotateAfter != 1<<20 {
		t.Fatal("SaltRotateAfter changed")
	}
	k, err := newDatasetKey(AES256CCM, keyOptions{saltLimit: 5})
	if err != nil {
		t.Fatal(err)
	}
	var blocks []sealed
	salts := map[[SaltLen]byte]int{}
	for i := range 23 {
		b := seal(t, k, Purpose(1+i%2), []byte(fmt.Sprint("block ", i)), nil)
		blocks = append(blocks, b)
		salts[b.salt]++
	}
	if len(salts) != 5 {
		t.Fatalf("23 seals with limit 5 used %d salts, want 5", len(salts))
	}
	for s, n := range salts {
		if n > 5 {
			t.Fatalf("salt %x used %d times", s, n)
		}
	}
	// Old salts still open, even after the cache was emptied.
	k.cacheMu.Lock()
	clear(k.aeads)
	k.cacheMu.Unlock()
	for i, b := range blocks {
		if got, err := b.open(k); err != nil || string(got) != fmt.Sprint("block ", i) {
			t.Fatalf("block %d: %v", i, err)
		}
	}
}

func TestAEADCacheBounded(t *testing.T) {
	t.Parallel()
	k := newKey(t, AES128GCM)
	b := seal(t, k, PurposeData, []byte("x"), nil)
	for i := range 3 * maxCachedAEADs {
		var salt [SaltLen]byte
		salt[0], salt[1] = byte(i), byte(i>>8)
		k.Open(PurposeData, b.ct, b.iv, salt, b.mac, nil)
	}
	n := 0
	k.cacheMu.RLock()
	n = len(k.aeads)
	k.cacheMu.RUnlock()
	if n > maxCachedAEADs {
		t.Fatalf("cache holds %d AEADs", n)
	}
	if _, err := b.open(k); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentSealOpen(t *testing.T) {
	t.Parallel()
	k, err := newDatasetKey(AES256GCM, keyOptions{saltLimit: 50})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				pt := []byte(fmt.Sprint(g, "/", i))
				ad := []byte{byte(g), byte(i)}
				ct, iv, salt, mac, err := k.Seal(PurposeData, pt, ad)
				if err != nil {
					errs <- err
					return
				}
				got, err := k.Open(PurposeData, ct, iv, salt, mac, ad)
				if err != nil || !bytes.Equal(got, pt) {
					errs <- fmt.Errorf("open: %v", err)
					return
				}
				m := k.MAC(pt)
				if !k.VerifyMAC(m, pt) {
					errs <- fmt.Errorf("mac")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestMAC(t *testing.T) {
	t.Parallel()
	k := newKey(t, AES256GCM)
	m := k.MAC([]byte("ab"), []byte("c"))
	if m == k.MAC([]byte("a"), []byte("bc")) || m == k.MAC([]byte("abc")) {
		t.Fatal("MAC does not frame its parts")
	}
	if m != k.MAC([]byte("ab"), []byte("c")) {
		t.Fatal("MAC not deterministic")
	}
	if !k.VerifyMAC(m, []byte("ab"), []byte("c")) || k.VerifyMAC(m, []byte("ab"), []byte("d")) {
		t.Fatal("VerifyMAC wrong")
	}
	if m == newKey(t, AES256GCM).MAC([]byte("ab"), []byte("c")) {
		t.Fatal("MAC independent of key")
	}
	// MAC key is separate from the data keys and from the master.
	k2 := katKey(t, AES256GCM)
	if bytes.Equal(k2.macKey, k2.master) || fmt.Sprintf("%x", []byte(k2.macKey)) == katSubKeys["aes-256-gcm/data"] {
		t.Fatal("mac key not separated")
	}
}

func TestWipe(t *testing.T) {
	t.Parallel()
	k := newKey(t, AES256GCM)
	master := k.master
	b := seal(t, k, PurposeData, []byte("x"), nil)
	k.MAC([]byte("warm the pool"))
	k.Wipe()
	k.Wipe() // idempotent
	if !allZero(master) {
		t.Fatal("master key not zeroed")
	}
	if _, _, _, _, err := k.Seal(PurposeData, []byte("x"), nil); !errors.Is(err, ErrKeyWiped) {
		t.Fatalf("Seal after Wipe: %v", err)
	}
	if _, err := b.open(k); !errors.Is(err, ErrKeyWiped) {
		t.Fatalf("Open after Wipe: %v", err)
	}
	if _, err := Wrap(katWrapKey, k, nil); !errors.Is(err, ErrKeyWiped) {
		t.Fatalf("Wrap after Wipe: %v", err)
	}
	if k.VerifyMAC([MACLen]byte{}, []byte("x")) {
		t.Fatal("VerifyMAC after Wipe")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("MAC after Wipe did not panic")
		}
	}()
	k.MAC([]byte("x"))
}

func TestBlockSizeLimit(t *testing.T) {
	t.Parallel()
	if MaxBlockSize(AES128CCM) != 1<<24-1 || MaxBlockSize(Off) != 0 {
		t.Fatal("MaxBlockSize")
	}
	k := newKey(t, AES128CCM)
	big := make([]byte, 1<<24)
	if _, _, _, _, err := k.Seal(PurposeData, big, nil); err == nil {
		t.Fatal("CCM Seal of 16 MiB succeeded")
	}
	ct, iv, salt, mac, err := k.Seal(PurposeData, big[:1<<24-1], nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.Open(PurposeData, ct, iv, salt, mac, nil); err != nil {
		t.Fatal(err)
	}
}

func TestDatasetKeyDoesNotPrint(t *testing.T) {
	t.Parallel()
	k := katKey(t, AES256GCM)
	for _, f := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q", "%d"} {
		out := fmt.Sprintf(f, k)
		if bytes.Contains([]byte(out), []byte("[0 1 2 3")) || bytes.Contains([]byte(out), []byte("000102030405")) {
			t.Errorf("%s leaks key material: %s", f, out)
		}
		if out != "DatasetKey(aes-256-gcm, guid=0123456789abcdef)" {
			t.Errorf("%s = %q", f, out)
		}
	}
}

// TestWipeWhileInUse: concurrent users of a key being wiped see either
// success or ErrKeyWiped, never another error, a race or a panic, and nothing
// works after Wipe returns.
func TestWipeWhileInUse(t *testing.T) {
	t.Parallel()
	k, err := newDatasetKey(AES128CCM, keyOptions{saltLimit: 3})
	if err != nil {
		t.Fatal(err)
	}
	b := seal(t, k, PurposeData, []byte("x"), nil)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 300 {
				if _, _, _, _, err := k.Seal(PurposeBonus, []byte("y"), nil); err != nil && !errors.Is(err, ErrKeyWiped) {
					errs <- err
					return
				}
				if _, err := b.open(k); err != nil && !errors.Is(err, ErrKeyWiped) {
					errs <- err
					return
				}
				k.VerifyMAC([MACLen]byte{}, []byte("z"))
			}
		}()
	}
	k.Wipe()
	if _, err := b.open(k); !errors.Is(err, ErrKeyWiped) {
		t.Errorf("Open after Wipe: %v", err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
