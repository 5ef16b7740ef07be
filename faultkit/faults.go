package faultkit

import (
	"errors"
	"fmt"
	"time"
)

// Faults describes what happens to the bytes written on one directed link
// (from one endpoint toward another). The zero value is a healthy link.
//
// A Transport carries byte streams, not messages, so every fault is defined
// on the unit the stream has: one Write call on a connection.
//
//   - Delay and Jitter hold each write back for Delay plus a uniformly
//     random extra in [0, Jitter). Writes on one connection are never
//     reordered by delay: a write leaves no earlier than the one before it.
//   - Bandwidth caps the bytes per second leaving the connection; a write
//     of n bytes occupies the link for n/Bandwidth seconds.
//   - Drop is the probability that a write is lost. A reliable stream
//     cannot lose bytes in the middle and go on, so by default a dropped
//     write cuts the connection: everything written before it arrives,
//     then the reader sees EOF and later writes fail. This is how loss
//     that TCP cannot hide reaches an application.
//   - With WholeWrites set, Drop instead removes just that write and the
//     connection goes on; Duplicate writes a write twice in a row; Reorder
//     swaps a write with the next one queued on the same connection.
//     These break the stream contract on purpose and are meaningful only
//     when every Write of the layer above carries whole records. Grove's
//     frame writer (node links) does: each Write is a batch of whole
//     frames, so a dropped write loses the frames in it, a duplicated one
//     delivers them twice, and the node sees exactly the message loss,
//     duplication and reordering a datagram network would cause. Over
//     TLS, records are authenticated, so such faults break the link.
//
// Closing a connection discards the writes it still holds back for delay
// or bandwidth, as a reset would.
//
// Duplicate and Reorder without WholeWrites are refused by Validate: on a
// stream they would corrupt it rather than model anything real.
type Faults struct {
	Drop        float64       // probability in [0,1] that a write is lost
	Delay       time.Duration // fixed latency added to every write
	Jitter      time.Duration // extra random latency in [0, Jitter)
	Bandwidth   int64         // bytes per second; 0 means unlimited
	WholeWrites bool          // drop, duplicate and reorder single writes
	Duplicate   float64       // probability a write is sent twice (WholeWrites)
	Reorder     float64       // probability a write swaps with the next (WholeWrites)
}

// ErrInvalidFaults matches the errors of Faults.Validate.
var ErrInvalidFaults = errors.New("faultkit: invalid faults")

// Validate reports values that are out of range or meaningless on a stream.
func (f Faults) Validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{"Drop", f.Drop}, {"Duplicate", f.Duplicate}, {"Reorder", f.Reorder}} {
		if p.v < 0 || p.v > 1 || p.v != p.v {
			return fmt.Errorf("%w: %s %v not in [0,1]", ErrInvalidFaults, p.name, p.v)
		}
	}
	if f.Delay < 0 || f.Jitter < 0 || f.Bandwidth < 0 {
		return fmt.Errorf("%w: negative delay, jitter or bandwidth", ErrInvalidFaults)
	}
	if !f.WholeWrites && (f.Duplicate > 0 || f.Reorder > 0) {
		return fmt.Errorf("%w: Duplicate and Reorder need WholeWrites", ErrInvalidFaults)
	}
	return nil
}

// healthy reports whether f changes nothing.
func (f Faults) healthy() bool {
	return f.Drop == 0 && f.Delay == 0 && f.Jitter == 0 && f.Bandwidth == 0 && f.Duplicate == 0 && f.Reorder == 0
}

// String describes f briefly, for logs.
func (f Faults) String() string {
	if f.healthy() {
		return "healthy"
	}
	s := ""
	add := func(format string, a ...any) {
		if s != "" {
			s += " "
		}
		s += fmt.Sprintf(format, a...)
	}
	if f.Drop > 0 {
		add("drop=%g", f.Drop)
	}
	if f.Delay > 0 || f.Jitter > 0 {
		add("delay=%v+%v", f.Delay, f.Jitter)
	}
	if f.Bandwidth > 0 {
		add("bw=%dB/s", f.Bandwidth)
	}
	if f.Duplicate > 0 {
		add("dup=%g", f.Duplicate)
	}
	if f.Reorder > 0 {
		add("reorder=%g", f.Reorder)
	}
	if f.WholeWrites {
		add("whole-writes")
	}
	return s
}
