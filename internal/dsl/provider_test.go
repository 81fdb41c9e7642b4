package dsl

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"coffer/internal/pool"
)

// fakeProvider seals by XOR with a pad it keeps; down makes it refuse.
type fakeProvider struct {
	pad    []byte
	down   bool
	opened int
}

func (f *fakeProvider) NewKey(_ context.Context, loc string) ([]byte, []byte, error) {
	if f.down {
		return nil, nil, errors.New("server unreachable\nsecond line")
	}
	k := make([]byte, 32)
	rand.Read(k)
	s := make([]byte, 32)
	for i := range k {
		s[i] = k[i] ^ f.pad[i]
	}
	return k, s, nil
}

func (f *fakeProvider) OpenKey(_ context.Context, loc string, sealed []byte) ([]byte, error) {
	if f.down {
		return nil, errors.New("server unreachable")
	}
	f.opened++
	k := make([]byte, 32)
	for i := range k {
		k[i] = sealed[i] ^ f.pad[i]
	}
	return k, nil
}

func TestKeyProviderRoot(t *testing.T) {
	fp := &fakeProvider{pad: bytes.Repeat([]byte{0xa5}, 32)}
	dir := t.TempDir()
	opts := Options{KeyProvider: fp}
	dp, err := CreatePool("tank", []pool.VdevSpec{{Paths: []string{filepath.Join(dir, "d0")}}}, false, nil, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	raw := map[string]string{"keyformat": "raw", "keylocation": "kmip://127.0.0.1:5696?ca=/c&cert=/c&key=/k"}
	for _, tc := range []struct {
		props map[string]string
		want  string
	}{
		{map[string]string{"keyformat": "hex", "keylocation": "tpm2:"}, "needs keyformat=raw"},
		{map[string]string{"keyformat": "passphrase", "keylocation": "tpm2:"}, "needs keyformat=raw"},
		{map[string]string{"keyformat": "raw", "keylocation": "kmip://127.0.0.1:5696"}, "invalid keylocation"},
		{map[string]string{"keyformat": "raw", "keylocation": "pkcs11:token=t;object=o?pin-value=1234"}, "invalid keylocation"},
		{map[string]string{"keyformat": "raw", "keylocation": "tpm2:?pcrs=24"}, "invalid keylocation"},
	} {
		if err := dp.Create(nil, "tank/x", CreateOpts{Props: tc.props}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v", tc.props, err)
		}
	}
	fp.down = true
	if err := dp.Create(nil, "tank/x", CreateOpts{Props: raw}); err == nil || err.Error() != "cannot create 'tank/x': kmip: server unreachable" {
		t.Fatalf("provider down: %v", err)
	}
	fp.down = false
	if err := dp.Create(nil, "tank/v", CreateOpts{Props: raw, Key: []byte("ignored")}); err != nil {
		t.Fatal(err)
	}
	if err := dp.Create(nil, "tank/v/child", CreateOpts{}); err != nil {
		t.Fatal(err)
	}
	id := writeFile(t, dp, "tank/v/child", []byte("provider data"))
	if _, err := dp.ExportKeys("tank/v", false); err == nil || !strings.Contains(err.Error(), "never exported") {
		t.Fatalf("export: %v", err)
	}
	if ks, err := dp.ExportKeys("tank", true); err != nil || len(ks) != 0 {
		t.Fatalf("export -r: %v %v", ks, err)
	}
	if err := dp.Set("tank/v", map[string]string{"keylocation": "prompt"}); err == nil || !strings.Contains(err.Error(), "change-key") {
		t.Fatalf("set keylocation away from a provider: %v", err)
	}
	if err := dp.LoadKey("tank/v", true, "tpm2:", nil); err == nil || !strings.Contains(err.Error(), "-L") {
		t.Fatalf("-L provider: %v", err)
	}
	// Reimport: the sealed key is in the MOS; the provider opens it.
	dp.Close()
	found, _ := pool.Scan([]string{dir})
	if dp, err = Import(found[0], opts); err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	if r := dp.RootGUIDs()["tank/v"]; r.Location != raw["keylocation"] {
		t.Fatalf("RootGUIDs location %q", r.Location)
	}
	fp.down = true
	if err := dp.LoadKey("tank/v", false, "", nil); err == nil || !strings.Contains(err.Error(), "kmip: server unreachable") {
		t.Fatalf("load with the provider down: %v", err)
	}
	fp.down = false
	if err := dp.LoadKey("tank/v", false, "", nil); err != nil {
		t.Fatal(err)
	}
	if b, err := readFile(dp, "tank/v/child", id, 13); err != nil || string(b) != "provider data" {
		t.Fatalf("read: %q %v", b, err)
	}
	// Another provider's pad opens nothing.
	if err := dp.ChangeKey("tank/v", ChangeKeyOpts{}); err != nil {
		t.Fatal(err)
	}
	dp.UnloadKey("tank/v", false, false)
	fp.pad = bytes.Repeat([]byte{0x11}, 32)
	if err := dp.LoadKey("tank/v", false, "", nil); err == nil || !strings.Contains(err.Error(), "incorrect key") {
		t.Fatalf("wrong provider key: %v", err)
	}
	checked(t, dp)
}

func TestKeyProviderMissing(t *testing.T) {
	dp, _ := newPool(t)
	err := dp.Create(nil, "tank/v", CreateOpts{Props: map[string]string{"keyformat": "raw", "keylocation": "tpm2:"}})
	if err == nil || !strings.Contains(err.Error(), "key providers are not available") {
		t.Fatalf("%v", err)
	}
}

// TestKeyInfoSealedEncoding freezes how a provider root's key info is
// stored in the MOS (docs/design/key-providers.md): the sealed blob is
// base64 under "sealed", absent for other roots.
func TestKeyInfoSealedEncoding(t *testing.T) {
	ki := keyInfo{Format: "raw", Location: "tpm2:?pcrs=7", Sealed: []byte{1, 2, 3, 0xff}}
	b, err := json.Marshal(ki)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"format":"raw","location":"tpm2:?pcrs=7","sealed":"AQID/w=="}`
	if string(b) != want {
		t.Fatalf("encoding\n got %s\nwant %s", b, want)
	}
	var back keyInfo
	if err := json.Unmarshal([]byte(want), &back); err != nil || !bytes.Equal(back.Sealed, ki.Sealed) || back.Location != ki.Location {
		t.Fatalf("decode: %+v %v", back, err)
	}
	// A raw replica of a provider root.
	b, _ = json.Marshal(keyInfo{Format: "raw", Location: "prompt", Sealed: []byte{9}, SealedBy: "kmip://k:5696?ca=/c&cert=/c&key=/k"})
	if string(b) != `{"format":"raw","location":"prompt","sealed":"CQ==","sealed_by":"kmip://k:5696?ca=/c\u0026cert=/c\u0026key=/k"}` {
		t.Fatalf("replica: %s", b)
	}
	b, _ = json.Marshal(keyInfo{Format: "hex", Location: "prompt"})
	if string(b) != `{"format":"hex","location":"prompt"}` {
		t.Fatalf("non-provider root: %s", b)
	}
}

// TestKeyProviderPoolRoot: pool create -O keylocation=PROVIDER makes the
// pool's root dataset a provider root.
func TestKeyProviderPoolRoot(t *testing.T) {
	fp := &fakeProvider{pad: bytes.Repeat([]byte{0x3c}, 32)}
	dir := t.TempDir()
	dp, err := CreatePool("tank", []pool.VdevSpec{{Paths: []string{filepath.Join(dir, "d0")}}}, false,
		map[string]string{"encryption": "on", "keyformat": "raw", "keylocation": "tpm2:"}, nil, Options{KeyProvider: fp})
	if err != nil {
		t.Fatal(err)
	}
	defer dp.Close()
	if get(t, dp, "tank", "keylocation").Stored != "tpm2:" || !dp.KeyLoaded("tank") {
		t.Fatalf("root: %v loaded=%v", get(t, dp, "tank", "keylocation"), dp.KeyLoaded("tank"))
	}
	if _, err := dp.UnloadKey("tank", false, false); err != nil {
		t.Fatal(err)
	}
	if err := dp.LoadKey("tank", false, "", nil); err != nil || fp.opened != 1 {
		t.Fatalf("load: %v opened=%d", err, fp.opened)
	}
}
