// Package vclock implements vector clocks and the causal contexts of
// delta-state CRDTs.
//
// A Clock maps node ids to event counters. Two clocks are ordered by
// Compare: one happened before the other, after it, they are equal, or they
// are concurrent. Versioned pairs a value with its clock and
// ResolveConcurrent picks the newer of two versions, or merges them with a
// function of the caller's when they are concurrent.
//
// A Dot names one event: the Counter-th event of Node. A CausalContext is a
// set of dots stored compactly as a version vector (every dot up to a counter
// per node) plus a "dot cloud" of dots seen out of order, as in Almeida,
// Shoker and Baquero, "Delta State Replicated Data Types" (2018).
// Package crdt builds its observed-remove types on it.
//
// Nothing in this package is safe for concurrent mutation: guard a Clock or a
// CausalContext with a lock if several goroutines change it.
//
// # Usage
//
// Vector clocks:
//
//	a := vclock.Clock{}
//	a.Increment("n1")
//	b := a.Copy()
//	b.Increment("n2")
//	a.Compare(b) // vclock.Before
//	a.Increment("n1")
//	a.Compare(b) // vclock.Concurrent
//	a.Merge(b)   // a now dominates both
//
// Causal contexts:
//
//	var cc vclock.CausalContext
//	d := cc.Next("n1") // {n1 1}, now part of cc
//	cc.Contains(d)     // true
//	cc.Add(vclock.Dot{Node: "n2", Counter: 3}) // out of order: kept in the cloud
package vclock
