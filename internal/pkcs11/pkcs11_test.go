package pkcs11

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"

	p11 "github.com/miekg/pkcs11"
)

// These tests run against a real SoftHSM2 token (softhsm_test.go).

var mechs = []struct {
	name string
	mech byte
}{{"gcm", mechGCM}, {"kwp", mechKWP}}

// checkErr fails unless err is one line without the PIN, naming the
// token and the object.
func checkErr(t *testing.T, err error, u URI, pins ...string) {
	t.Helper()
	if err == nil {
		t.Fatal("want an error")
	}
	msg := err.Error()
	if strings.ContainsAny(msg, "\r\n") {
		t.Errorf("error is not one line: %q", msg)
	}
	for _, p := range append(pins, string(u.PIN)) {
		if p != "" && strings.Contains(msg, p) {
			t.Errorf("error carries the PIN: %q", msg)
		}
	}
	if !strings.Contains(msg, fmt.Sprintf("token %q", u.Token)) || !strings.Contains(msg, u.Object) {
		t.Errorf("error does not name token and object: %q", msg)
	}
}

func TestSoftHSMRoundTrip(t *testing.T) {
	m := newSoftHSM(t, "coffer")
	ctx := context.Background()
	u := testURI(t, m, "coffer", "coffer-kek")
	if err := GenerateKEK(ctx, u); err != nil {
		t.Fatal(err)
	}
	if err := Available(u); err != nil {
		t.Fatal(err)
	}
	err := GenerateKEK(ctx, u)
	if !errors.Is(err, ErrKeyExists) {
		t.Fatalf("second GenerateKEK: %v, want ErrKeyExists", err)
	}
	checkErr(t, err, u)

	// SoftHSM2 offers CKM_AES_GCM, so it is the default.
	blob, err := WrapSecret(ctx, u, []byte("k"))
	if err != nil {
		t.Fatal(err)
	}
	if blob[5] != mechGCM {
		t.Fatalf("default mechanism %s, want CKM_AES_GCM", mechName(blob[5]))
	}
	for _, mc := range mechs {
		for _, n := range []int{1, 7, 8, 32, 33, 64, MaxSecret} {
			secret := bytes.Repeat([]byte{byte(n)}, n)
			secret[0] = 0xA5
			b1, err := wrapSecret(ctx, u, secret, mc.mech)
			if err != nil {
				t.Fatalf("%s %d: %v", mc.name, n, err)
			}
			if bytes.Contains(b1, secret) && n > 4 {
				t.Fatalf("%s %d: blob contains the secret", mc.name, n)
			}
			got, err := UnwrapSecret(ctx, u, b1)
			if err != nil || !bytes.Equal(got, secret) {
				t.Fatalf("%s %d: unwrap = %x, %v", mc.name, n, got, err)
			}
			if mc.mech == mechGCM {
				b2, err := wrapSecret(ctx, u, secret, mc.mech)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Equal(b1, b2) {
					t.Fatalf("two GCM wraps are equal: IVs repeat")
				}
			}
		}
	}
	for _, n := range []int{0, MaxSecret + 1} {
		if _, err := WrapSecret(ctx, u, make([]byte, n)); err == nil {
			t.Errorf("WrapSecret of %d bytes succeeded", n)
		}
	}
}

