// Package format defines coffer's on-disk encodings: block pointers, dnodes,
// object-set headers and uberblocks. It is pure: no I/O, no crypto.
//
// Every structure has a fixed size and a little-endian layout documented in
// docs/design/on-disk-format.md. Decoders never panic on any input; changing
// an encoding breaks the on-disk format and the frozen tests in this package.
package format
