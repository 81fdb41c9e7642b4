package dsl

import (
	"encoding/json"
	"fmt"

	"coffer/internal/dmu"
	"coffer/internal/format"
	"coffer/internal/stream"
)

// mosVersion is the version of the pool metadata document that new pools
// get. Version 1 pools hold only xxhash64 block checksums; from version 2
// on, new blocks take XXH3-64 (docs/design/on-disk-format.md §3, §9). A
// version 1 pool stays at 1 until a raw receive brings XXH3 blocks into it.
const (
	mosVersion    = 2
	mosVersionMin = 1
)

// writeChecksum is the checksum algorithm of the pool's new blocks.
func (m *mos) writeChecksum() uint8 {
	if m.Version >= 2 {
		return format.ChecksumXXH3
	}
	return format.ChecksumXXH64
}

// mos is the pool metadata document committed with every txg. It holds no
// secret: names, properties, the dataset tree, wrapped master keys and KDF
// parameters (docs/design/on-disk-format.md, "MOS").
type mos struct {
	Version  int               `json:"version"`
	Name     string            `json:"name"`
	GUID     uint64            `json:"guid"`
	Created  int64             `json:"created"`
	NextID   uint64            `json:"next_id"`
	Datasets map[uint64]*dsRec `json:"datasets"`
	// PassSalt is the pool's passphrase salt: the default KDF salt of new
	// passphrase encryption roots (pbkdf2salt=pool), made on first use.
	PassSalt []byte `json:"passphrase_salt,omitempty"`
}

// dsRec is one dataset or snapshot.
type dsRec struct {
	ID        uint64              `json:"id"`
	GUID      uint64              `json:"guid"`
	Name      string              `json:"name"`
	Type      string              `json:"type"`             // filesystem, volume, snapshot
	Parent    uint64              `json:"parent,omitempty"` // parent dataset; for a snapshot, its dataset
	Created   int64               `json:"created"`
	CreateTxg uint64              `json:"createtxg"`
	Root      format.BlockPointer `json:"root"`
	Props     map[string]string   `json:"props,omitempty"`
	Received  map[string]string   `json:"received,omitempty"`
	Snaps     []uint64            `json:"snaps,omitempty"` // by createtxg

	// Encryption. Snapshots use their dataset's key.
	Suite   uint8    `json:"suite,omitempty"`
	KeyGUID uint64   `json:"key_guid,omitempty"`
	EncRoot uint64   `json:"encroot,omitempty"` // id of the encryption root (itself for a root)
	Wrapped []byte   `json:"wrapped,omitempty"` // master key wrapped by the root's wrapping key
	KeyInfo *keyInfo `json:"key,omitempty"`     // on encryption roots only

	// Space, in allocated bytes unless said otherwise.
	Referenced  uint64 `json:"referenced"`
	RefLogical  uint64 `json:"ref_logical"`
	RefPhys     uint64 `json:"ref_phys"`
	UsedBySnaps uint64 `json:"used_by_snaps,omitempty"`
	Written     uint64 `json:"written"`
	PrevSnapTxg uint64 `json:"prev_snap_txg,omitempty"`
	Volsize     uint64 `json:"volsize,omitempty"`

	// Partial: created by an interrupted resumable receive; it holds no
	// data yet, only Resume.
	Partial bool `json:"partial,omitempty"`
	// Resume is the saved state of an interrupted resumable receive into
	// this dataset (receive -s).
	Resume *resumeState `json:"resume,omitempty"`
	// Rekey is the state of an interrupted or running deep rekey.
	Rekey *rekeyState `json:"rekey,omitempty"`
}

// resumeState is what an interrupted raw receive had applied: the blocks it
// placed (live until the receive completes or is aborted) and which of them
// still wait for their parent.
type resumeState struct {
	Begin   stream.Begin `json:"begin"`
	Records uint64       `json:"records"` // BLOCK records applied
	All     []string     `json:"all"`     // hex block pointers placed
	Placed  []placedBP   `json:"placed"`  // waiting for their parent
	Bytes   uint64       `json:"bytes"`
	Logical uint64       `json:"logical"`
	Phys    uint64       `json:"phys"`
}

