// Package hangwatch tells what a hung test waits for. Shortly before the
// test binary's -test.timeout would end it, it writes to stderr what Go's
// own timeout dump does not show: the requests each FUSE connection still
// waits on, and the kernel stacks of the tasks blocked in the kernel (a
// reader waiting for a FUSE reply, a task waiting for a page lock). Tests
// of FUSE mounts call Start from TestMain; it needs root for the kernel
// stacks and mounts fusectl if nothing has.
package hangwatch

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// fuseConns is where fusectl lists the FUSE connections.
const fuseConns = "/sys/fs/fuse/connections"

// Start arms the watch: at the test binary's timeout less a margin (a
// tenth of it, at most a minute) it writes the report, then calls extra
// (nil: none) for what only the caller knows, such as the logs of the
// daemons it started. Flags must be parsed. The returned stop disarms it.
func Start(extra func(w io.Writer)) (stop func()) {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return func() {}
	}
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return func() {}
	}
	timeout, _ := g.Get().(time.Duration)
	if timeout <= 0 {
		return func() {}
	}
	margin := min(timeout/10, time.Minute)
	t := time.AfterFunc(timeout-margin, func() {
		Report(os.Stderr)
		if extra != nil {
			extra(os.Stderr)
		}
	})
	return func() { t.Stop() }
}

// Report writes the FUSE connections' waiting requests and the kernel
// stacks of blocked tasks to w.
func Report(w io.Writer) {
	fmt.Fprintf(w, "\n=== hangwatch: the test binary is about to time out (%s)\n", time.Now().UTC().Format(time.RFC3339))
	conns, _ := os.ReadDir(fuseConns)
	if len(conns) == 0 {
		// Not mounted: mount it now so that the counts are there.
		_ = syscall.Mount("fusectl", fuseConns, "fusectl", 0, "")
		conns, _ = os.ReadDir(fuseConns)
	}
	for _, c := range conns {
		waiting, err := os.ReadFile(filepath.Join(fuseConns, c.Name(), "waiting"))
		if err == nil {
			fmt.Fprintf(w, "fuse connection %s: %s requests waiting\n", c.Name(), strings.TrimSpace(string(waiting)))
		}
	}
	idle := map[int]int{} // FUSE server threads waiting for a request, by pid
	var pids []int
	for _, t := range blocked() {
		if t.wchan == "fuse_dev_do_read" {
			if idle[t.pid] == 0 {
				pids = append(pids, t.pid)
			}
			idle[t.pid]++
			continue
		}
		fmt.Fprintf(w, "--- pid %d (%s) state %s wchan %s\n%s", t.pid, t.comm, t.state, t.wchan, t.stack)
	}
	for _, pid := range pids {
		fmt.Fprintf(w, "pid %d: %d threads wait for a FUSE request (fuse_dev_do_read)\n", pid, idle[pid])
	}
	fmt.Fprintln(w, "=== hangwatch: end")
}

type task struct {
	pid                       int
	comm, state, wchan, stack string
}

// blocked lists the tasks in uninterruptible sleep, and those asleep in
// the kernel's FUSE request or page-lock waits (killable, so state S).
func blocked() []task {
	ents, _ := os.ReadDir("/proc")
	var out []task
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		tids, _ := os.ReadDir(filepath.Join("/proc", e.Name(), "task"))
		for _, tid := range tids {
			dir := filepath.Join("/proc", e.Name(), "task", tid.Name())
			stat, err := os.ReadFile(filepath.Join(dir, "stat"))
			if err != nil {
				continue
			}
			comm, state := parseStat(string(stat))
			wchan, _ := os.ReadFile(filepath.Join(dir, "wchan"))
			stack, _ := os.ReadFile(filepath.Join(dir, "stack"))
			if !interesting(state, string(wchan), string(stack)) {
				continue
			}
			out = append(out, task{pid: pid, comm: comm, state: state, wchan: string(wchan), stack: string(stack)})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].pid < out[j].pid })
	return out
}

// parseStat returns the command and the state of a /proc/*/stat line.
func parseStat(s string) (comm, state string) {
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || end+3 > len(s) {
		return "?", "?"
	}
	return s[open+1 : end], s[end+2 : end+3]
}

// interesting reports whether a task waits where a FUSE hang shows.
func interesting(state, wchan, stack string) bool {
	if state == "D" {
		return true
	}
	for _, s := range []string{"request_wait_answer", "fuse_", "folio_wait", "wait_on_page"} {
		if strings.Contains(wchan, s) || strings.Contains(stack, s) {
			return true
		}
	}
	return false
}
