// Package crypto is coffer's cryptographic core: encryption suites, dataset
// keys and their derived sub-keys, block sealing, key wrapping, passphrase
// KDFs, and a CCM implementation. It does no I/O (no files, network or
// logging) and depends only on the standard library and golang.org/x/crypto.
// docs/design/crypto.md has the full rationale and byte layouts.
//
// # Key hierarchy
//
//	passphrase --PBKDF2-HMAC-SHA512 / Argon2id (KDFParams, random salt)--+
//	raw or hex user key (32 bytes) ----------------------------------------+--> wrapping key (32 B)
//	                                                                             |
//	                       AES-256-GCM, AD = "coffer v1 wrap"||suite||guid||ad   v
//	  WrappedKey{Suite, GUID, IV, Sealed} <---------------------------- master key (32 B, random, per dataset)
//	                                                                             |
//	          HKDF-SHA512(master, salt, "coffer v1 data  <suite>") --> data key  (per salt)
//	          HKDF-SHA512(master, salt, "coffer v1 bonus <suite>") --> bonus key (per salt)
//	          HKDF-SHA512(master, -,    "coffer v1 mac   <suite>") --> MAC key (HMAC-SHA512/256)
//
// The wrapping key only ever encrypts master keys, so changing a key or
// passphrase rewraps master keys and never touches data. Destroying the
// wrapped key destroys the data (crypto-shredding).
//
// # Invariants
//
//   - Every Seal uses a fresh 96-bit IV from crypto/rand; an all-zero IV is
//     refused on Seal and on Open. Salts are random 64-bit values, rotated
//     after SaltRotateAfter (2^20) Seal calls per DatasetKey, which keeps the
//     number of random IVs per derived key far below the 2^32 NIST limit.
//   - Sub-keys are separated by purpose and suite through the HKDF info
//     label; a block sealed for one purpose, salt, suite or key never opens
//     under another (ErrAuth).
//   - The caller binds each block to its context through the AD (dataset,
//     object, level, block id, birth txg, format version); this package does
//     not interpret AD. The GUID of the master key is meant to be part of it.
//   - Open returns plaintext only after authentication; failure is ErrAuth
//     and no plaintext. Unwrap failure is ErrWrongKey.
//   - Key material is held in Secret, which never prints, marshals to JSON or
//     logs. Wipe zeroes it; a wiped DatasetKey refuses to work.
//   - Suite numbers, KDF numbers, HKDF labels, the MAC construction and the
//     WrappedKey encoding are frozen on-disk formats, pinned by the
//     known-answer vectors in kat_test.go.
//
// DatasetKey is safe for concurrent use; derived AEADs are cached per
// (purpose, salt), and Seal/SealTo/OpenTo do not allocate in steady state
// for GCM suites.
package crypto