type placedBP struct {
	Pos dmu.Pos `json:"pos"`
	BP  string  `json:"bp"`
}

// keyInfo describes an encryption root's user key.
type keyInfo struct {
	Format   string `json:"format"`   // raw, hex, passphrase
	Location string `json:"location"` // prompt, file://…, https://…, tpm2:…, kmip://…, pkcs11:…
	// Sealed is what a key provider returned for a provider location: the
	// wrapping key sealed by the TPM, or wrapped under a key that stays in
	// the KMIP server or PKCS#11 token. Useless without the provider.
	Sealed []byte `json:"sealed,omitempty"`
	// SealedBy is, on a raw replica of a provider root, the sender's
	// provider location that sealed Sealed; Location is then "prompt" (a
	// replica never calls a provider by itself) and load-key -L names a
	// location of the same provider kind to open it.
	SealedBy string `json:"sealed_by,omitempty"`
	KDF      uint8  `json:"kdf,omitempty"`
	Salt     []byte `json:"salt,omitempty"`
	Iters    uint32 `json:"iters,omitempty"`
	Memory   uint32 `json:"memory_kib,omitempty"`
	Threads  uint8  `json:"threads,omitempty"`
}

func (m *mos) marshal() ([]byte, error) { return json.Marshal(m) }

func parseMOS(b []byte) (*mos, error) {
	var m mos
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("pool metadata: %w: %v", format.ErrCorrupt, err)
	}
	if m.Version < mosVersionMin || m.Version > mosVersion {
		return nil, fmt.Errorf("pool metadata: unsupported version %d", m.Version)
	}
	if m.Datasets == nil {
		return nil, fmt.Errorf("pool metadata: %w: no datasets", format.ErrCorrupt)
	}
	for id, r := range m.Datasets {
		if r == nil || r.ID != id || r.Name == "" {
			return nil, fmt.Errorf("pool metadata: %w: dataset %d", format.ErrCorrupt, id)
		}
		if err := r.Root.Validate(); err != nil {
			return nil, fmt.Errorf("pool metadata: dataset %q: %w", r.Name, err)
		}
		if k := r.Rekey; k != nil && (k.KeyGUID == 0 || len(k.Wrapped) == 0 || r.Suite == 0 || r.Type == "snapshot") {
			return nil, fmt.Errorf("pool metadata: %w: dataset %q: bad rekey state", format.ErrCorrupt, r.Name)
		}
	}
	return &m, nil
}

// LatestVersion is the pool format version this coffer writes for new pools
// and upgrades to (docs/design/on-disk-format.md §9).
const LatestVersion = mosVersion

// FormatVersion is the pool's format version: its metadata's version.
func (dp *Pool) FormatVersion() int {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	return dp.m.Version
}

// Upgrade raises the pool's format to LatestVersion, as zpool upgrade
// enables a pool's features, and returns the version it had. From version
// 2 on, new blocks take XXH3-64 checksums; the blocks already written keep
// theirs. A coffer that predates the new version refuses to import the
// pool afterwards. A pool at LatestVersion is left as it is.
func (dp *Pool) Upgrade() (int, error) {
	dp.mu.Lock()
	defer dp.mu.Unlock()
	old := dp.m.Version
	if old >= LatestVersion {
		return old, nil
	}
	// The metadata says version 2 before any block takes XXH3: a version 2
	// pool may hold xxhash64 blocks, never the other way round.
	err := dp.txgDo(func(uint64) error {
		dp.m.Version = LatestVersion
		return nil
	})
	if err != nil {
		return old, err
	}
	return old, dp.p.SetWriteChecksum(dp.m.writeChecksum())
}