func TestSoftHSMKeyNotExtractable(t *testing.T) {
	m := newSoftHSM(t, "coffer")
	ctx := context.Background()
	u := testURI(t, m, "coffer", "coffer-kek")
	if err := GenerateKEK(ctx, u); err != nil {
		t.Fatal(err)
	}
	err := withSession(ctx, u, true, func(s *session) error {
		k, err := s.key()
		if err != nil {
			return err
		}
		_, err = s.c.GetAttributeValue(s.h, k, []*p11.Attribute{p11.NewAttribute(p11.CKA_VALUE, nil)})
		if !errors.Is(err, p11.Error(p11.CKR_ATTRIBUTE_SENSITIVE)) {
			t.Errorf("C_GetAttributeValue(CKA_VALUE) = %v, want CKR_ATTRIBUTE_SENSITIVE", err)
		}
		got, err := s.c.GetAttributeValue(s.h, k, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_TOKEN, nil),
			p11.NewAttribute(p11.CKA_PRIVATE, nil),
			p11.NewAttribute(p11.CKA_SENSITIVE, nil),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, nil),
			p11.NewAttribute(p11.CKA_ALWAYS_SENSITIVE, nil),
			p11.NewAttribute(p11.CKA_NEVER_EXTRACTABLE, nil),
			p11.NewAttribute(p11.CKA_VALUE_LEN, nil),
		})
		if err != nil {
			return err
		}
		want := []bool{true, true, true, false, true, true}
		for i, w := range want {
			if v := len(got[i].Value) == 1 && got[i].Value[0] != 0; v != w {
				t.Errorf("attribute %#x = %v, want %v", got[i].Type, v, w)
			}
		}
		if n := ulong(got[6].Value); n != 32 {
			t.Errorf("CKA_VALUE_LEN = %d, want 32", n)
		}
		// Nor can it be wrapped out under another key.
		wk, err := s.c.GenerateKey(s.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
			p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
			p11.NewAttribute(p11.CKA_VALUE_LEN, 32),
			p11.NewAttribute(p11.CKA_TOKEN, false),
			p11.NewAttribute(p11.CKA_WRAP, true),
		})
		if err != nil {
			return err
		}
		if _, err := s.c.WrapKey(s.h, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_WRAP_PAD, nil)}, wk, k); !errors.Is(err, p11.Error(p11.CKR_KEY_UNEXTRACTABLE)) {
			t.Errorf("C_WrapKey(KEK) = %v, want CKR_KEY_UNEXTRACTABLE", err)
		}
		// And the one-way attributes cannot be turned back.
		for _, a := range []*p11.Attribute{p11.NewAttribute(p11.CKA_EXTRACTABLE, true), p11.NewAttribute(p11.CKA_SENSITIVE, false)} {
			if err := s.c.SetAttributeValue(s.h, k, []*p11.Attribute{a}); err == nil {
				t.Errorf("C_SetAttributeValue(%#x) succeeded", a.Type)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestSoftHSMLoginErrors(t *testing.T) {
	m := newSoftHSM(t, "coffer")
	ctx := context.Background()
	u := testURI(t, m, "coffer", "coffer-kek")
	if err := GenerateKEK(ctx, u); err != nil {
		t.Fatal(err)
	}
	blob, err := WrapSecret(ctx, u, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	bad := u
	bad.PIN = []byte("98765")
	_, err = UnwrapSecret(ctx, bad, blob)
	if !errors.Is(err, ErrWrongPIN) {
		t.Fatalf("wrong PIN: %v, want ErrWrongPIN", err)
	}
	checkErr(t, err, bad, testPIN)
	t.Logf("wrong PIN: %v", err)
	if err := Available(bad); !errors.Is(err, ErrWrongPIN) {
		t.Errorf("Available with wrong PIN: %v", err)
	}

	none := u
	none.PIN = nil
	_, err = UnwrapSecret(ctx, none, blob)
	if !errors.Is(err, ErrNoPIN) {
		t.Fatalf("no PIN: %v, want ErrNoPIN", err)
	}
	checkErr(t, err, none, testPIN)

	for _, c := range []struct {
		name string
		edit func(*URI)
		want error
	}{
		{"no token", func(u *URI) { u.Token = "nosuch" }, ErrNoToken},
		{"no key", func(u *URI) { u.Object = "nosuch" }, ErrNoKey},
		{"no key id", func(u *URI) { u.ID = []byte{1, 2} }, ErrNoKey},
		{"no module", func(u *URI) { u.ModulePath = "/nonexistent/lib.so" }, nil},
	} {
		v := u
		c.edit(&v)
		err := Available(v)
		if err == nil || (c.want != nil && !errors.Is(err, c.want)) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
			continue
		}
		checkErr(t, err, v)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := UnwrapSecret(cctx, u, blob); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestSoftHSMPINSource(t *testing.T) {
	m := newSoftHSM(t, "coffer")
	pinFile := t.TempDir() + "/pin"
	if err := os.WriteFile(pinFile, []byte(testPIN+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	u, err := ParseURI("pkcs11:token=coffer;object=coffer-kek?module-path=" + m + "&pin-source=file://" + pinFile)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := GenerateKEK(ctx, u); err != nil {
		t.Fatal(err)
	}
	stored := u.String()
	if strings.Contains(stored, testPIN) {
		t.Fatalf("stored URI carries the PIN: %s", stored)
	}
	blob, err := WrapSecret(ctx, u, []byte("secret"))
	if err != nil {
		t.Fatal(err)
	}
	// What the host stores is enough to unwrap again.
	u2, err := ParseURI(stored)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := UnwrapSecret(ctx, u2, blob); err != nil || string(got) != "secret" {
		t.Fatalf("unwrap with stored URI: %q, %v", got, err)
	}
}

// A KEK on another token, or another KEK on the same token, is told from
// a damaged blob.
func TestSoftHSMWrongKey(t *testing.T) {
	m := newSoftHSM(t, "coffer", "other")
	ctx := context.Background()
	u := testURI(t, m, "coffer", "coffer-kek")
	sameLabelOtherToken := testURI(t, m, "other", "coffer-kek")
	otherObject := testURI(t, m, "coffer", "coffer-kek-2")
	for _, v := range []URI{u, sameLabelOtherToken, otherObject} {
		if err := GenerateKEK(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, mc := range mechs {
		blob, err := wrapSecret(ctx, u, []byte("the dataset key"), mc.mech)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range []URI{sameLabelOtherToken, otherObject} {
			_, err := UnwrapSecret(ctx, w, blob)
			if !errors.Is(err, ErrWrongKey) || errors.Is(err, ErrDamaged) {
				t.Fatalf("%s, %s: %v, want ErrWrongKey", mc.name, w, err)
			}
			checkErr(t, err, w)
			t.Logf("%s: %v", mc.name, err)
		}
	}
}

func TestSoftHSMDamaged(t *testing.T) {
	m := newSoftHSM(t, "coffer")
	ctx := context.Background()
	u := testURI(t, m, "coffer", "coffer-kek")
	if err := GenerateKEK(ctx, u); err != nil {
		t.Fatal(err)
	}
	for _, mc := range mechs {
		blob, err := wrapSecret(ctx, u, []byte("the dataset key"), mc.mech)
		if err != nil {
			t.Fatal(err)
		}
		expect := func(what string, b []byte, want error) {
			t.Helper()
			_, err := UnwrapSecret(ctx, u, b)
			if !errors.Is(err, want) {
				t.Fatalf("%s %s: %v, want %v", mc.name, what, err, want)
			}
			checkErr(t, err, u)
		}
		for i := range blob {
			b := bytes.Clone(blob)
			b[i] ^= 0x10
			expect(fmt.Sprintf("flip byte %d", i), b, ErrDamaged)
		}
		for n := range len(blob) {
			expect(fmt.Sprintf("truncate to %d", n), blob[:n], ErrDamaged)
		}
		expect("appended byte", append(bytes.Clone(blob), 0), ErrDamaged)

		// Deliberate tampering that fixes up the checksum: a changed
		// secret is still "damaged"; a changed verifier cannot be told
		// from another key's.
		p, err := parseBlob(blob)
		if err != nil {
			t.Fatal(err)
		}
		for i := range p.wrapped {
			q := p
			q.wrapped = bytes.Clone(p.wrapped)
			q.wrapped[i] ^= 1
			expect(fmt.Sprintf("resummed secret byte %d", i), q.marshal(), ErrDamaged)
		}
		q := p
		q.verifier = bytes.Clone(p.verifier)
		q.verifier[len(q.verifier)-1] ^= 1
		expect("resummed verifier", q.marshal(), ErrWrongKey)
		if mc.mech == mechGCM {
			// The secret is bound to the verifier (associated data): a
			// verifier from another blob of the same key does not fit.
			other, err := wrapSecret(ctx, u, []byte("x"), mechGCM)
			if err != nil {
				t.Fatal(err)
			}
			o, _ := parseBlob(other)
			q := p
			q.verifier = o.verifier
			expect("spliced verifier", q.marshal(), ErrDamaged)
		}
	}
}

// The KEK is a token object: it outlives the module being finalized and
// unloaded, and another process opens the blob with it.
func TestSoftHSMPersistent(t *testing.T) {
	m := newSoftHSM(t, "coffer")
	ctx := context.Background()
	u := testURI(t, m, "coffer", "coffer-kek")
	if err := GenerateKEK(ctx, u); err != nil {
		t.Fatal(err)
	}
	blob, err := WrapSecret(ctx, u, []byte("persistent secret"))
	if err != nil {
		t.Fatal(err)
	}
	modules.Lock()
	loaded := len(modules.m)
	modules.Unlock()
	if loaded != 0 {
		t.Fatalf("%d modules loaded between calls, want 0", loaded)
	}
	got, err := UnwrapSecret(ctx, u, blob)
	if err != nil || string(got) != "persistent secret" {
		t.Fatalf("unwrap after reloading the module: %q, %v", got, err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildUnwrap$", "-test.v")
	cmd.Env = append(os.Environ(),
		"COFFER_PKCS11_CHILD_URI="+u.String()+"&pin-value="+testPIN,
		"COFFER_PKCS11_CHILD_BLOB="+hex.EncodeToString(blob))
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "child secret: persistent secret") {
		t.Fatalf("unwrap in a new process: %v\n%s", err, out)
	}
}

// TestChildUnwrap is the other process of TestSoftHSMPersistent; run
// alone it has nothing to do.
func TestChildUnwrap(t *testing.T) {
	uri := os.Getenv("COFFER_PKCS11_CHILD_URI")
	if uri == "" {
		return
	}
	u, err := ParseURI(uri)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := hex.DecodeString(os.Getenv("COFFER_PKCS11_CHILD_BLOB"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := UnwrapSecret(context.Background(), u, blob)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("child secret: %s", got)
}

func TestSoftHSMConcurrent(t *testing.T) {
	m := newSoftHSM(t, "coffer")
	ctx := context.Background()
	u := testURI(t, m, "coffer", "coffer-kek")
	if err := GenerateKEK(ctx, u); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			secret := []byte(fmt.Sprintf("secret %d", i))
			b, err := WrapSecret(ctx, u, secret)
			if err == nil {
				var got []byte
				got, err = UnwrapSecret(ctx, u, b)
				if err == nil && !bytes.Equal(got, secret) {
					err = fmt.Errorf("got %q", got)
				}
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// goldenKey, goldenSecret and goldenBlob freeze the v1 GCM blob format:
// changing goldenBlobHex means stored blobs no longer open.
var (
	goldenKey    = []byte("0123456789abcdef0123456789abcdef")
	goldenSecret = []byte("coffer golden secret")
)

const goldenBlobHex = "43504b570101002c0101010101010101010101015d7bab585a144976cee10c13632c764819956611f10b2674a251e710c82cc53200000030020202020202020202020202ab63e09a9b2f544c3ac141bce1cb8d99771d7adecb5ee2273855adb9a82d5575b69fa6ec845bc0ef7c624db586d0d28e6dcddd22"

// stdGCMBlob builds a GCM blob with the standard library, as the token
// should.
func stdGCMBlob(t *testing.T, key, vIV, iv, secret []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	b := blob{mech: mechGCM}
	b.verifier = aead.Seal(bytes.Clone(vIV), vIV, verifierPlain, verifierAAD)
	b.wrapped = aead.Seal(bytes.Clone(iv), iv, secret, b.secretAAD())
	return b.marshal()
}

// stdGCMOpen opens a GCM blob with the standard library.
func stdGCMOpen(t *testing.T, key, blobBytes []byte) []byte {
	t.Helper()
	b, err := parseBlob(blobBytes)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(key)
	aead, _ := cipher.NewGCM(block)
	v, err := aead.Open(nil, b.verifier[:gcmIVLen], b.verifier[gcmIVLen:], verifierAAD)
	if err != nil || !bytes.Equal(v, verifierPlain) {
		t.Fatalf("standard library rejects the token's verifier: %v", err)
	}
	s, err := aead.Open(nil, b.wrapped[:gcmIVLen], b.wrapped[gcmIVLen:], b.secretAAD())
	if err != nil {
		t.Fatalf("standard library rejects the token's ciphertext: %v", err)
	}
	return s
}

// importKEK puts a known AES key into the token, as non-extractable as a
// generated one (tests only: a real KEK is generated in the token).
func importKEK(t *testing.T, u URI, key []byte) {
	t.Helper()
	err := withSession(context.Background(), u, true, func(s *session) error {
		_, err := s.c.CreateObject(s.h, []*p11.Attribute{
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
			p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_PRIVATE, true),
			p11.NewAttribute(p11.CKA_SENSITIVE, true),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
			p11.NewAttribute(p11.CKA_ENCRYPT, true),
			p11.NewAttribute(p11.CKA_DECRYPT, true),
			p11.NewAttribute(p11.CKA_WRAP, true),
			p11.NewAttribute(p11.CKA_UNWRAP, true),
			p11.NewAttribute(p11.CKA_LABEL, u.Object),
			p11.NewAttribute(p11.CKA_VALUE, key),
		})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

// The token's AES-GCM is the standard library's, both ways, and the frozen
// v1 blob opens.
func TestSoftHSMGoldenGCM(t *testing.T) {
	m := newSoftHSM(t, "coffer")
	ctx := context.Background()
	u := testURI(t, m, "coffer", "golden")
	importKEK(t, u, goldenKey)

	golden := stdGCMBlob(t, goldenKey, bytes.Repeat([]byte{1}, 12), bytes.Repeat([]byte{2}, 12), goldenSecret)
	if got := hex.EncodeToString(golden); got != goldenBlobHex {
		t.Errorf("v1 GCM blob changed (this breaks stored blobs):\n got %s\nwant %s", got, goldenBlobHex)
	}
	frozen, _ := hex.DecodeString(goldenBlobHex)
	got, err := UnwrapSecret(ctx, u, frozen)
	if err != nil || !bytes.Equal(got, goldenSecret) {
		t.Fatalf("token opens the frozen blob: %q, %v", got, err)
	}
	blob, err := WrapSecret(ctx, u, goldenSecret)
	if err != nil {
		t.Fatal(err)
	}
	if s := stdGCMOpen(t, goldenKey, blob); !bytes.Equal(s, goldenSecret) {
		t.Fatalf("standard library opens the token's blob to %q", s)
	}
	if n := int(binary.BigEndian.Uint16(blob[6:])); n != gcmIVLen+len(verifierPlain)+gcmTagLen {
		t.Fatalf("verifier length %d", n)
	}
}
