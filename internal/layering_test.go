package internal_test

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

// rank orders the layers: a package may import only packages of a lower
// rank (docs/design/architecture.md). Packages not listed fail the test,
// so a new package must be placed deliberately.
var rank = map[string]int{
	"atomicfile": 0, "crypto": 0, "format": 0, "compress": 0, "props": 0, "stream": 0,
	"keysrc": 1, "vdev": 1, "keystore": 1, "remote": 1,
	"kmip":      1,
	"tpm":       1,
	"pkcs11":    1,
	"pool":      2,
	"dmu":       3,
	"dsl":       4,
	"zpl":       5,
	"fusefs":    6,
	"hangwatch": 0,
	"api":       6,
	"daemon":    7,
	"cli":       7,
	"torture":   9, "e2e": 9,
}

func TestLayering(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "coffer/internal/...").Output()
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		name := layer(p.ImportPath)
		if name == "" {
			continue
		}
		r, ok := rank[name]
		if !ok {
			t.Errorf("package %s has no layer: add it to rank", p.ImportPath)
			continue
		}
		for _, imp := range p.Imports {
			in := layer(imp)
			if in == "" || in == name {
				continue
			}
			if ri, ok := rank[in]; ok && ri >= r {
				t.Errorf("%s (layer %d) imports %s (layer %d): imports must point down", p.ImportPath, r, imp, ri)
			}
		}
	}
	// The crypto core does no I/O: it imports no file, network or log
	// package itself (the standard library's crypto reads the OS's random
	// source, which is fine).
	out, err = exec.Command("go", "list", "-f", `{{join .Imports " "}}`, "coffer/internal/crypto").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, dep := range strings.Fields(string(out)) {
		switch dep {
		case "os", "net", "net/http", "io/fs", "log", "log/slog", "path/filepath":
			t.Errorf("internal/crypto imports %s: the crypto core must do no I/O", dep)
		}
	}
}

// layer returns the first path element below coffer/internal/.
func layer(path string) string {
	rest, ok := strings.CutPrefix(path, "coffer/internal/")
	if !ok {
		return ""
	}
	name, _, _ := strings.Cut(rest, "/")
	return name
}
