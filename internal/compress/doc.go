// Package compress implements the block compression algorithms of coffer:
// the values of the "compression" property (off, lz4, zstd; "on" means lz4).
//
// It is pure: no I/O, no global mutable state visible to callers. All
// functions are safe for concurrent use; encoders and decoders are pooled.
//
// Invariants:
//   - The numeric values of Alg are stored on disk in block pointers and
//     are frozen: Off=0, LZ4=1, ZSTD=2. Never renumber them.
//   - An LZ4 block is a raw LZ4 block (no frame, no size header); a ZSTD
//     block is one zstd frame without a content checksum. The decompressed
//     size is not trusted from the stream: the caller stores it in the block
//     pointer and passes it to Decompress, which fails unless the data
//     decodes to exactly that many bytes.
//   - Compress reports ok=false unless the result saves at least 1/8 of the
//     input (as ZFS does); the caller then stores the block uncompressed.
//     Incompressible input is detected early and cheaply.
//   - Decompress never panics and never allocates more than the requested
//     size for the output, whatever the input bytes are.
package compress
