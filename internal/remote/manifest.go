package remote

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// ManifestVersion is the version of manifest.json this package writes.
const ManifestVersion = 1

// Manifest is <prefix>/<dataset>/manifest.json: the streams of one dataset
// held by a remote, in the order they were uploaded.
type Manifest struct {
	Version int     `json:"version"`
	Dataset string  `json:"dataset"`
	Streams []Entry `json:"streams"`
}

// Entry is one stream object.
type Entry struct {
	Name     string `json:"name"`      // the snapshot it carries: tank/media@second
	GUID     uint64 `json:"guid"`      // that snapshot's GUID
	FromGUID uint64 `json:"from_guid"` // the base snapshot's GUID; 0 for a full stream
	Object   string `json:"object"`    // object key, relative to the bucket
	Bytes    int64  `json:"bytes"`
	SHA256   string `json:"sha256"` // hex, of the whole object
	Created  int64  `json:"created"`
}

// Full reports whether e is a full stream.
func (e Entry) Full() bool { return e.FromGUID == 0 }

// Snap returns the snapshot part of the entry's name ("second").
func (e Entry) Snap() string {
	_, s, _ := strings.Cut(e.Name, "@")
	return s
}

// ErrNoBackup means the remote has no backup of the snapshot asked for.
var ErrNoBackup = errors.New("no such backup")

// ParseManifest decodes and checks a manifest of dataset.
func ParseManifest(b []byte, dataset string) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("manifest is not valid JSON: %w", err)
	}
	if m.Version != ManifestVersion {
		return nil, fmt.Errorf("manifest version %d is not supported (want %d)", m.Version, ManifestVersion)
	}
	if m.Dataset != dataset {
		return nil, fmt.Errorf("manifest is of dataset '%s', not '%s'", m.Dataset, dataset)
	}
	seen := map[uint64]bool{}
	for _, e := range m.Streams {
		if e.GUID == 0 || e.Object == "" || e.Bytes <= 0 || len(e.SHA256) != 64 {
			return nil, fmt.Errorf("manifest entry '%s' is incomplete", e.Name)
		}
		if seen[e.GUID] {
			return nil, fmt.Errorf("manifest lists snapshot guid %d twice", e.GUID)
		}
		seen[e.GUID] = true
	}
	return &m, nil
}

// NewManifest returns an empty manifest of dataset.
func NewManifest(dataset string) *Manifest {
	return &Manifest{Version: ManifestVersion, Dataset: dataset, Streams: []Entry{}}
}

// Marshal encodes the manifest (indented: people read it).
func (m *Manifest) Marshal() ([]byte, error) {
	return json.MarshalIndent(m, "", "  ")
}

// ByGUID returns the entry of the snapshot with that GUID.
func (m *Manifest) ByGUID(guid uint64) (Entry, bool) {
	for _, e := range m.Streams {
		if e.GUID == guid {
			return e, true
		}
	}
	return Entry{}, false
}

// BySnap returns the entry of a snapshot named "snap", "@snap" or
// "dataset@snap".
func (m *Manifest) BySnap(snap string) (Entry, bool) {
	if i := strings.IndexByte(snap, '@'); i >= 0 {
		snap = snap[i+1:]
	}
	for i := len(m.Streams) - 1; i >= 0; i-- {
		if m.Streams[i].Snap() == snap {
			return m.Streams[i], true
		}
	}
	return Entry{}, false
}

// Newest returns the entry uploaded last.
func (m *Manifest) Newest() (Entry, bool) {
	if len(m.Streams) == 0 {
		return Entry{}, false
	}
	return m.Streams[len(m.Streams)-1], true
}

// Add appends e; a second stream of the same snapshot is refused.
func (m *Manifest) Add(e Entry) error {
	if _, ok := m.ByGUID(e.GUID); ok {
		return fmt.Errorf("the remote already has a backup of '%s'", e.Name)
	}
	if e.FromGUID != 0 {
		if _, ok := m.ByGUID(e.FromGUID); !ok {
			return fmt.Errorf("the remote has no backup of the base of '%s' (guid %d)", e.Name, e.FromGUID)
		}
	}
	m.Streams = append(m.Streams, e)
	return nil
}

// Chain returns the streams that restore snap, in the order to receive
// them: a full stream, then incrementals, each from the one before, ending
// with snap's. A base the manifest does not hold (a gap) or a loop is an
// error that names the stream whose base is missing.
func (m *Manifest) Chain(snap string) ([]Entry, error) {
	last, ok := m.BySnap(snap)
	if !ok {
		return nil, fmt.Errorf("%w of '%s'", ErrNoBackup, snapName(m.Dataset, snap))
	}
	chain := []Entry{last}
	seen := map[uint64]bool{last.GUID: true}
	for cur := last; !cur.Full(); {
		base, ok := m.ByGUID(cur.FromGUID)
		if !ok {
			return nil, fmt.Errorf("backup chain of '%s' is broken: the base of '%s' (snapshot guid %d) is missing from the remote", last.Name, cur.Name, cur.FromGUID)
		}
		if seen[base.GUID] {
			return nil, fmt.Errorf("backup chain of '%s' is broken: it loops at '%s'", last.Name, base.Name)
		}
		seen[base.GUID] = true
		chain = append(chain, base)
		cur = base
	}
	for i, j := 0, len(chain)-1; i < j; i, j = i+1, j-1 {
		chain[i], chain[j] = chain[j], chain[i]
	}
	return chain, nil
}

// snapName returns dataset@snap for snap given as "snap", "@snap" or
// "dataset@snap".
func snapName(dataset, snap string) string {
	if i := strings.IndexByte(snap, '@'); i > 0 {
		return snap
	} else if i == 0 {
		return dataset + snap
	}
	return dataset + "@" + snap
}

// After returns the part of chain that follows the stream of the snapshot
// with that GUID, and whether chain holds it: what is left to receive into
// a dataset whose newest snapshot is guid.
func After(chain []Entry, guid uint64) ([]Entry, bool) {
	for i, e := range chain {
		if e.GUID == guid {
			return chain[i+1:], true
		}
	}
	return nil, false
}
