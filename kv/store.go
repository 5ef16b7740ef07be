package kv

import (
	"context"
	"errors"
	"fmt"

	"github.com/grovedev/grove/raft"
)

// Default limits.
const (
	DefaultMaxKeyBytes   = 1 << 10
	DefaultMaxValueBytes = 512 << 10
	// DefaultGroup is the Raft group name of the store.
	DefaultGroup = "grove.kv"
)

var (
	// ErrNotFound: the key does not exist.
	ErrNotFound = errors.New("kv: not found")
	// ErrTooLarge: a key or value exceeds the store's limits.
	ErrTooLarge = errors.New("kv: key or value too large")
	// ErrInvalidKey: an empty key.
	ErrInvalidKey = errors.New("kv: invalid key")
)

// Config describes a store.
type Config struct {
	// Group is the Raft group's name. Default DefaultGroup.
	Group string
	// Members are the first voters (see raft.GroupConfig.Members).
	Members []string
	// Join starts this member empty, to be added by the leader.
	Join bool
	// MaxKeyBytes and MaxValueBytes bound keys and values. Defaults 1 KiB
	// and 512 KiB.
	MaxKeyBytes, MaxValueBytes int
}

// Validate checks the fields.
func (c *Config) Validate() error {
	if c.MaxKeyBytes < 0 || c.MaxValueBytes < 0 {
		return fmt.Errorf("kv: negative limit")
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Group == "" {
		c.Group = DefaultGroup
	}
	if c.MaxKeyBytes == 0 {
		c.MaxKeyBytes = DefaultMaxKeyBytes
	}
	if c.MaxValueBytes == 0 {
		c.MaxValueBytes = DefaultMaxValueBytes
	}
	return c
}

// Store is a linearizable key-value store replicated by a Raft group. It
// is safe for concurrent use.
type Store struct {
	g   *raft.Group
	cfg Config
}

// Open starts (or restarts from the host's log) this node's member of the
// store.
func Open(ctx context.Context, h *raft.Host, cfg Config) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	g, err := h.StartGroup(ctx, raft.GroupConfig{Name: cfg.Group, Members: cfg.Members, Join: cfg.Join, Machine: newMachine()})
	if err != nil {
		return nil, err
	}
	return &Store{g: g, cfg: cfg}, nil
}

// Group returns the store's Raft group.
func (s *Store) Group() *raft.Group { return s.g }

// Limits returns the key and value limits.
func (s *Store) Limits() (maxKey, maxValue int) { return s.cfg.MaxKeyBytes, s.cfg.MaxValueBytes }

func (s *Store) checkKey(key string) error {
	if key == "" {
		return ErrInvalidKey
	}
	if len(key) > s.cfg.MaxKeyBytes {
		return fmt.Errorf("%w: key of %d bytes, limit %d", ErrTooLarge, len(key), s.cfg.MaxKeyBytes)
	}
	return nil
}

// Put writes key and returns its new version.
func (s *Store) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	r, err := s.Txn(ctx, Txn{Then: []Op{{Key: key, Value: value}}})
	return r.Version, err
}

// CompareAndPut writes key only if its version is version (0: the key
// must not exist); a mismatch fails with a *ConflictError.
func (s *Store) CompareAndPut(ctx context.Context, key string, value []byte, version uint64) (uint64, error) {
	r, err := s.Txn(ctx, Txn{If: []Compare{{key, version}}, Then: []Op{{Key: key, Value: value}}})
	return r.Version, err
}

// Delete removes key and returns the version it had (0: it did not exist).
func (s *Store) Delete(ctx context.Context, key string) (uint64, error) {
	r, err := s.Txn(ctx, Txn{Then: []Op{{Key: key, Delete: true}}})
	if err != nil {
		return 0, err
	}
	return r.Previous[0], nil
}

// CompareAndDelete removes key only if its version is version.
func (s *Store) CompareAndDelete(ctx context.Context, key string, version uint64) (uint64, error) {
	r, err := s.Txn(ctx, Txn{If: []Compare{{key, version}}, Then: []Op{{Key: key, Delete: true}}})
	if err != nil {
		return 0, err
	}
	return r.Previous[0], nil
}

// Txn applies a multi-key transaction atomically. A failed comparison
// returns a *ConflictError naming the first key that did not match; the
// raft package's errors tell the rest (raft.ErrUnknownOutcome, ...).
func (s *Store) Txn(ctx context.Context, t Txn) (TxnResult, error) {
	if len(t.Then) == 0 && len(t.If) == 0 {
		return TxnResult{}, errors.New("kv: empty transaction")
	}
	for _, c := range t.If {
		if err := s.checkKey(c.Key); err != nil {
			return TxnResult{}, err
		}
	}
	for _, o := range t.Then {
		if err := s.checkKey(o.Key); err != nil {
			return TxnResult{}, err
		}
		if len(o.Value) > s.cfg.MaxValueBytes {
			return TxnResult{}, fmt.Errorf("%w: value of %d bytes, limit %d", ErrTooLarge, len(o.Value), s.cfg.MaxValueBytes)
		}
	}
	res, err := s.g.Command(ctx, encodeTxn(t))
	if err != nil {
		var rej *raft.RejectedError
		if errors.As(err, &rej) {
			var ce *ConflictError
			if errors.As(rej.Err, &ce) {
				return TxnResult{}, ce
			}
		}
		if errors.Is(err, raft.ErrTooLarge) {
			return TxnResult{}, fmt.Errorf("%w: %v", ErrTooLarge, err)
		}
		return TxnResult{}, err
	}
	return res.Reply.(TxnResult), nil
}

// Consistency chooses how a read is served.
type Consistency int

const (
	// Linearizable reads through Raft's ReadIndex (the default).
	Linearizable Consistency = iota
	// Stale reads this member's copy at once: possibly behind.
	Stale
)

// Get reads key; ErrNotFound if it does not exist.
func (s *Store) Get(ctx context.Context, key string, c Consistency) (Item, error) {
	if err := s.checkKey(key); err != nil {
		return Item{}, err
	}
	q := s.g.ConsistentQuery
	if c == Stale {
		q = s.g.LocalQuery
	}
	v, err := q(ctx, func(m raft.Machine) (any, error) {
		it, ok := m.(*machine).get(key)
		if !ok {
			return nil, ErrNotFound
		}
		return it, nil
	})
	if err != nil {
		return Item{}, err
	}
	return v.(Item), nil
}
