// Package remote keeps backups of datasets in S3-compatible object storage,
// as a chain of raw send streams, and the daemon's list of remotes with their
// credentials.
//
// Layout under a remote's prefix, per dataset:
//
//	<prefix>/<dataset>/<guid>.cfs      one raw stream; guid is the GUID of
//	                                   the snapshot it carries
//	<prefix>/<dataset>/manifest.json   the chain: which streams exist
//
// Invariants:
//   - The manifest names only complete objects: a stream object is uploaded
//     first, the manifest rewritten after, so a crash between the two
//     leaves an object no manifest points to (overwritten by the next try),
//     never a manifest entry without its object.
//   - Every manifest entry records the SHA-256 and size of its object as it
//     was uploaded; a restore refuses an object that does not match before
//     the receiver can commit it (Verifier).
//   - A chain is a full stream followed by incrementals, each one's
//     from_guid being the previous one's guid (Manifest.Chain).
//   - Secret keys are sealed at rest (Registry) and never leave this
//     package in a form that prints: they are crypto.Secret values.
package remote
