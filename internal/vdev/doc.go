// Package vdev implements the storage devices of a pool: leaf vdevs, each a
// directory on a host file system, and top-level vdevs (Top), each a single
// leaf or a mirror of leaves.
//
// A leaf directory holds:
//
//	label.json   the label (Label): pool name and GUID, top-level vdev GUID
//	             and index, this leaf's GUID, state (active, exported,
//	             destroyed), last txg, and the pool's opaque config blob.
//	             Compact JSON, replaced atomically: written to
//	             label.json.tmp, fsynced, renamed, directory fsynced.
//	uberblocks   a ring of RingSlots (128) fixed SlotSize (4096-byte) slots,
//	             512 KiB, created full size. The pool writes opaque bytes
//	             (<= 4096) into a slot; the rest of the slot is zeros. Each
//	             slot write is followed by fdatasync.
//	data         the block store. Blocks live at byte offsets chosen by the
//	             pool's allocator; the file grows as needed and is sparse.
//	             Freed ranges are punched out (the size is kept). On ext4
//	             the leaf has the host allocate up to 32 MiB ahead of its
//	             writes, past its size (FALLOC_FL_KEEP_SIZE) and in holes it
//	             punched (reserve.go).
//	lock         empty; held with flock(LOCK_EX|LOCK_NB) while the leaf is
//	             open, so that no second opener, in this process or another,
//	             can use the vdev.
//
// Invariants:
//   - The label is written last at creation: a directory without a label
//     is not a vdev, and a crash during creation leaves no half vdev that
//     looks whole. A directory whose label is not "destroyed" is never
//     reused by CreateLeaf, even with force.
//   - A read that reaches past the end of the data file is damage
//     (io.ErrUnexpectedEOF), never silently zero-filled; holes inside the
//     file read as zeros.
//   - Every copy of a block in a mirror is at the same offset on every
//     child. A read returns the first copy that verifies and rewrites the
//     copies that did not (self-healing); Repair (scrub) checks every copy.
//   - A child is FAULTED only when it failed a write or sync that another
//     child took, i.e. when it may be missing data; it is then no longer
//     written, and read only as a last resort with a verifier. If every
//     child fails, nothing is faulted and the error goes to the caller.
//   - The caller (the pool) never writes a range while it reads or repairs
//     that range; copy-on-write allocation guarantees this.
//   - Error counters are atomics; all methods are safe for concurrent use.
//
// Linux specifics (flock, fallocate, fdatasync, statfs) are in
// leaf_linux.go.
package vdev
