// Package dmu implements object sets: numbered objects, each a tree of
// copy-on-write blocks (ZFS's DMU). An object set lives in memory as dirty
// buffers until Sync writes it into the pool in one txg and returns the
// pointer to its new header block.
//
// Invariants:
//   - A parent block is always born in the same txg as, or later than, its
//     children; walks prune on birth.
//   - Block positions never move: the pointer for (object, level, blkid) is
//     always found at the same place, so two versions of an object set are
//     compared position by position (Diff).
//   - The structure (object table, indirect blocks) is readable without a
//     key; contents and bonuses of encrypted object sets are not.
package dmu
