package kv

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/grovedev/grove/internal/wire"
	"github.com/grovedev/grove/raft"
)

// Item is a key's value and version.
type Item struct {
	Value   []byte
	Version uint64
}

// machine is the replicated map: key → value and version. The version of
// a key is the log index of the command that last wrote it, so versions
// of a key only grow, also across a delete and a new put.
type machine struct {
	items map[string]Item
}

var _ raft.Machine = (*machine)(nil)

func newMachine() *machine { return &machine{items: map[string]Item{}} }

// Operation kinds.
const (
	opPut    = 1
	opDelete = 2
)

// Op is one write of a transaction: a Put (Delete false) or a Delete.
type Op struct {
	Key    string
	Value  []byte
	Delete bool
}

// Compare is a transaction's precondition: Key's version must be Version
// (0: the key must not exist).
type Compare struct {
	Key     string
	Version uint64
}

// Txn is a multi-key transaction: if every Compare holds, every Op is
// applied, atomically; otherwise nothing is.
type Txn struct {
	If   []Compare
	Then []Op
}

// ConflictError is a failed precondition: Key's version is Version, not
// the one asked for.
type ConflictError struct {
	Key     string
	Version uint64
}

func (e *ConflictError) Error() string {
	return fmt.Sprintf("kv: version conflict on %q (current version %d)", e.Key, e.Version)
}

// Is makes a ConflictError match ErrConflict.
func (e *ConflictError) Is(target error) bool { return target == ErrConflict }

// ErrConflict matches every *ConflictError.
var ErrConflict = errors.New("kv: version conflict")

// errCommand is the cause of a command that does not decode.
var errCommand = errors.New("kv: malformed command")

// TxnResult is the outcome of an applied transaction: Version is the
// version of every key it wrote; Previous the versions the keys had
// before (0: absent), in the order of Then.
type TxnResult struct {
	Version  uint64
	Previous []uint64
}

func encodeTxn(t Txn) []byte {
	b := []byte{1} // format version
	b = binary.AppendUvarint(b, uint64(len(t.If)))
	for _, c := range t.If {
		b = wire.AppendString(b, c.Key)
		b = binary.AppendUvarint(b, c.Version)
	}
	b = binary.AppendUvarint(b, uint64(len(t.Then)))
	for _, o := range t.Then {
		if o.Delete {
			b = append(b, opDelete)
			b = wire.AppendString(b, o.Key)
			continue
		}
		b = append(b, opPut)
		b = wire.AppendString(b, o.Key)
		b = binary.AppendUvarint(b, uint64(len(o.Value)))
		b = append(b, o.Value...)
	}
	return b
}

// maxField bounds a key or value in a command or snapshot: the store's
// own limits are checked before proposing, this only keeps a corrupt
// record from asking for more than it holds.
const maxField = 1 << 30

func decodeTxn(b []byte) (Txn, error) {
	r := wire.Reader{B: b, Cause: errCommand}
	if r.Byte() != 1 {
		return Txn{}, errCommand
	}
	var t Txn
	for range r.Count() {
		k := r.String(maxField)
		t.If = append(t.If, Compare{Key: k, Version: r.Uvarint()})
	}
	for n := r.Count(); n > 0 && r.Err() == nil; n-- {
		switch r.Byte() {
		case opPut:
			k := r.String(maxField)
			t.Then = append(t.Then, Op{Key: k, Value: slices.Clone(r.Bytes(maxField))})
		case opDelete:
			t.Then = append(t.Then, Op{Key: r.String(maxField), Delete: true})
		default:
			r.Fail("operation kind")
		}
	}
	if err := r.Done(); err != nil {
		return Txn{}, err
	}
	return t, nil
}

// Apply implements raft.Machine.
func (m *machine) Apply(index uint64, cmd []byte) (any, []raft.Effect) {
	t, err := decodeTxn(cmd)
	if err != nil {
		return err, nil
	}
	for _, c := range t.If {
		if cur := m.items[c.Key].Version; cur != c.Version {
			return &ConflictError{Key: c.Key, Version: cur}, nil
		}
	}
	res := TxnResult{Version: index, Previous: make([]uint64, len(t.Then))}
	for i, o := range t.Then {
		res.Previous[i] = m.items[o.Key].Version
		if o.Delete {
			delete(m.items, o.Key)
		} else {
			m.items[o.Key] = Item{Value: o.Value, Version: index}
		}
	}
	return res, nil
}

func (m *machine) get(key string) (Item, bool) {
	it, ok := m.items[key]
	return it, ok
}

// snapshotVersion is the format of the machine's snapshot.
const snapshotVersion = 1

// Snapshot implements raft.Machine: the items sorted by key.
func (m *machine) Snapshot() ([]byte, error) {
	keys := make([]string, 0, len(m.items))
	size := 16
	for k, it := range m.items {
		keys = append(keys, k)
		size += len(k) + len(it.Value) + 16
	}
	slices.Sort(keys)
	b := make([]byte, 0, size)
	b = append(b, snapshotVersion)
	b = binary.AppendUvarint(b, uint64(len(keys)))
	for _, k := range keys {
		it := m.items[k]
		b = wire.AppendString(b, k)
		b = binary.AppendUvarint(b, uint64(len(it.Value)))
		b = append(b, it.Value...)
		b = binary.AppendUvarint(b, it.Version)
	}
	return b, nil
}

// Restore implements raft.Machine.
func (m *machine) Restore(b []byte) error {
	items, err := decodeSnapshot(b)
	if err != nil {
		return err
	}
	m.items = items
	return nil
}

// errSnapshot is the cause of a snapshot that does not decode.
var errSnapshot = errors.New("kv: malformed snapshot")

func decodeSnapshot(b []byte) (map[string]Item, error) {
	r := wire.Reader{B: b, Cause: errSnapshot}
	if r.Byte() != snapshotVersion {
		return nil, errSnapshot
	}
	n := r.Count()
	items := make(map[string]Item, n)
	prev := ""
	for i := 0; i < n && r.Err() == nil; i++ {
		k := r.String(maxField)
		v := slices.Clone(r.Bytes(maxField))
		ver := r.Uvarint()
		if i > 0 && strings.Compare(k, prev) <= 0 {
			r.Fail("keys out of order")
		}
		prev = k
		items[k] = Item{Value: v, Version: ver}
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return items, nil
}
