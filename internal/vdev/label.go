package vdev

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// LabelVersion is the only label format version this package reads and writes.
const LabelVersion = 1

// Label states.
const (
	LabelActive    = "active"
	LabelExported  = "exported"
	LabelDestroyed = "destroyed"
)

var (
	// ErrNoLabel means the directory has no vdev label (or does not exist).
	ErrNoLabel = errors.New("no vdev label")
	// ErrBadLabel means the label exists but cannot be used: bad JSON,
	// unknown version or state.
	ErrBadLabel = errors.New("bad vdev label")
)

// Label identifies a leaf vdev: which pool and top-level vdev it belongs to.
// It is stored as JSON in DIR/label.json and replaced atomically.
type Label struct {
	Version  int             `json:"version"` // LabelVersion
	PoolName string          `json:"pool_name"`
	PoolGUID uint64          `json:"pool_guid"`
	TopGUID  uint64          `json:"top_guid"` // the top-level vdev (mirror or single) this leaf belongs to
	GUID     uint64          `json:"guid"`     // this leaf
	TopIndex int             `json:"top_index"`
	State    string          `json:"state"`            // LabelActive, LabelExported, LabelDestroyed
	Txg      uint64          `json:"txg"`              // last txg at label write
	Config   json.RawMessage `json:"config,omitempty"` // pool config blob, opaque to vdev; must be valid JSON, stored compacted
}

func (lb Label) validate() error {
	if lb.Version != LabelVersion {
		return fmt.Errorf("unsupported label version %d", lb.Version)
	}
	switch lb.State {
	case LabelActive, LabelExported, LabelDestroyed:
	default:
		return fmt.Errorf("unknown label state %q", lb.State)
	}
	return nil
}

// ReadLabel reads the label of the leaf vdev in dir without locking it, for
// import scans. A missing directory or label wraps ErrNoLabel and
// fs.ErrNotExist; an unreadable label wraps ErrBadLabel.
func ReadLabel(dir string) (Label, error) {
	b, err := os.ReadFile(filepath.Join(dir, labelFile))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(dir); serr != nil {
				return Label{}, fmt.Errorf("vdev %s does not exist: %w: %w", dir, ErrNoLabel, fs.ErrNotExist)
			}
			return Label{}, fmt.Errorf("vdev %s: %w: %w", dir, ErrNoLabel, fs.ErrNotExist)
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is already in our message
		}
		return Label{}, fmt.Errorf("vdev %s: read label: %w", dir, err)
	}
	var lb Label
	if err := json.Unmarshal(b, &lb); err != nil {
		return Label{}, fmt.Errorf("vdev %s: %w: %v", dir, ErrBadLabel, err)
	}
	if err := lb.validate(); err != nil {
		return Label{}, fmt.Errorf("vdev %s: %w: %v", dir, ErrBadLabel, err)
	}
	return lb, nil
}

// writeLabel replaces dir/label.json atomically: write a temporary file,
// fsync it, rename it over the label, fsync the directory. A crash leaves
// either the old or the new label, never a mix.
func writeLabel(dir string, lb Label) error {
	if err := lb.validate(); err != nil {
		return fmt.Errorf("vdev %s: write label: %w", dir, err)
	}
	b, err := json.Marshal(lb) // compact: Config is stored without whitespace
	if err != nil {
		return fmt.Errorf("vdev %s: write label: %w", dir, err)
	}
	b = append(b, '\n')
	tmp := filepath.Join(dir, labelTmpFile)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("vdev %s: write label: %w", dir, err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, labelFile))
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("vdev %s: write label: %w", dir, err)
	}
	return nil
}

// syncDir fsyncs a directory so that entries created or renamed in it are
// durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
