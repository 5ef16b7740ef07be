package lease

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/grovedev/grove/internal/wire"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/raft"
)

// holder is who holds a name, and under which lease.
type holder struct {
	Owner    string
	PID      proc.PID // zero for a plain lock
	Token    uint64
	TTL      time.Duration
	Renewals uint64
}

// machine is the replicated table of names.
type machine struct {
	names map[string]holder
}

var (
	_ raft.Machine      = (*machine)(nil)
	_ raft.StateEnterer = (*machine)(nil)
)

func newMachine() *machine { return &machine{names: map[string]holder{}} }

// Command kinds.
const (
	cmdAcquire = 1
	cmdRenew   = 2
	cmdRelease = 3
	cmdExpire  = 4
)

type command struct {
	kind     byte
	name     string
	owner    string
	pid      proc.PID
	ttl      time.Duration
	token    uint64
	renewals uint64
}

var errCommand = errors.New("lease: malformed command")

// appendPID appends an optional PID: 0, or 1 and the PID.
func appendPID(b []byte, p proc.PID) []byte {
	if p == (proc.PID{}) {
		return append(b, 0)
	}
	return wire.AppendPID(append(b, 1), p)
}

// readPID reads what appendPID wrote.
func readPID(r *wire.Reader) proc.PID {
	switch r.Byte() {
	case 0:
		return proc.PID{}
	case 1:
		return r.PID()
	}
	r.Fail("PID flag")
	return proc.PID{}
}

// maxString bounds names and owners.
const maxString = 1024

func (c command) encode() []byte {
	b := []byte{c.kind}
	b = wire.AppendString(b, c.name)
	b = wire.AppendString(b, c.owner)
	b = appendPID(b, c.pid)
	b = binary.AppendUvarint(b, uint64(c.ttl))
	b = binary.AppendUvarint(b, c.token)
	return binary.AppendUvarint(b, c.renewals)
}

func decodeCommand(b []byte) (command, error) {
	r := wire.Reader{B: b, Cause: errCommand}
	c := command{kind: r.Byte(), name: r.String(maxString), owner: r.String(maxString)}
	c.pid = readPID(&r)
	ttl := r.Uvarint()
	c.token, c.renewals = r.Uvarint(), r.Uvarint()
	if err := r.Done(); err != nil {
		return command{}, err
	}
	if c.kind < cmdAcquire || c.kind > cmdExpire || ttl > uint64(365*24*time.Hour) {
		return command{}, errCommand
	}
	c.ttl = time.Duration(ttl)
	return c, nil
}

// HeldError is the refusal of a name someone else holds.
type HeldError struct {
	Name, Owner string
	Token       uint64
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("lease: %q is held by %q (token %d)", e.Name, e.Owner, e.Token)
}

// Is makes a HeldError match ErrHeld.
func (e *HeldError) Is(target error) bool { return target == ErrHeld }

var (
	// ErrHeld matches every *HeldError.
	ErrHeld = errors.New("lease: held by another owner")
	// ErrLost: the lease is no longer held under this token (it expired,
	// was released, or another owner took the name).
	ErrLost = errors.New("lease: lost")
)

// grant is the reply of a successful acquire or renew.
type grant struct{ Token uint64 }

func timerName(name string) string { return "lease/" + name }

// effectsFor are the leader's duties for a held name: its expiry timer,
// and for a registered process, a monitor.
func effectsFor(name string, h holder) []raft.Effect {
	eff := []raft.Effect{raft.Timer{Name: timerName(name), After: h.TTL,
		Command: command{kind: cmdExpire, name: name, token: h.Token, renewals: h.Renewals}.encode()}}
	if h.PID != (proc.PID{}) {
		eff = append(eff, raft.MonitorProcess{PID: h.PID, Command: command{kind: cmdRelease, name: name, owner: h.Owner, token: h.Token}.encode()})
	}
	return eff
}

// Apply implements raft.Machine.
func (m *machine) Apply(index uint64, b []byte) (any, []raft.Effect) {
	c, err := decodeCommand(b)
	if err != nil {
		return err, nil
	}
	cur, held := m.names[c.name]
	switch c.kind {
	case cmdAcquire:
		if held && cur.Owner != c.owner {
			return &HeldError{Name: c.name, Owner: cur.Owner, Token: cur.Token}, nil
		}
		h := holder{Owner: c.owner, PID: c.pid, TTL: c.ttl, Token: index}
		if held { // the same owner again: same token, fresh lease
			h.Token, h.Renewals = cur.Token, cur.Renewals+1
		}
		m.names[c.name] = h
		return grant{Token: h.Token}, effectsFor(c.name, h)
	case cmdRenew:
		if !held || cur.Owner != c.owner || cur.Token != c.token {
			return fmt.Errorf("%w: %q", ErrLost, c.name), nil
		}
		cur.Renewals++
		m.names[c.name] = cur
		return grant{Token: cur.Token}, effectsFor(c.name, cur)[:1]
	case cmdRelease:
		if !held || cur.Token != c.token {
			return fmt.Errorf("%w: %q", ErrLost, c.name), nil
		}
		delete(m.names, c.name)
		return grant{Token: cur.Token}, []raft.Effect{raft.CancelTimer{Name: timerName(c.name)}}
	case cmdExpire:
		if held && cur.Token == c.token && cur.Renewals == c.renewals {
			delete(m.names, c.name)
		}
		return nil, nil
	}
	return errCommand, nil
}

// StateEnter implements raft.StateEnterer: a new leader arms the timers
// and monitors of every held name again.
func (m *machine) StateEnter(role raft.Role) []raft.Effect {
	if role != raft.Leader {
		return nil
	}
	var eff []raft.Effect
	for _, name := range slices.Sorted(mapsKeys(m.names)) {
		eff = append(eff, effectsFor(name, m.names[name])...)
	}
	return eff
}

func mapsKeys(m map[string]holder) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// Snapshot implements raft.Machine: the names in order.
func (m *machine) Snapshot() ([]byte, error) {
	b := []byte{1}
	b = binary.AppendUvarint(b, uint64(len(m.names)))
	for _, name := range slices.Sorted(mapsKeys(m.names)) {
		h := m.names[name]
		b = wire.AppendString(b, name)
		b = wire.AppendString(b, h.Owner)
		b = appendPID(b, h.PID)
		b = binary.AppendUvarint(b, h.Token)
		b = binary.AppendUvarint(b, uint64(h.TTL))
		b = binary.AppendUvarint(b, h.Renewals)
	}
	return b, nil
}

var errSnapshot = errors.New("lease: malformed snapshot")

// Restore implements raft.Machine.
func (m *machine) Restore(b []byte) error {
	names, err := decodeSnapshot(b)
	if err != nil {
		return err
	}
	m.names = names
	return nil
}

func decodeSnapshot(b []byte) (map[string]holder, error) {
	r := wire.Reader{B: b, Cause: errSnapshot}
	if r.Byte() != 1 {
		return nil, errSnapshot
	}
	n := r.Count()
	names := make(map[string]holder, n)
	prev := ""
	for i := 0; i < n && r.Err() == nil; i++ {
		name := r.String(maxString)
		h := holder{Owner: r.String(maxString)}
		h.PID = readPID(&r)
		h.Token = r.Uvarint()
		h.TTL, h.Renewals = time.Duration(r.Uvarint()), r.Uvarint()
		if i > 0 && strings.Compare(name, prev) <= 0 {
			r.Fail("names out of order")
		}
		prev = name
		names[name] = h
	}
	if err := r.Done(); err != nil {
		return nil, err
	}
	return names, nil
}
