package daemon

// ExtraProcs is how many more Ps (runtime.GOMAXPROCS) than CPUs the daemon
// runs with.
//
// A goroutine in a blocking system call keeps its P until the runtime's
// monitor takes it back, and the daemon's direct reads of the block store
// (read-ahead runs, raw sends) block for a fraction of a millisecond each.
// On the project's 2-core machine, with 2 Ps, the disk saw 0.4 reads in
// flight during a cold sequential read through a mount and the CPUs were
// 20–24% idle; with 4 Ps, 1.0 in flight and 1.2–1.5 GB/s against
// 0.96–1.2 (3 alternating trials), and a raw send of 4 GiB ran at
// 3.26–3.44 GB/s against 2.93–3.02 (docs/design/architecture.md, "Ps
// for blocking I/O"). Two more, not twice as many: the garbage collector
// takes a quarter of the Ps while it marks.
const ExtraProcs = 2

// Procs returns the GOMAXPROCS the daemon sets: current plus ExtraProcs,
// unless the environment's GOMAXPROCS (env) chose a value, which is kept.
func Procs(env string, current int) int {
	if env != "" {
		return current
	}
	return current + ExtraProcs
}
