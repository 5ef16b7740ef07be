package replica

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/grovedev/grove/crdt"
)

// stateKey is the pebble key of the persisted record.
var stateKey = []byte("grove.replica/state")

// recordMagic starts a persisted record; the byte after it is the format
// version.
const (
	recordMagic   = "GRVR"
	recordVersion = 1
)

// slowDisk is the duration after which a write or sync of the store is
// logged as slow.
const slowDisk = 5 * time.Second

// castagnoli is the CRC table of persisted records.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// record is what a replica persists: its CRDT state and the digest that
// describes it, written together so that they always agree.
type record struct {
	// typ is the Go type of the state, so that a store is not read into
	// a replica of another type.
	typ string
	// writer is the incarnation id of the replica that wrote the record.
	writer string
	// digest is, per origin, the sequence number up to which state holds
	// every delta.
	digest map[string]uint64
	// state is the MarshalBinary encoding of the state.
	state []byte
}

// encode returns the record's bytes: magic, version, then the type, writer,
// digest (sorted by origin) and state, each length-prefixed, and a CRC-32C
// of all that.
func (rec *record) encode() []byte {
	b := append([]byte(recordMagic), recordVersion)
	putString := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	putString(rec.typ)
	putString(rec.writer)
	b = binary.AppendUvarint(b, uint64(len(rec.digest)))
	for _, o := range slices.Sorted(maps.Keys(rec.digest)) {
		putString(o)
		b = binary.AppendUvarint(b, rec.digest[o])
	}
	b = binary.AppendUvarint(b, uint64(len(rec.state)))
	b = append(b, rec.state...)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// errBadRecord is the cause of every decoding failure of a record.
var errBadRecord = errors.New("malformed record")

// decodeRecord parses what encode wrote.
func decodeRecord(b []byte) (*record, error) {
	if len(b) < len(recordMagic)+1+4 || string(b[:len(recordMagic)]) != recordMagic {
		return nil, fmt.Errorf("%w: no record header", errBadRecord)
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, castagnoli) != sum {
		return nil, fmt.Errorf("%w: checksum mismatch", errBadRecord)
	}
	if v := body[len(recordMagic)]; v != recordVersion {
		return nil, fmt.Errorf("%w: format version %d, want %d", errBadRecord, v, recordVersion)
	}
	p := body[len(recordMagic)+1:]
	uvarint := func() (uint64, error) {
		v, n := binary.Uvarint(p)
		if n <= 0 {
			return 0, fmt.Errorf("%w: bad varint", errBadRecord)
		}
		p = p[n:]
		return v, nil
	}
	bytesField := func() ([]byte, error) {
		n, err := uvarint()
		if err != nil {
			return nil, err
		}
		if n > uint64(len(p)) {
			return nil, fmt.Errorf("%w: field of %d bytes past the end", errBadRecord, n)
		}
		v := p[:n:n]
		p = p[n:]
		return v, nil
	}
	rec := &record{digest: map[string]uint64{}}
	typ, err := bytesField()
	if err != nil {
		return nil, err
	}
	writer, err := bytesField()
	if err != nil {
		return nil, err
	}
	rec.typ, rec.writer = string(typ), string(writer)
	count, err := uvarint()
	if err != nil {
		return nil, err
	}
	if count > uint64(len(p)) { // each entry takes at least two bytes
		return nil, fmt.Errorf("%w: %d digest entries", errBadRecord, count)
	}
	for range count {
		o, err := bytesField()
		if err != nil {
			return nil, err
		}
		s, err := uvarint()
		if err != nil {
			return nil, err
		}
		rec.digest[string(o)] = s
	}
	state, err := bytesField()
	if err != nil {
		return nil, err
	}
	if len(p) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errBadRecord, len(p))
	}
	rec.state = slices.Clone(state)
	return rec, nil
}

// store is a replica's pebble database. It is safe for concurrent use.
type store struct {
	dir string
	db  *pebble.DB
	// fsCloser stops the disk-health checking of the database's files.
	// The store owns it: pebble does not stop it when Open fails.
	fsCloser io.Closer
	// mu serializes writes, so that records reach the database in the
	// order their snapshots were taken. Lock order: store.mu before
	// Replica.mu.
	mu struct {
		sync.Mutex
		written uint64 // the replica version last written
		closed  bool
	}
}

// storeDir returns the directory of replica name under dataDir. Bytes other
// than ASCII letters, digits, '-', '_' and '.' are escaped as %XX, and so is
// a leading '.', so that every name maps to its own directory inside dataDir.
func storeDir(dataDir, name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', c == '-', c == '_', c == '.' && i > 0:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return filepath.Join(dataDir, b.String())
}

