// Package tpm seals a small secret — the daemon's 32-byte system secret —
// to a TPM 2.0, bound to the current values of chosen PCRs (SHA-256 bank,
// PCR 7 by default) and optionally to a PIN.
//
// Seal creates a keyed-hash "sealed data" object under the owner
// hierarchy's ECC P-256 storage root key (the TCG reference SRK template,
// re-created on every call: the same TPM always derives the same key). The
// object's only authorization path is its policy,
// PolicyPCR(selection, digest of the PCR values at seal time), followed by
// PolicyAuthValue when a PIN is set. Unseal re-creates the SRK, loads the
// object and unseals it in a policy session that is salted to the SRK and
// encrypts the response, so the secret never crosses the bus (or swtpm's
// socket) in the clear.
//
// The TPM is reached through /dev/tpmrm0 (the kernel's resource manager) or,
// for swtpm, "tcp://HOST:PORT": the command port of swtpm's socket
// interface, spoken with the TCG simulator framing (see swtcp.go).
//
// Invariants: no error message, log line or Sealed blob contains the secret
// or the PIN; every transient object and session this package creates is
// flushed before it returns, also on errors (swtpm has no resource manager
// and only three object slots); Sealed.UnmarshalBinary accepts only what
// MarshalBinary can produce for the current format version.
package tpm
