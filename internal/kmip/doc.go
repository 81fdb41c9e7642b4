// Package kmip is a small KMIP 1.x client: the TTLV wire encoding, a
// mutual-TLS connection, and the handful of operations coffer needs to keep
// a key encryption key (KEK) in an external key server, as vSAN does.
//
// Invariants:
//   - The TTLV decoder never panics and bounds what it accepts: a message is
//     at most MaxMessageSize bytes and structures nest at most MaxDepth deep.
//   - Error strings are one line, name the server, and never carry key
//     material, plaintext or ciphertext.
//   - The host keeps only a key's Unique Identifier and the wrapped blob
//     produced by WrapSecret; the KEK itself stays in the server unless a
//     caller explicitly uses Get.
//
// See docs/design/kmip.md.
package kmip
