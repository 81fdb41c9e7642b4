// Package keysrc turns a dataset's keyformat and keylocation into wrapping-key
// input: it validates user key material (Parse) and reads it from where the
// keylocation property says (Fetch).
//
// Formats, as in OpenZFS:
//
//   - raw: exactly 32 bytes, taken as they are.
//   - hex: exactly 64 hex digits, decoded to 32 bytes.
//   - passphrase: 8 to 512 bytes; the key derivation (pbkdf2 or argon2id,
//     see props' pbkdf2kdf) happens in the key layer, not here.
//
// For hex and passphrase one trailing "\n" or "\r\n" is removed first, as
// material read from a pipe or a file usually ends with one.
//
// Locations: "prompt" (the caller reads the terminal or stdin; Fetch returns
// ErrPrompt), "file:///absolute/path", "https://…" (TLS verified) and
// "http://…" to a loopback host only. At most MaxKeyFile bytes are read.
//
// Invariants: errors name the location and the reason but never contain key
// material, nor a response body; slices returned by Parse and Fetch are the
// caller's to wipe, and Parse never keeps or aliases its input.
package keysrc
