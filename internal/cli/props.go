package cli

import (
	"slices"
	"strings"

	"coffer/internal/api"
	"coffer/internal/props"
)

// canonicalProp resolves aliases (avail, refer, compress, ...) through the
// property table; ok is false for an unknown property. "name" is accepted
// as a column.
func canonicalProp(p string) (string, bool) {
	d, ok := props.Lookup(p)
	if !ok {
		return p, false
	}
	return d.Name, true
}

// propHeader is a column header: NAME, USED, AVAIL, or a user property as written.
func propHeader(p string) string {
	if props.IsUserProp(p) {
		return p
	}
	if d, ok := props.Lookup(p); ok {
		return d.Column
	}
	return strings.ToUpper(p)
}

// propRank orders properties for `get all`: native ones in table order,
// then the rest (user properties) by name.
func propRank(p string) int {
	all := props.All()
	for i, d := range all {
		if d.Name == p {
			return i
		}
	}
	return len(all)
}

func sortProps(ps []string) {
	slices.SortFunc(ps, func(a, b string) int {
		if ra, rb := propRank(a), propRank(b); ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
}

// parsePropList parses comma-separated -o values (several -o add up).
func parsePropList(opts []string) ([]string, error) {
	var out []string
	for _, o := range opts {
		for _, p := range strings.Split(o, ",") {
			c, ok := canonicalProp(p)
			if !ok || p == "" {
				return nil, usagef("bad property list: invalid property '%s'", p)
			}
			out = append(out, c)
		}
	}
	return out, nil
}

// parseAssignments parses property=value arguments (-o, -O, set).
func parseAssignments(args []string) (map[string]string, error) {
	if len(args) == 0 {
		return nil, nil
	}
	props := make(map[string]string, len(args))
	for _, a := range args {
		name, value, ok := strings.Cut(a, "=")
		if !ok {
			return nil, usagef("missing '=' for property=value argument")
		}
		if c, known := canonicalProp(name); known {
			name = c
		}
		if name == "" {
			return nil, usagef("missing property name in '%s'", a)
		}
		if _, dup := props[name]; dup {
			return nil, usagef("property '%s' specified multiple times", name)
		}
		props[name] = value
	}
	return props, nil
}

// dsTypes maps -t values to the type names of the API.
var dsTypes = map[string]string{
	"filesystem": "filesystem", "fs": "filesystem",
	"volume": "volume", "vol": "volume",
	"snapshot": "snapshot", "snap": "snapshot",
	"all": "all",
}

func parseTypes(opts []string) ([]string, error) {
	var out []string
	for _, o := range opts {
		for _, t := range strings.Split(o, ",") {
			c, ok := dsTypes[t]
			if !ok {
				return nil, usagef("invalid type '%s'", t)
			}
			if !slices.Contains(out, c) {
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// cell is a property of row as printed: Exact with -p, "-" when missing.
func cell(row api.DatasetRow, prop string, exact bool) string {
	if prop == "name" {
		return row.Name
	}
	v, ok := row.Props[prop]
	if !ok {
		if prop == "type" && row.Type != "" {
			return row.Type
		}
		return "-"
	}
	if exact && v.Exact != "" {
		return v.Exact
	}
	if v.Value == "" {
		return "-"
	}
	return v.Value
}

func source(row api.DatasetRow, prop string) string {
	if v, ok := row.Props[prop]; ok && v.Source != "" {
		return v.Source
	}
	return "-"
}

// poolOf is the pool part of a dataset or snapshot name.
func poolOf(name string) string {
	if i := strings.IndexAny(name, "/@#"); i >= 0 {
		return name[:i]
	}
	return name
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

func newJSONDataset(row api.DatasetRow) jsonDataset {
	return jsonDataset{
		Name:       row.Name,
		Type:       strings.ToUpper(row.Type),
		Pool:       poolOf(row.Name),
		Properties: map[string]jsonProp{},
	}
}
