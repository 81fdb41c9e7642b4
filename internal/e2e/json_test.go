package e2e

import (
	"strconv"
	"strings"
	"testing"
)

// The -j shapes of docs/cli.md ("JSON shape"). Decoding is strict: a field
// the document does not name fails the test.

type outputVersion struct {
	Command   string `json:"command"`
	VersMajor int    `json:"vers_major"`
	VersMinor int    `json:"vers_minor"`
}

type jsonSource struct {
	Type string `json:"type"`
	Data string `json:"data"`
}

type jsonProp struct {
	Value  string     `json:"value"`
	Source jsonSource `json:"source"`
}

type jsonDataset struct {
	Name       string              `json:"name"`
	Type       string              `json:"type"`
	Pool       string              `json:"pool"`
	Properties map[string]jsonProp `json:"properties"`
}

type jsonDatasets struct {
	OutputVersion outputVersion          `json:"output_version"`
	Datasets      map[string]jsonDataset `json:"datasets"`
}

type jsonPool struct {
	Name       string              `json:"name"`
	Type       string              `json:"type"`
	State      string              `json:"state"`
	PoolGUID   string              `json:"pool_guid"`
	Txg        string              `json:"txg"`
	Properties map[string]jsonProp `json:"properties"`
}

type jsonPools struct {
	OutputVersion outputVersion       `json:"output_version"`
	Pools         map[string]jsonPool `json:"pools"`
}

type jsonVdev struct {
	Name     string     `json:"name"`
	State    string     `json:"state"`
	Read     uint64     `json:"read_errors"`
	Write    uint64     `json:"write_errors"`
	Cksum    uint64     `json:"checksum_errors"`
	Repaired uint64     `json:"repaired_bytes"`
	Children []jsonVdev `json:"children"`
}

type jsonScrub struct {
	State     string `json:"state"`
	Start     int64  `json:"start"`
	End       int64  `json:"end"`
	Examined  uint64 `json:"examined"`
	Total     uint64 `json:"total"`
	Errors    uint64 `json:"errors"`
	Repaired  uint64 `json:"repaired"`
	Unrecover uint64 `json:"unrecoverable"`
}

type jsonPoolStatus struct {
	Name   string     `json:"name"`
	State  string     `json:"state"`
	Vdevs  []jsonVdev `json:"vdevs"`
	Scrub  jsonScrub  `json:"scrub"`
	Errors string     `json:"errors"`
	// Since output version 0.2.
	Version int `json:"version"`
	Latest  int `json:"latest_version"`
}

type jsonStatus struct {
	OutputVersion outputVersion             `json:"output_version"`
	Pools         map[string]jsonPoolStatus `json:"pools"`
}

var validSourceTypes = map[string]bool{"LOCAL": true, "DEFAULT": true, "INHERITED": true, "RECEIVED": true, "TEMPORARY": true, "NONE": true}

func checkVersion(t *testing.T, v outputVersion, command string) {
	t.Helper()
	minor := 1
	if command == "coffer pool status" {
		minor = 2 // version and latest_version
	}
	if v.Command != command || v.VersMajor != 0 || v.VersMinor != minor {
		t.Errorf("output_version = %+v, want command %q, 0.%d", v, command, minor)
	}
}

// listJSON runs a `list` or `get` with -j and checks the common shape: the
// map key is the name, type is one of the three, pool is the name's pool,
// sources are valid, INHERITED names an ancestor and NONE has data "-".
func (d *daemon) listJSON(command string, args ...string) jsonDatasets {
	d.t.Helper()
	var v jsonDatasets
	mustJSON(d.t, d.ok(args...), &v)
	checkVersion(d.t, v.OutputVersion, command)
	if v.Datasets == nil {
		d.t.Errorf("datasets missing in %v", args)
	}
	for k, ds := range v.Datasets {
		if ds.Name != k {
			d.t.Errorf("datasets[%q].name = %q", k, ds.Name)
		}
		if p, _, _ := strings.Cut(strings.Split(k, "@")[0], "/"); ds.Pool != p {
			d.t.Errorf("datasets[%q].pool = %q, want %q", k, ds.Pool, p)
		}
		switch ds.Type {
		case "FILESYSTEM", "VOLUME":
			if strings.Contains(k, "@") {
				d.t.Errorf("%q has type %s", k, ds.Type)
			}
		case "SNAPSHOT":
			if !strings.Contains(k, "@") {
				d.t.Errorf("%q has type SNAPSHOT", k)
			}
		default:
			d.t.Errorf("datasets[%q].type = %q", k, ds.Type)
		}
		if ds.Properties == nil {
			d.t.Errorf("datasets[%q].properties is missing", k)
		}
		for pn, p := range ds.Properties {
			if !validSourceTypes[p.Source.Type] {
				d.t.Errorf("%s %s: source type %q", k, pn, p.Source.Type)
			}
			switch p.Source.Type {
			case "INHERITED":
				if !strings.HasPrefix(k, p.Source.Data+"/") && !strings.HasPrefix(k, p.Source.Data+"@") {
					d.t.Errorf("%s %s: inherited from %q, not an ancestor", k, pn, p.Source.Data)
				}
			case "NONE", "DEFAULT":
				if p.Source.Data != "-" {
					d.t.Errorf("%s %s: source %+v, want data \"-\"", k, pn, p.Source)
				}
			}
		}
	}
	return v
}

func (d *daemon) poolListJSON(args ...string) jsonPools {
	d.t.Helper()
	var v jsonPools
	mustJSON(d.t, d.ok(append([]string{"pool", "list", "-j"}, args...)...), &v)
	checkVersion(d.t, v.OutputVersion, "coffer pool list")
	for k, p := range v.Pools {
		if p.Name != k || p.Type != "POOL" || p.State == "" {
			d.t.Errorf("pools[%q] = %+v", k, p)
		}
		if _, err := strconv.ParseUint(p.PoolGUID, 10, 64); err != nil {
			d.t.Errorf("pools[%q].pool_guid = %q", k, p.PoolGUID)
		}
		if _, err := strconv.ParseUint(p.Txg, 10, 64); err != nil {
			d.t.Errorf("pools[%q].txg = %q", k, p.Txg)
		}
		for pn, pv := range p.Properties {
			if pv.Source.Type != "NONE" && pv.Source.Type != "DEFAULT" && pv.Source.Type != "LOCAL" {
				d.t.Errorf("pools[%q] %s source %+v", k, pn, pv.Source)
			}
		}
	}
	return v
}

func (d *daemon) poolStatusJSON(args ...string) jsonStatus {
	d.t.Helper()
	var v jsonStatus
	mustJSON(d.t, d.ok(append([]string{"pool", "status", "-j"}, args...)...), &v)
	checkVersion(d.t, v.OutputVersion, "coffer pool status")
	for k, p := range v.Pools {
		if p.Name != k || p.State == "" || len(p.Vdevs) == 0 || p.Errors == "" || p.Version < 1 || p.Version > p.Latest || p.Latest != 2 {
			d.t.Errorf("pools[%q] = %+v", k, p)
		}
		switch p.Scrub.State {
		case "none", "scanning", "finished", "canceled":
		default:
			d.t.Errorf("pools[%q].scrub.state = %q", k, p.Scrub.State)
		}
	}
	return v
}
