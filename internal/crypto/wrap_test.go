package crypto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func TestWrapUnwrap(t *testing.T) {
	t.Parallel()
	for _, s := range Supported() {
		k := newKey(t, s)
		wk := Secret(bytes.Repeat([]byte{7}, WrappingKeyLen))
		w, err := Wrap(wk, k, []byte("pool"))
		if err != nil {
			t.Fatal(err)
		}
		if w.Suite != s || w.GUID != k.GUID() || len(w.Sealed) != 48 {
			t.Fatalf("wrapped key fields: %+v", w)
		}
		if bytes.Contains(w.Sealed, k.master) {
			t.Fatal("master key in clear")
		}
		k2, err := Unwrap(wk, w, []byte("pool"))
		if err != nil {
			t.Fatal(err)
		}
		if k2.Suite() != s || k2.GUID() != k.GUID() {
			t.Fatal("identity lost")
		}
		// Data sealed before wrapping opens with the unwrapped key, which has
		// its own fresh salt.
		b := seal(t, k, PurposeBonus, []byte("attrs"), []byte("ad"))
		if got, err := b.open(k2); err != nil || string(got) != "attrs" {
			t.Fatalf("unwrapped key cannot read: %v", err)
		}
		if k2.cur.Load().salt == k.cur.Load().salt {
			t.Fatal("unwrap reused the salt")
		}
		if k.MAC([]byte("x")) != k2.MAC([]byte("x")) {
			t.Fatal("MAC differs after unwrap")
		}
		// Rewrapping (change-key) never changes the master key.
		w2, _ := Wrap(Secret(bytes.Repeat([]byte{8}, 32)), k2, []byte("pool"))
		k3, err := Unwrap(Secret(bytes.Repeat([]byte{8}, 32)), w2, []byte("pool"))
		if err != nil || !bytes.Equal(k3.master, k.master) {
			t.Fatal("rewrap changed master")
		}
		if bytes.Equal(w.IV[:], w2.IV[:]) {
			t.Fatal("wrap IV reused")
		}
	}
}

func TestUnwrapRejects(t *testing.T) {
	t.Parallel()
	k := katKey(t, AES256GCM)
	w, err := Wrap(katWrapKey, k, katWrapAD)
	if err != nil {
		t.Fatal(err)
	}
	wrongKey := bytes.Clone(katWrapKey)
	wrongKey[31] ^= 1
	cases := map[string]struct {
		wk   Secret
		w    func(WrappedKey) WrappedKey
		ad   []byte
		want error
	}{
		"wrong key":      {wrongKey, nil, katWrapAD, ErrWrongKey},
		"wrong ad":       {katWrapKey, nil, []byte("pool 8"), ErrWrongKey},
		"no ad":          {katWrapKey, nil, nil, ErrWrongKey},
		"changed suite":  {katWrapKey, func(w WrappedKey) WrappedKey { w.Suite = AES128GCM; return w }, katWrapAD, ErrWrongKey},
		"changed guid":   {katWrapKey, func(w WrappedKey) WrappedKey { w.GUID++; return w }, katWrapAD, ErrWrongKey},
		"changed iv":     {katWrapKey, func(w WrappedKey) WrappedKey { w.IV[0] ^= 1; return w }, katWrapAD, ErrWrongKey},
		"flipped sealed": {katWrapKey, func(w WrappedKey) WrappedKey { w.Sealed = bytes.Clone(w.Sealed); w.Sealed[0] ^= 1; return w }, katWrapAD, ErrWrongKey},
		"flipped tag":    {katWrapKey, func(w WrappedKey) WrappedKey { w.Sealed = bytes.Clone(w.Sealed); w.Sealed[47] ^= 1; return w }, katWrapAD, ErrWrongKey},
		"truncated":      {katWrapKey, func(w WrappedKey) WrappedKey { w.Sealed = w.Sealed[:47]; return w }, katWrapAD, ErrMalformedKey},
		"suite off":      {katWrapKey, func(w WrappedKey) WrappedKey { w.Suite = Off; return w }, katWrapAD, ErrMalformedKey},
		"unknown suite":  {katWrapKey, func(w WrappedKey) WrappedKey { w.Suite = 42; return w }, katWrapAD, ErrMalformedKey},
		"zero guid":      {katWrapKey, func(w WrappedKey) WrappedKey { w.GUID = 0; return w }, katWrapAD, ErrMalformedKey},
		"short wk":       {katWrapKey[:16], nil, katWrapAD, nil},
	}
	for name, c := range cases {
		ww := w
		if c.w != nil {
			ww = c.w(w)
		}
		k2, err := Unwrap(c.wk, ww, c.ad)
		if err == nil || k2 != nil {
			t.Errorf("%s: unwrapped", name)
			continue
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", name, err, c.want)
		}
	}
	if _, err := Wrap(katWrapKey[:31], k, nil); err == nil {
		t.Error("Wrap with a 31-byte key")
	}
}

func TestWrappedKeyEncoding(t *testing.T) {
	t.Parallel()
	good := unhex(t, katWrapped["aes-256-gcm"])
	if len(good) != 76 || string(good[:4]) != "CFWK" || good[4] != 1 {
		t.Fatal("layout")
	}
	var w WrappedKey
	if err := w.UnmarshalBinary(good); err != nil {
		t.Fatal(err)
	}
	again, _ := w.MarshalBinary()
	if !bytes.Equal(again, good) {
		t.Fatal("re-encoding differs")
	}
	good[30] ^= 0xff
	if w.Sealed[2] == good[30] {
		t.Fatal("UnmarshalBinary retained its input")
	}
	good[30] ^= 0xff
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	bad := map[string][]byte{
		"empty":        nil,
		"header only":  good[:28],
		"truncated":    good[:75],
		"extended":     append(bytes.Clone(good), 0),
		"magic":        mut(func(b []byte) []byte { b[0] = 'X'; return b }),
		"version 0":    mut(func(b []byte) []byte { b[4] = 0; return b }),
		"version 2":    mut(func(b []byte) []byte { b[4] = 2; return b }),
		"suite off":    mut(func(b []byte) []byte { b[5] = 0; return b }),
		"suite 7":      mut(func(b []byte) []byte { b[5] = 7; return b }),
		"zero guid":    mut(func(b []byte) []byte { clear(b[6:14]); return b }),
		"sealed len":   mut(func(b []byte) []byte { binary.BigEndian.PutUint16(b[26:], 47); return b[:75] }),
		"sealed len 2": mut(func(b []byte) []byte { binary.BigEndian.PutUint16(b[26:], 0xffff); return b }),
	}
	for name, b := range bad {
		w2 := WrappedKey{GUID: 99}
		if err := w2.UnmarshalBinary(b); !errors.Is(err, ErrMalformedKey) {
			t.Errorf("%s: err = %v", name, err)
		}
		if w2.GUID != 99 {
			t.Errorf("%s: failed UnmarshalBinary modified the receiver", name)
		}
	}
	if _, err := (WrappedKey{Suite: AES256GCM, GUID: 1, Sealed: make([]byte, 10)}).MarshalBinary(); err == nil {
		t.Error("marshalled an invalid key")
	}
}
