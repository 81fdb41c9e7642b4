// Package fusefs mounts a zpl file system through the kernel's FUSE
// driver (github.com/hanwen/go-fuse/v2, node API). It translates FUSE
// calls onto zpl.FS and adds the virtual directory
// <root>/.coffer/snapshot/<name>/, a read-only view of each snapshot,
// opened on first use.
//
// Invariants:
//   - Inode numbers of the live file system are object ids; every
//     snapshot view gets its own range (view number << 44), and the
//     virtual directories sit at the top of the number space, so the
//     kernel never confuses two nodes.
//   - Only coffer writes the file system, so attributes and entries are
//     cached by the kernel for Options.Timeout.
//   - fsync and fdatasync commit a txg: when they return the data is on
//     the vdevs.
//   - A READ of part of a block pushes the rest of the block into the
//     kernel's page cache afterwards (pagecache.go), never while the file
//     is open for writing or was changed since the block was read.
//   - Mounts raise the kernel's read-ahead to Options.ReadAheadKB
//     (default 1 MiB) through sysfs; failing that is not fatal.
package fusefs
