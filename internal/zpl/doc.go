// Package zpl is the ZFS POSIX layer of coffer: files, directories,
// symlinks, hard links, extended attributes and an unlinked set, kept in
// the objects of one dmu.Objset. It imports nothing from FUSE; the access
// layer (internal/fusefs) is a thin translation onto FS.
//
// Everything zpl stores lives in object data and bonuses, which the DMU
// encrypts for encrypted datasets: file names, directory listings,
// attributes, permissions, xattrs and symlink targets never reach a vdev
// in plaintext.
//
// On-disk layout: docs/design/zpl.md (frozen per format version).
//
// Invariants:
//   - Object 1 is the master node; its bonus names the root directory and
//     the unlinked set.
//   - Every inode's attributes are in its bonus (attrSize bytes, layout v1).
//   - A directory's size is the end of its record area; records never move,
//     so a record's end offset is a stable readdir cookie.
//   - An inode with nlink 0 that is still open is listed in the unlinked
//     set; it is freed at last close, or at the next writable open of the
//     file system after a crash.
//   - FS.mu serializes namespace changes and attribute updates; the
//     object set's own lock serializes block access.
package zpl
