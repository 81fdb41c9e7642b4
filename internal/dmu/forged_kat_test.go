package dmu

import (
	"bytes"
	"path/filepath"
	"testing"

	"coffer/internal/compress"
	"coffer/internal/crypto"
	"coffer/internal/format"
	"coffer/internal/pool"
)

// TestOpenRefusesUnauthenticatedObjset: the pointer to a dataset's object
// set lives in the MOS, which is not authenticated. An attacker with write
// access to the vdevs can point an encrypted dataset at an object set of
// their own making: plaintext blocks without FlagEncrypted/FlagMAC and a
// header that names the victim's key GUID. Opening it with the key must fail
// (every block of an encrypted object set is authenticated), never return
// the attacker's plaintext as the dataset's contents (SPEC §3).
func TestOpenRefusesUnauthenticatedObjset(t *testing.T) {
	dir := t.TempDir()
	p, err := pool.Create("tank", []pool.VdevSpec{{Paths: []string{filepath.Join(dir, "v0")}}}, false, []byte("{}"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	key, err := crypto.NewDatasetKey(crypto.AES256GCM)
	if err != nil {
		t.Fatal(err)
	}
	defer key.Wipe()

	// The attacker's object set: unencrypted, then relabelled with the key GUID.
	evil := Create(p, Options{Kind: format.ObjsetFilesystem, Compress: compress.LZ4})
	o, err := evil.NewObject(format.ObjectPlain, 128<<10, 2)
	if err != nil {
		t.Fatal(err)
	}
	payload := []byte("attacker-chosen plaintext")
	if err := o.Write(payload, 0); err != nil {
		t.Fatal(err)
	}
	if err := o.SetBonus([]byte("mode=04755 uid=0")); err != nil {
		t.Fatal(err)
	}
	root, err := evil.Sync(2)
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.ReadBlock(&root, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var hdr format.Objset
	if err := hdr.Decode(b); err != nil {
		t.Fatal(err)
	}
	hdr.KeyGUID, hdr.Crypt = key.GUID(), uint8(key.Suite())
	forged, err := p.WriteBlock(2, pool.BlockSpec{Type: format.TypeObjset, Compress: compress.LZ4}, hdr.Encode())
	if err != nil {
		t.Fatal(err)
	}

	os, err := Open(p, forged, Options{Key: key})
	if err != nil {
		return // refused: fixed
	}
	obj, err := os.Object(1)
	if err != nil {
		return
	}
	got := make([]byte, len(payload))
	if err := obj.Read(got, 0); err == nil && bytes.Equal(got, payload) {
		t.Errorf("encrypted object set opened with its key returned unauthenticated plaintext %q", got)
	}
	if bonus, err := obj.Bonus(); err == nil {
		t.Errorf("encrypted object set returned an unauthenticated bonus %q", bonus)
	}
}
