// Package dsl is the dataset layer: the tree of file systems, volumes and
// snapshots of a pool, their properties, encryption roots and keys, and
// space accounting. It keeps the pool metadata document (MOS) and commits
// every administrative change as one txg.
//
// Invariants:
//   - Every change (create, destroy, snapshot, set, key changes) is applied
//     in memory only after it has been validated, and is durable when the
//     call returns.
//   - An encrypted dataset never has an unencrypted child; encryption is
//     never removed.
//   - Key material lives only in memory (crypto.Secret, wiped on unload);
//     the MOS holds wrapped master keys and KDF parameters only.
//   - A block killed from a live object set is freed at once if it was born
//     after the dataset's newest snapshot, else it stays until the last
//     snapshot that holds it is destroyed.
package dsl
