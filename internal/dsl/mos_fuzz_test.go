package dsl

import (
	"encoding/json"
	"testing"

	"coffer/internal/format"
)

// FuzzParseMOS feeds the pool metadata parser arbitrary documents. It must
// never panic; what it accepts has a record for every key, named, with a
// well-formed root pointer, and survives a marshal/parse round trip.
func FuzzParseMOS(f *testing.F) {
	root := format.BlockPointer{PSize: 4096, Offset: 0x2000, LSize: 1024, Type: format.TypeObjset,
		Compress: 1, CksumAlg: format.ChecksumXXH64, PhysBirth: 3, Birth: 3}
	m := &mos{Version: mosVersion, Name: "tank", GUID: 42, Created: 1700000000, NextID: 4, Datasets: map[uint64]*dsRec{
		1: {ID: 1, GUID: 7, Name: "tank", Type: "filesystem", CreateTxg: 1, Root: root, Snaps: []uint64{3}},
		2: {ID: 2, GUID: 8, Name: "tank/secret", Type: "filesystem", Parent: 1, CreateTxg: 2, Root: root,
			Suite: 6, KeyGUID: 99, EncRoot: 2, Wrapped: make([]byte, 76),
			KeyInfo: &keyInfo{Format: "passphrase", Location: "prompt", KDF: 1, Salt: make([]byte, 16), Iters: 100000},
			Props:   map[string]string{"compression": "zstd"}},
		3: {ID: 3, GUID: 9, Name: "tank@snap", Type: "snapshot", Parent: 1, CreateTxg: 3, Root: root},
	}}
	doc, err := m.marshal()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(doc)
	f.Add([]byte(`{"version":1,"datasets":{}}`))
	f.Add([]byte(`{"version":1,"datasets":{"1":null}}`))
	f.Add([]byte(`{"version":1,"datasets":{"1":{"id":2,"name":"x"}}}`))
	f.Add([]byte(`{"version":1,"datasets":{"x":{"id":1,"name":"x"}}}`))
	f.Add([]byte(`{"version":1,"datasets":{"1":{"id":1,"name":"x","root":{"Type":9,"PSize":1}}}}`))
	f.Add([]byte(`{"version":2,"datasets":{}}`))
	f.Add([]byte(`{"version":1}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseMOS(b)
		if err != nil {
			if m != nil {
				t.Fatal("document returned with an error")
			}
			return
		}
		if m.Version < mosVersionMin || m.Version > mosVersion || m.Datasets == nil {
			t.Fatalf("accepted version %d, datasets %v", m.Version, m.Datasets)
		}
		for id, r := range m.Datasets {
			if r == nil || r.ID != id || r.Name == "" {
				t.Fatalf("accepted bad record %d: %+v", id, r)
			}
			if err := r.Root.Validate(); err != nil {
				t.Fatalf("accepted bad root pointer: %v", err)
			}
		}
		doc, err := m.marshal()
		if err != nil {
			t.Fatalf("marshal of a parsed document: %v", err)
		}
		m2, err := parseMOS(doc)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		d1, _ := json.Marshal(m)
		d2, _ := json.Marshal(m2)
		if string(d1) != string(d2) {
			t.Fatal("round trip changed the document")
		}
	})
}
