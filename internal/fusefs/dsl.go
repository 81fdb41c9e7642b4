package fusefs

import (
	"strings"

	"coffer/internal/dsl"
	"coffer/internal/zpl"
)

// dslSnapshots serves the snapshots of one dataset of a dsl pool.
type dslSnapshots struct {
	dp *dsl.Pool
	ds string
}

// DSLSnapshots returns the Snapshots of dataset ds in dp.
func DSLSnapshots(dp *dsl.Pool, ds string) Snapshots { return dslSnapshots{dp, ds} }

func (s dslSnapshots) List() []string {
	var out []string
	for _, n := range s.dp.Snapshots(s.ds) {
		if _, short, ok := strings.Cut(n, "@"); ok {
			out = append(out, short)
		}
	}
	return out
}

func (s dslSnapshots) Open(name string) (*zpl.FS, error) {
	os, err := s.dp.SnapshotObjset(s.ds + "@" + name)
	if err != nil {
		return nil, err
	}
	return zpl.Open(os, zpl.Options{ReadOnly: true})
}
