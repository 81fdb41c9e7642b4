// Package torture holds the storage engine's torture tests: kill -9 crash
// cycles against a re-executed child writer, bit rot and torn metadata on
// single vdevs, mirror self-healing and scrub, a plaintext leak scan of the
// vdev files, and a proof that the consistency check is not vacuous.
//
// Everything lives in _test.go files; the tests use real directories under
// t.TempDir and real processes, never mocks. `go test ./internal/torture/`
// runs a short version (about a minute); `-torture.long` or
// COFFER_TORTURE_LONG=1 runs hundreds of crash cycles. Every randomised test
// logs its seed; COFFER_TORTURE_SEED=N replays it.
//
// The tests that need the real daemon and FUSE live in internal/e2e: kill
// -9 of the daemon (TestKillDaemonDuringWrites), the load test (TestLoad)
// and stress-ng (TestStressNG). `make torture` runs all of them in the long
// form, and every fuzz target for two minutes; docs/torture.md has the
// whole picture.
package torture
