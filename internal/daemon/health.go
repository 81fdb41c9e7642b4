package daemon

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"coffer/internal/api"
)

// Health gathers, in one answer, what keeps the daemon from serving all of
// its pools and datasets and exactly why: pools that did not import at
// start, pools that are degraded or hold damaged blocks, a keystore that is
// still locked (and why: "KMIP server unreachable, no cached key"),
// encryption roots whose key provider refused, deep rekeys that failed.
// Locked passphrase roots are not a problem: they wait for their user.
func (d *Daemon) Health(ctx context.Context, c api.Caller) (api.HealthResp, error) {
	resp := api.HealthResp{Problems: []api.HealthProblem{}}
	add := func(subject, reason string, warning bool) {
		resp.Problems = append(resp.Problems, api.HealthProblem{Subject: subject, Reason: reason, Warning: warning})
	}

	d.mu.Lock()
	missing := make([]string, 0, len(d.notImported))
	for n := range d.notImported {
		if d.pools[n] == nil {
			missing = append(missing, n)
		}
	}
	d.mu.Unlock()
	sort.Strings(missing)
	for _, n := range missing {
		d.mu.Lock()
		why := d.notImported[n]
		d.mu.Unlock()
		add("pool "+n, "not imported at start: "+why, false)
	}

	pools := d.sortedPools()
	resp.Pools = len(pools)
	for _, dp := range pools {
		p := dp.Raw()
		subject := "pool " + dp.Name()
		if h := p.Health(); h != "ONLINE" {
			var bad []string
			for _, t := range p.Status() {
				bad = appendBadVdevs(bad, vdevStatus(t))
			}
			reason := h
			if len(bad) > 0 {
				reason += ": " + strings.Join(bad, ", ")
			} else {
				reason += ": a device of the pool is missing"
			}
			add(subject, reason+" (coffer pool status "+dp.Name()+")", false)
		}
		if n := p.DamagedBlocks(); n > 0 {
			add(subject, fmt.Sprintf("%d damaged blocks that failed verification on every copy (coffer pool status %s)", n, dp.Name()), false)
		}
	}

	if st := d.keys.store; st == nil {
		resp.Keystore = "none"
		add("keystore", "not opened: see the daemon log", false)
	} else {
		kind, _ := st.Protection()
		state := st.Status()
		resp.Keystore = kind + ", " + state
		if state != "unlocked" {
			add("keystore", state, false)
		}
		if kind == "file" {
			add("keystore", fileWarning, true)
		}
	}

	waiting := d.keysWaiting("")
	names := make([]string, 0, len(waiting))
	for n := range waiting {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		add(n, "locked: "+waiting[n], false)
	}

	d.rekeyRuns.Lock()
	var failed []string
	for n, e := range d.rekeyRuns.last {
		if e.err != "" {
			failed = append(failed, n)
		}
	}
	sort.Strings(failed)
	for _, n := range failed {
		add("rekey "+n, "failed: "+d.rekeyRuns.last[n].err, false)
	}
	d.rekeyRuns.Unlock()

	resp.Healthy = true
	for _, p := range resp.Problems {
		if !p.Warning {
			resp.Healthy = false
		}
	}
	return resp, nil
}

// appendBadVdevs adds "NAME STATE" for v and every child of v that is not
// ONLINE, deepest first when only a child is at fault.
func appendBadVdevs(out []string, v api.VdevStatus) []string {
	n := len(out)
	for _, c := range v.Children {
		out = appendBadVdevs(out, c)
	}
	if v.State != "ONLINE" && len(out) == n {
		out = append(out, v.Name+" "+v.State)
	}
	return out
}
