package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
)

// printer writes command output: zfs-style tables or JSON.
type printer struct {
	w        io.Writer
	scripted bool // -H: no header, tab-separated
}

// table prints rows under header. Columns are left-aligned and separated by
// two spaces; the last column is not padded. With -H there is no header and
// columns are separated by one tab.
func (p printer) table(header []string, rows [][]string) {
	if p.scripted {
		for _, r := range rows {
			fmt.Fprintln(p.w, strings.Join(r, "\t"))
		}
		return
	}
	all := append([][]string{header}, rows...)
	width := make([]int, len(header))
	for _, r := range all {
		for i, c := range r {
			width[i] = max(width[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range all {
		b.Reset()
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c)
			b.WriteString(strings.Repeat(" ", width[i]-len(c)+2))
		}
		fmt.Fprintln(p.w, b.String())
	}
}

// json prints v as one line of JSON, as zfs -j does.
func (p printer) json(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode JSON output: %w", err)
	}
	_, err = fmt.Fprintf(p.w, "%s\n", b)
	return err
}

// outputVersion heads every -j document, as in OpenZFS 2.3.
type outputVersion struct {
	Command   string `json:"command"`
	VersMajor int    `json:"vers_major"`
	VersMinor int    `json:"vers_minor"`
}

func newOutputVersion(command string) outputVersion {
	return outputVersion{Command: command, VersMajor: 0, VersMinor: 1}
}

type jsonSource struct {
	Type string `json:"type"`
	Data string `json:"data"`
}

type jsonProp struct {
	Value  string     `json:"value"`
	Source jsonSource `json:"source"`
}

// sourceJSON maps a PropValue.Source ("local", "inherited from tank", ...)
// to the zfs -j source object.
func sourceJSON(src string) jsonSource {
	switch {
	case src == "local":
		return jsonSource{"LOCAL", "-"}
	case src == "default":
		return jsonSource{"DEFAULT", "-"}
	case src == "received":
		return jsonSource{"RECEIVED", "-"}
	case src == "temporary":
		return jsonSource{"TEMPORARY", "-"}
	case strings.HasPrefix(src, "inherited from "):
		return jsonSource{"INHERITED", strings.TrimPrefix(src, "inherited from ")}
	default:
		return jsonSource{"NONE", "-"}
	}
}

const (
	niceNum   = iota // "", K, M, ...
	niceBytes        // B, K, M, ...
)

// nicenum formats n the way zfs_nicenum/zfs_nicebytes do: 1.50K, 11.8M,
// 437G, at most 5 characters when there is a fraction.
func nicenum(n uint64, format int) string {
	units := []string{"", "K", "M", "G", "T", "P", "E"}
	if format == niceBytes {
		units[0] = "B"
	}
	v, index := n, 0
	for v >= 1024 && index < len(units)-1 {
		v /= 1024
		index++
	}
	u := units[index]
	if index == 0 || n%(uint64(1)<<(10*index)) == 0 {
		return fmt.Sprintf("%d%s", v, u)
	}
	val := float64(n) / math.Pow(1024, float64(index))
	var s string
	for i := 2; i >= 0; i-- {
		s = fmt.Sprintf("%.*f%s", i, val, u)
		if len(s) <= 5 {
			break
		}
	}
	return s
}
