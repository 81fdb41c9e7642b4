package crypto

import (
	"bytes"
	"strings"
	"testing"
)

func TestNewKDFParams(t *testing.T) {
	t.Parallel()
	p, err := NewKDFParams(KDFPBKDF2, 0)
	if err != nil || p.Iters != DefaultPBKDF2Iters || len(p.Salt) != KDFSaltLen || p.MemoryKiB != 0 || p.Threads != 0 {
		t.Fatalf("pbkdf2 default: %+v %v", p, err)
	}
	p2, _ := NewKDFParams(KDFPBKDF2, 0)
	if bytes.Equal(p.Salt, p2.Salt) {
		t.Fatal("salt not random")
	}
	if p, err := NewKDFParams(KDFPBKDF2, 200000); err != nil || p.Iters != 200000 {
		t.Fatal("pbkdf2 explicit")
	}
	if _, err := NewKDFParams(KDFPBKDF2, 99999); err == nil || err.Error() != "invalid pbkdf2iters 99999: must be at least 100000" {
		t.Fatalf("pbkdf2 99999: %v", err)
	}
	a, err := NewKDFParams(KDFArgon2id, 0)
	if err != nil || a.Iters != 3 || a.MemoryKiB != 64*1024 || a.Threads != 4 || len(a.Salt) != 16 {
		t.Fatalf("argon2 default: %+v %v", a, err)
	}
	if a, err := NewKDFParams(KDFArgon2id, 5); err != nil || a.Iters != 5 {
		t.Fatal("argon2 explicit")
	}
	if _, err := NewKDFParams(KDF(0), 0); err == nil {
		t.Fatal("kdf 0 accepted")
	}
	if KDFPBKDF2.String() != "pbkdf2" || KDFArgon2id.String() != "argon2id" || KDF(9).String() != "kdf(9)" {
		t.Fatal("KDF names")
	}
}

func TestValidateKDFParams(t *testing.T) {
	t.Parallel()
	salt := make([]byte, 16)
	bad := map[string]KDFParams{
		"unknown kdf":       {KDF: 3, Salt: salt, Iters: 1},
		"pbkdf2 low":        {KDF: KDFPBKDF2, Salt: salt, Iters: MinPBKDF2Iters - 1},
		"pbkdf2 huge":       {KDF: KDFPBKDF2, Salt: salt, Iters: MaxPBKDF2Iters + 1},
		"pbkdf2 memory":     {KDF: KDFPBKDF2, Salt: salt, Iters: MinPBKDF2Iters, MemoryKiB: 1},
		"short salt":        {KDF: KDFPBKDF2, Salt: salt[:8], Iters: MinPBKDF2Iters},
		"argon2 t=0":        {KDF: KDFArgon2id, Salt: salt, Iters: 0, MemoryKiB: 65536, Threads: 4},
		"argon2 t huge":     {KDF: KDFArgon2id, Salt: salt, Iters: 1000, MemoryKiB: 65536, Threads: 4},
		"argon2 tiny mem":   {KDF: KDFArgon2id, Salt: salt, Iters: 3, MemoryKiB: 64, Threads: 1},
		"argon2 huge mem":   {KDF: KDFArgon2id, Salt: salt, Iters: 3, MemoryKiB: MaxArgon2MemoryKiB + 1, Threads: 4},
		"argon2 no threads": {KDF: KDFArgon2id, Salt: salt, Iters: 3, MemoryKiB: 65536},
	}
	for name, p := range bad {
		if err := ValidateKDFParams(p); err == nil {
			t.Errorf("%s accepted", name)
		} else if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: multi-line error", name)
		}
		if _, err := DeriveWrappingKey([]byte("long enough"), p); err == nil {
			t.Errorf("%s: DeriveWrappingKey accepted", name)
		}
	}
	if err := ValidateKDFParams(KDFParams{KDF: KDFPBKDF2, Salt: salt, Iters: DefaultPBKDF2Iters}); err != nil {
		t.Error(err)
	}
}

func TestDeriveWrappingKeyChecks(t *testing.T) {
	t.Parallel()
	p := KDFParams{KDF: KDFPBKDF2, Salt: katKDFSalt, Iters: MinPBKDF2Iters}
	if _, err := DeriveWrappingKey([]byte("1234567"), p); err == nil || err.Error() != "passphrase too short (min 8 bytes)" {
		t.Errorf("short passphrase: %v", err)
	}
	if _, err := DeriveWrappingKey(bytes.Repeat([]byte("a"), 513), p); err == nil || err.Error() != "passphrase too long (max 512 bytes)" {
		t.Errorf("long passphrase: %v", err)
	}
	if _, err := DeriveWrappingKey([]byte("12345678"), KDFParams{KDF: KDFPBKDF2, Iters: MinPBKDF2Iters}); err == nil {
		t.Error("missing salt accepted")
	}
	// The unchecked path refuses only what the algorithms cannot take.
	for _, q := range []KDFParams{
		{KDF: KDFPBKDF2, Iters: 1},
		{KDF: KDFPBKDF2, Salt: katKDFSalt, Iters: 0},
		{KDF: KDFArgon2id, Salt: katKDFSalt, Iters: 0, MemoryKiB: 64, Threads: 1},
		{KDF: KDFArgon2id, Salt: katKDFSalt, Iters: 1, MemoryKiB: 64, Threads: 0},
		{KDF: KDFArgon2id, Salt: katKDFSalt, Iters: 1, MemoryKiB: 7, Threads: 1},
		{KDF: 0, Salt: katKDFSalt, Iters: 1},
	} {
		if _, err := DeriveWrappingKeyUnchecked([]byte("x"), q); err == nil {
			t.Errorf("unchecked accepted %+v", q)
		}
	}
	// Different passphrases, salts and parameters give different keys.
	base := KDFParams{KDF: KDFPBKDF2, Salt: katKDFSalt, Iters: 10}
	k1, _ := DeriveWrappingKeyUnchecked([]byte("pass one"), base)
	k2, _ := DeriveWrappingKeyUnchecked([]byte("pass two"), base)
	base.Iters = 11
	k3, _ := DeriveWrappingKeyUnchecked([]byte("pass one"), base)
	if k1.Equal(k2) || k1.Equal(k3) || len(k1) != WrappingKeyLen {
		t.Error("KDF inputs not all bound")
	}
}

// TestPassphraseEndToEnd is the load-key flow: passphrase -> wrapping key ->
// unwrap; a wrong passphrase gives ErrWrongKey.
func TestPassphraseEndToEnd(t *testing.T) {
	t.Parallel()
	p := KDFParams{KDF: KDFArgon2id, Salt: katKDFSalt, Iters: 1, MemoryKiB: 64, Threads: 1}
	wk, _ := DeriveWrappingKeyUnchecked([]byte("correct passphrase"), p)
	k := newKey(t, AES256CCM)
	w, err := Wrap(wk, k, nil)
	if err != nil {
		t.Fatal(err)
	}
	wk.Wipe()
	good, _ := DeriveWrappingKeyUnchecked([]byte("correct passphrase"), p)
	if _, err := Unwrap(good, w, nil); err != nil {
		t.Fatal(err)
	}
	bad, _ := DeriveWrappingKeyUnchecked([]byte("wrong passphrase"), p)
	if _, err := Unwrap(bad, w, nil); err != ErrWrongKey {
		t.Fatalf("wrong passphrase: %v", err)
	}
}
