package dmu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"coffer/internal/compress"
	"coffer/internal/crypto"
	"coffer/internal/format"
	"coffer/internal/pool"
)

// Accounting receives the blocks an object set adds and drops, so that the
// dataset layer can keep space figures and decide whether a dropped block is
// freed or kept by a snapshot.
type Accounting interface {
	Born(bp *format.BlockPointer)
	Killed(bp *format.BlockPointer)
}

var (
	ErrNoObject  = errors.New("no such object")
	ErrReadOnly  = errors.New("read-only object set")
	ErrBonusSize = errors.New("bonus too large")
)

// metaObject is the id of the object table itself.
const metaObject = 0

// Objset is one version of a dataset's objects: the live, writable head or a
// read-only snapshot.
type Objset struct {
	mu       sync.Mutex
	pool     *pool.Pool
	kind     format.ObjsetKind
	crypt    crypto.Suite
	keyGUID  uint64
	key      *crypto.DatasetKey
	Compress compress.Alg
	// RecordSize is the block size new objects grow to (recordsize).
	RecordSize uint32
	readOnly   bool
	acct       Accounting

	meta  *Object
	objs  map[uint64]*Object
	dirty map[uint64]*Object // objects with dirty state (not the meta object)
	// dirtyBytes counts level-0 bytes waiting for the next Sync.
	dirtyBytes int64
	root       format.BlockPointer // last synced header block
	next       uint64              // next object id to allocate (0: unknown)
	// Write-behind (writebehind.go): running jobs are bounded by wbSem;
	// dropped jobs wait in wbDead for Sync to give their blocks back.
	wbSem     chan struct{}
	wbDead    []*wbJob
	wbTail    chan struct{} // closed when the last job started has allocated (or skipped)
	syncedTxg uint64        // txg of the last Sync
}

// Options configure an object set.
type Options struct {
	Kind     format.ObjsetKind
	Suite    crypto.Suite // Off: not encrypted
	KeyGUID  uint64
	Key      *crypto.DatasetKey // nil: locked (or not encrypted)
	Compress compress.Alg
	ReadOnly bool
	Acct     Accounting
}

// Create makes an empty object set in memory; Sync writes it.
func Create(p *pool.Pool, o Options) *Objset {
	os := newObjset(p, o)
	os.meta = &Object{os: os, id: metaObject, dn: format.Dnode{
		Type: format.ObjectPlain, NLevels: 1, DataBlkSz: format.DnodeBlockSize,
	}, dirtyDnode: true}
	os.dirty[metaObject] = os.meta
	return os
}

func newObjset(p *pool.Pool, o Options) *Objset {
	if o.Key != nil {
		o.KeyGUID = o.Key.GUID()
		o.Suite = o.Key.Suite()
	}
	return &Objset{pool: p, kind: o.Kind, crypt: o.Suite, keyGUID: o.KeyGUID, key: o.Key,
		Compress: o.Compress, readOnly: o.ReadOnly, acct: o.Acct,
		objs: map[uint64]*Object{}, dirty: map[uint64]*Object{}}
}

// Open loads an object set from its header block pointer.
func Open(p *pool.Pool, root format.BlockPointer, o Options) (*Objset, error) {
	var hdr format.Objset
	b, err := p.ReadBlock(&root, o.Key, headerAD(o.keyGUIDOf()))
	if err != nil {
		return nil, fmt.Errorf("read object set: %w", err)
	}
	if err := hdr.Decode(b); err != nil {
		return nil, err
	}
	if o.Key == nil {
		if o.Suite != crypto.Off && (hdr.KeyGUID != o.KeyGUID || crypto.Suite(hdr.Crypt) != o.Suite) {
			return nil, fmt.Errorf("object set: %w: header does not match the dataset's key", format.ErrCorrupt)
		}
		o.KeyGUID, o.Suite = hdr.KeyGUID, crypto.Suite(hdr.Crypt)
	} else if hdr.KeyGUID != o.Key.GUID() || crypto.Suite(hdr.Crypt) != o.Key.Suite() {
		return nil, fmt.Errorf("object set: %w: header does not match the dataset's key", format.ErrCorrupt)
	}
	os := newObjset(p, o)
	os.kind = hdr.Kind
	os.root = root
	os.meta = &Object{os: os, id: metaObject, dn: hdr.Meta}
	return os, nil
}

func (o Options) keyGUIDOf() uint64 {
	if o.Key != nil {
		return o.Key.GUID()
	}
	return o.KeyGUID
}

// Encrypted reports whether the object set's contents are encrypted.
func (os *Objset) Encrypted() bool { return os.crypt != crypto.Off }

// KeyGUID identifies the master key that protects the object set.
func (os *Objset) KeyGUID() uint64 { return os.keyGUID }

// Kind is filesystem or volume.
func (os *Objset) Kind() format.ObjsetKind { return os.kind }

// Root is the header block pointer of the last Sync.
func (os *Objset) Root() format.BlockPointer {
	os.mu.Lock()
	defer os.mu.Unlock()
	return os.root
}

// Dirty reports whether the object set has changes not yet synced.
func (os *Objset) Dirty() bool {
	os.mu.Lock()
	defer os.mu.Unlock()
	return len(os.dirty) > 0
}

// DirtyBytes is the amount of data waiting for Sync.
func (os *Objset) DirtyBytes() int64 {
	os.mu.Lock()
	defer os.mu.Unlock()
	return os.dirtyBytes
}

func (os *Objset) writable() error {
	if os.readOnly {
		return ErrReadOnly
	}
	if os.Encrypted() && os.key == nil {
		return pool.ErrKeyNotLoaded
	}
	return nil
}

// Associated data. Every layout is frozen (docs/design/on-disk-format.md).
func blockAD(keyGUID, obj uint64, level uint8, blkid, birth uint64) []byte {
	b := make([]byte, 34)
	b[0] = 'B'
	binary.LittleEndian.PutUint64(b[1:], keyGUID)
	binary.LittleEndian.PutUint64(b[9:], obj)
	b[17] = level
	binary.LittleEndian.PutUint64(b[18:], blkid)
	binary.LittleEndian.PutUint64(b[26:], birth)
	return b
}

func headerAD(keyGUID uint64) []byte {
	b := make([]byte, 9)
	b[0] = 'H'
	binary.LittleEndian.PutUint64(b[1:], keyGUID)
	return b
}

func bonusAD(keyGUID, obj, gen uint64) []byte {
	b := make([]byte, 25)
	b[0] = 'N'
	binary.LittleEndian.PutUint64(b[1:], keyGUID)
	binary.LittleEndian.PutUint64(b[9:], obj)
	binary.LittleEndian.PutUint64(b[17:], gen)
	return b
}

// readBP reads the block at bp belonging to (obj, level, blkid).
func (os *Objset) readBP(bp *format.BlockPointer, obj uint64, level uint8, blkid uint64) ([]byte, error) {
	return os.pool.ReadBlock(bp, os.key, blockAD(os.keyGUID, obj, level, blkid, bp.Birth))
}

func (os *Objset) spec(t format.BlockType, obj uint64, level uint8, blkid, txg, fill uint64) pool.BlockSpec {
	s := pool.BlockSpec{Type: t, Level: level, Compress: os.Compress, Fill: fill, Cksum: os.pool.WriteChecksum()}
	if t != format.TypeData {
		s.Compress = compress.LZ4
	}
	if os.key != nil {
		s.Key = os.key
		s.AD = blockAD(os.keyGUID, obj, level, blkid, txg)
	}
	return s
}
