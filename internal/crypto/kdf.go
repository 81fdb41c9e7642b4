package crypto

import (
	"crypto/pbkdf2"
	"crypto/sha512"
	"fmt"

	"golang.org/x/crypto/argon2"
)

// KDF identifies the passphrase key-derivation function (stored on disk,
// frozen).
type KDF uint8

const (
	// KDFPBKDF2 is PBKDF2-HMAC-SHA512 (OpenZFS's choice; pbkdf2iters).
	KDFPBKDF2 KDF = 1
	// KDFArgon2id is Argon2id (RFC 9106), version 0x13.
	KDFArgon2id KDF = 2
)

// String returns "pbkdf2", "argon2id" or "kdf(N)".
func (k KDF) String() string {
	switch k {
	case KDFPBKDF2:
		return "pbkdf2"
	case KDFArgon2id:
		return "argon2id"
	}
	return fmt.Sprintf("kdf(%d)", uint8(k))
}

// KDF parameter bounds. Minimums protect users; maximums protect load-key
// from parameters planted in a received stream (CPU/memory exhaustion).
const (
	DefaultPBKDF2Iters = 350000
	MinPBKDF2Iters     = 100000
	MaxPBKDF2Iters     = 100_000_000

	DefaultArgon2Time      = 3
	DefaultArgon2MemoryKiB = 64 * 1024 // 64 MiB
	DefaultArgon2Threads   = 4
	MinArgon2Time          = 1
	MaxArgon2Time          = 64
	MinArgon2MemoryKiB     = 19 * 1024 // OWASP floor for Argon2id
	MaxArgon2MemoryKiB     = 4 << 20   // 4 GiB

	KDFSaltLen = 16

	MinPassphraseLen = 8
	MaxPassphraseLen = 512
)

// KDFParams are the stored (non-secret) parameters of a passphrase KDF.
type KDFParams struct {
	KDF       KDF
	Salt      []byte // KDFSaltLen random bytes
	Iters     uint32 // PBKDF2 iterations, or Argon2 time (passes)
	MemoryKiB uint32 // Argon2 only; 0 for PBKDF2
	Threads   uint8  // Argon2 only; 0 for PBKDF2
}

// NewKDFParams returns parameters with a fresh random salt. iters == 0 picks
// the default (350000 for PBKDF2; t=3 for Argon2id). Argon2id always gets
// m=64 MiB, p=4. The result is validated.
func NewKDFParams(kdf KDF, iters uint32) (KDFParams, error) {
	p := KDFParams{KDF: kdf, Iters: iters}
	switch kdf {
	case KDFPBKDF2:
		if p.Iters == 0 {
			p.Iters = DefaultPBKDF2Iters
		}
	case KDFArgon2id:
		if p.Iters == 0 {
			p.Iters = DefaultArgon2Time
		}
		p.MemoryKiB = DefaultArgon2MemoryKiB
		p.Threads = DefaultArgon2Threads
	}
	if err := ValidateKDFParams(p); err != nil {
		return KDFParams{}, err
	}
	salt, err := RandomBytes(KDFSaltLen)
	if err != nil {
		return KDFParams{}, err
	}
	p.Salt = salt
	return p, nil
}

// ValidateKDFParams checks p against the policy bounds. Error messages are
// one-line and meant for users. A nil Salt is accepted (NewKDFParams fills
// it); otherwise it must be KDFSaltLen bytes.
func ValidateKDFParams(p KDFParams) error {
	if p.Salt != nil && len(p.Salt) != KDFSaltLen {
		return fmt.Errorf("invalid key derivation salt: must be %d bytes, got %d", KDFSaltLen, len(p.Salt))
	}
	switch p.KDF {
	case KDFPBKDF2:
		if p.Iters < MinPBKDF2Iters {
			return fmt.Errorf("invalid pbkdf2iters %d: must be at least %d", p.Iters, MinPBKDF2Iters)
		}
		if p.Iters > MaxPBKDF2Iters {
			return fmt.Errorf("invalid pbkdf2iters %d: must be at most %d", p.Iters, MaxPBKDF2Iters)
		}
		if p.MemoryKiB != 0 || p.Threads != 0 {
			return fmt.Errorf("invalid pbkdf2 parameters: memory and threads must be 0")
		}
	case KDFArgon2id:
		if p.Iters < MinArgon2Time || p.Iters > MaxArgon2Time {
			return fmt.Errorf("invalid argon2id time %d: must be %d to %d", p.Iters, MinArgon2Time, MaxArgon2Time)
		}
		if p.MemoryKiB < MinArgon2MemoryKiB || p.MemoryKiB > MaxArgon2MemoryKiB {
			return fmt.Errorf("invalid argon2id memory %d KiB: must be %d to %d KiB", p.MemoryKiB, MinArgon2MemoryKiB, MaxArgon2MemoryKiB)
		}
		if p.Threads < 1 {
			return fmt.Errorf("invalid argon2id threads %d: must be at least 1", p.Threads)
		}
	default:
		return fmt.Errorf("invalid key derivation function %v", p.KDF)
	}
	return nil
}

// CheckPassphrase enforces the passphrase length rule (8 to 512 bytes).
func CheckPassphrase(pass []byte) error {
	if len(pass) < MinPassphraseLen {
		return fmt.Errorf("passphrase too short (min %d bytes)", MinPassphraseLen)
	}
	if len(pass) > MaxPassphraseLen {
		return fmt.Errorf("passphrase too long (max %d bytes)", MaxPassphraseLen)
	}
	return nil
}

// DeriveWrappingKey derives the WrappingKeyLen-byte wrapping key from a
// passphrase. It enforces CheckPassphrase and ValidateKDFParams (so
// pbkdf2iters below MinPBKDF2Iters is refused here too) and requires a salt.
func DeriveWrappingKey(pass []byte, p KDFParams) (Secret, error) {
	if err := CheckPassphrase(pass); err != nil {
		return nil, err
	}
	if p.Salt == nil {
		return nil, fmt.Errorf("invalid key derivation salt: missing")
	}
	if err := ValidateKDFParams(p); err != nil {
		return nil, err
	}
	return DeriveWrappingKeyUnchecked(pass, p)
}

// DeriveWrappingKeyUnchecked derives the wrapping key without the policy
// checks (passphrase length, minimum cost), so tests can use cheap
// parameters. It still refuses parameters the algorithms cannot take. Do not
// use it outside tests.
func DeriveWrappingKeyUnchecked(pass []byte, p KDFParams) (Secret, error) {
	if len(p.Salt) == 0 {
		return nil, fmt.Errorf("invalid key derivation salt: missing")
	}
	switch p.KDF {
	case KDFPBKDF2:
		if p.Iters < 1 {
			return nil, fmt.Errorf("invalid pbkdf2iters %d", p.Iters)
		}
		k, err := pbkdf2.Key(sha512.New, string(pass), p.Salt, int(p.Iters), WrappingKeyLen)
		if err != nil {
			return nil, fmt.Errorf("crypto: pbkdf2: %w", err)
		}
		return k, nil
	case KDFArgon2id:
		if p.Iters < 1 || p.Threads < 1 || p.MemoryKiB < 8*uint32(p.Threads) {
			return nil, fmt.Errorf("invalid argon2id parameters t=%d m=%d p=%d", p.Iters, p.MemoryKiB, p.Threads)
		}
		return argon2.IDKey(pass, p.Salt, p.Iters, p.MemoryKiB, p.Threads, WrappingKeyLen), nil
	}
	return nil, fmt.Errorf("invalid key derivation function %v", p.KDF)
}
