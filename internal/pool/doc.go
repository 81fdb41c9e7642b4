// Package pool stores blocks on a pool's vdevs and commits the pool's state
// atomically, one transaction group (txg) at a time.
//
// Invariants:
//   - A block is never overwritten while the newest durable uberblock can
//     reach it: frees of txg T are released to the allocator only after T's
//     uberblock is on stable storage.
//   - A commit writes every new block, syncs the data files, and only then
//     writes and syncs the uberblock; a crash at any point leaves the previous
//     state (or the new one) intact.
//   - Every read verifies the checksum of the stored bytes (keyless) and, for
//     blocks of encrypted datasets, the MAC; a mirror repairs a bad copy from
//     a good one.
//
// The pool knows block pointers, not datasets: the dataset layer hands it the
// pool metadata document (MOS) to commit and tells it, at import, which
// blocks are live.
package pool
