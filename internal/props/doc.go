// Package props is coffer's table of zfs dataset properties, its name rules
// and its number formats. It is pure: no I/O, no clock, no global state that
// changes after init.
//
// What it provides:
//
//   - The property table (Lookup, All): every property a user can name in
//     create -o, set, get, inherit and list -o, with its kind, whether it is
//     read-only, inheritable or create-only, its default in canonical stored
//     form, its enum values, the dataset types it applies to and its column
//     header. Short column names work as aliases, as in zfs (avail, refer,
//     compress, recsize, ratio, volblock, rdonly, lused, ...).
//   - Validate: the check of a value a user sets, returning the canonical
//     stored form (sizes as exact decimal byte counts, booleans "on"/"off",
//     encryption "on" as "aes-256-gcm", mountpoints cleaned) or an error whose
//     text is what zfs prints after "cannot set property for 'X': ".
//   - zfs number formats: FormatSize/ParseSize (zfs nicenum and nicestrtonum,
//     powers of 1024), FormatRatio, FormatTime, and Def.Display which applies
//     the right one for a property in human (default) or exact (-p) mode.
//   - zfs name rules for pools, datasets and snapshots, with zfs's reason
//     texts ("invalid character '$' in name", "name is too long", ...).
//
// Invariants:
//
//   - Stored property values are always canonical: a value that Validate
//     returned validates again to itself.
//   - Defaults in the table are canonical stored values, except mountpoint,
//     whose default ("") means "derived from the dataset name" (see
//     DefaultMountpoint and InheritMountpoint).
//   - Error messages never contain more than the user's own value.
//
// Coffer-specific properties and choices (documented deviations from zfs):
//
//   - pbkdf2kdf (pbkdf2 | argon2id, default pbkdf2) selects the function that
//     turns a passphrase into the wrapping key. pbkdf2 with pbkdf2iters
//     rounds is what OpenZFS does; argon2id is coffer's opt-in memory-hard
//     alternative whose parameters belong to the key layer (pbkdf2iters does
//     not apply to it). Like keyformat it is set at creation or change-key.
//   - pbkdf2salt (pool | random, default pool): whether a new passphrase
//     root takes the pool's passphrase salt (roots sharing a passphrase
//     then unlock with one derivation) or a salt of its own.
//   - compression is on | off | lz4 | zstd; "on" means lz4 and is the
//     default, as in OpenZFS 2.2.
//   - checksum is on | off; with encryption the block MAC is always checked
//     regardless of this property.
//   - Names may not contain spaces (zfs allows them), to keep -H output and
//     scripts simple.
//   - pbkdf2iters defaults to 0 in the table, as zfs shows for datasets that
//     have no passphrase; a passphrase dataset gets DefaultPBKDF2Iters.
package props