// openStore opens (creating it) the store in dir and reads its record, nil
// when it holds none. A panic inside pebble on a damaged store is returned
// as an error.
func openStore(dir string, logger *slog.Logger) (s *store, rec *record, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %s: %v", ErrStore, dir, p)
		}
	}()
	fs, fsCloser := vfs.WithDiskHealthChecks(vfs.Default, slowDisk, nil, func(info vfs.DiskSlowInfo) {
		logger.Warn("replica: slow disk", "dir", dir, "info", info.String())
	})
	db, err := pebble.Open(dir, &pebble.Options{FS: fs, Logger: pebbleLogger{logger}})
	if err != nil {
		_ = fsCloser.Close()
		return nil, nil, fmt.Errorf("%w: opening %s: %w", ErrStore, dir, err)
	}
	s = &store{dir: dir, db: db, fsCloser: fsCloser}
	rec, err = s.read()
	if err != nil {
		_ = s.closeDB()
		return nil, nil, err
	}
	return s, rec, nil
}

// read returns the stored record, nil if there is none.
func (s *store) read() (*record, error) {
	v, closer, err := s.db.Get(stateKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrStore, s.dir, err)
	}
	defer closer.Close()
	rec, err := decodeRecord(v)
	if err != nil {
		return nil, fmt.Errorf("%w: reading %s: %w", ErrStore, s.dir, err)
	}
	return rec, nil
}

// writeLocked writes rec as version v of the replica's state in one batch
// and syncs it to stable storage. s.mu is held.
func (s *store) writeLocked(rec []byte, v uint64) error {
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.Set(stateKey, rec, nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	s.mu.written = v
	return nil
}

// pebbleLogger passes pebble's messages to the replica's logger: its
// informational messages at debug level.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("replica: pebble: " + fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("replica: pebble: " + fmt.Sprintf(format, args...))
}

// Fatalf must not return: pebble calls it on a broken invariant. It logs
// and then exits as pebble's default logger does.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("replica: pebble: fatal: " + fmt.Sprintf(format, args...))
	pebble.DefaultLogger.Fatalf(format, args...)
}

// close closes the database. Writes after it fail with ErrClosed.
func (s *store) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil
	}
	s.mu.closed = true
	if err := s.closeDB(); err != nil {
		return fmt.Errorf("replica: closing store %s: %w", s.dir, err)
	}
	return nil
}

// closeDB closes the database and then its file system's checker.
func (s *store) closeDB() error {
	err := s.db.Close()
	return errors.Join(err, s.fsCloser.Close())
}

// openStore opens the store under Config.DataDir and restores what it
// holds into initial and the core's digest. It runs in New, before the
// replica is shared.
func (r *Replica) openStore(initial crdt.State) error {
	dir := storeDir(r.cfg.DataDir, r.name)
	s, rec, err := openStore(dir, r.cfg.Logger)
	if err != nil {
		return err
	}
	if rec != nil {
		if err := r.restore(initial, rec); err != nil {
			_ = s.closeDB()
			return fmt.Errorf("%w: restoring %s: %w", ErrStore, dir, err)
		}
		r.cfg.Logger.Debug("replica: restored", "replica", r.name, "dir", dir, "previous", rec.writer, "id", r.core.origin)
	}
	r.store = s
	return nil
}

// restore joins rec's state into initial (the core's state) and takes its
// digest. The core keeps its fresh incarnation id: the writes of the
// earlier life go on under their own origin, whose deltas the record missed
// peers repair.
func (r *Replica) restore(initial crdt.State, rec *record) error {
	if want := stateTypeName(initial); rec.typ != want {
		return fmt.Errorf("stored state is a %s, not a %s", rec.typ, want)
	}
	st := r.core.newState()
	if err := st.UnmarshalBinary(rec.state); err != nil {
		return fmt.Errorf("decoding state: %w", err)
	}
	if err := initial.Join(st); err != nil {
		return fmt.Errorf("joining state: %w", err)
	}
	r.core.restore(rec.digest)
	return nil
}

// stateTypeName names the Go type of a state in the store.
func stateTypeName(s crdt.State) string { return reflect.TypeOf(s).String() }

// persist writes the state and its digest to the store and syncs it, if
// they changed since the last write. It returns ErrClosed if there is
// something to write and the store is closed.
func (r *Replica) persist() error {
	s := r.store
	s.mu.Lock()
	defer s.mu.Unlock()
	r.mu.RLock()
	v := r.version
	if v == s.mu.written {
		r.mu.RUnlock()
		return nil
	}
	if s.mu.closed {
		r.mu.RUnlock()
		return ErrClosed
	}
	data, err := r.core.state.MarshalBinary()
	rec := record{typ: stateTypeName(r.core.state), writer: r.core.origin, digest: r.core.seen, state: data}
	var b []byte
	if err == nil {
		b = rec.encode() // reads the digest: under the lock
	}
	r.mu.RUnlock()
	if err != nil {
		return fmt.Errorf("replica: encoding state: %w", err)
	}
	if err := s.writeLocked(b, v); err != nil {
		return fmt.Errorf("replica: writing store %s: %w", s.dir, err)
	}
	return nil
}
