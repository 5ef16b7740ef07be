// Package crdt implements delta-state conflict-free replicated data types
// (Almeida, Shoker and Baquero, "Delta State Replicated Data Types", 2018).
//
// Every type is a plain value with pure methods: no goroutines, no I/O, no
// clock reads. Replicas of a CRDT change independently and converge by
// joining each other's states, in any order, any number of times.
//
//   - Counters: GCounter (grow-only) and PNCounter (up and down).
//   - Sets: GSet (grow-only), TwoPSet (remove for ever, keeps tombstones)
//     and ORSet (add-wins observed-remove, no tombstones).
//   - Registers: LWWRegister (last write wins on hybrid logical clock
//     stamps) and MVRegister (keeps concurrent writes).
//   - Flags: EWFlag (enable wins) and DWFlag (disable wins).
//   - Maps: AWLWWMap (add-wins keys with last-write-wins values, the
//     common replicated map) and ORMap (observed-remove map whose values are
//     causal CRDTs, joined per key).
//
// # Deltas
//
// Each mutator applies the change to its receiver and returns a delta: a
// small state of the same type holding just that change. Sending deltas
// instead of full states is what makes replication cheap. A delta joined
// into any replica that has seen the mutator's prior state gives the same
// result as joining the mutated replica's full state, and joining deltas
// (Merge) yields a delta group. Deltas can be lost, duplicated and
// reordered; a periodic full-state join repairs any loss. A delta of a
// keyed type (ORSet, AWLWWMap, ORMap) records the keys it touches, so
// joining it costs the size of the delta rather than of the replica.
//
// # Dots and garbage collection
//
// ORSet, MVRegister, EWFlag, DWFlag, AWLWWMap and ORMap are Causal: their
// state is a store of dots (vclock.Dot, one per write that is still
// visible) plus a causal context of every dot the replica has seen. A
// removal deletes dots from the store while the context remembers them, so
// a stale add cannot come back, and nothing like a tombstone is kept. The
// context is a version vector plus a small cloud of out-of-order dots.
// GC(stable), given a causal-stability frontier (a version vector that
// every replica has reached), folds what it covers into the version vector;
// it never changes the observed value. GCounter, PNCounter, GSet and
// LWWRegister have nothing to collect. TwoPSet keeps a tombstone for every
// removed element for ever.
//
// # Using CRDTs by name
//
// State is the non-generic view of every type, for a replication service
// that holds CRDTs it only knows by name: Join, GC, MarshalBinary and
// UnmarshalBinary. A Registry maps names to constructors. Encodings are
// deterministic CBOR; decoding checks every invariant and bounds nesting
// and collection sizes (MaxNesting, MaxElements), and returns an error
// wrapping ErrMalformed for any bad input.
//
// Values are not safe for concurrent use; guard a replica with a lock.
//
// # Usage
//
//	a, b := crdt.NewORSet[string](), crdt.NewORSet[string]()
//	d := a.Add("n1", "apple") // change replica a, get the delta
//	b.Merge(d)                // ship d to b and join it
//	b.Remove("apple")
//	a.Add("n1", "apple")      // concurrent with the remove: add wins
//	a.Merge(b)
//	b.Merge(a)                // a and b now both hold {apple}
//
//	data, _ := a.MarshalBinary()
//	var c crdt.ORSet[string]
//	err := c.UnmarshalBinary(data)
package crdt
