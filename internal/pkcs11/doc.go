// Package pkcs11 keeps a key encryption key (KEK) in a PKCS#11 token (an
// HSM, a smart card, SoftHSM) and wraps coffer's secrets with it, so the
// KEK never leaves the token.
//
// Invariants:
//   - The KEK is generated in the token as a persistent AES-256 key with
//     CKA_SENSITIVE true and CKA_EXTRACTABLE false; this package never asks
//     for its value and refuses a key that could be extracted.
//   - Every call loads the module (or shares it with concurrent calls),
//     opens its own session, logs in, and logs out, closes, and finalizes
//     the module when the last call returns. Calls into one module are
//     serialized, since PKCS#11 login state is per application.
//   - The host keeps only the URI without its PIN (URI.String) and the
//     wrapped blob. The blob is versioned, names its mechanism, carries a
//     checksum (damage) and a verifier (wrong key), in that order.
//   - Errors are one line, name the token and the object, and never carry
//     the PIN, the secret or the blob.
//   - The blob decoder never panics.
//
// See docs/design/pkcs11.md.
package pkcs11
