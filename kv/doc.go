// Package kv is a linearizable key-value store replicated by a Raft group
// (package raft): the strongly consistent store of a Grove cluster, in the
// role Mnesia or Redis play next to Erlang.
//
// Every key has a value and a version, the log index of the command that
// last wrote it: versions of a key only grow, even across a delete. Writes
// are Put, Delete, their compare-and-set forms (CompareAndPut with version
// 0 writes only a missing key) and multi-key transactions (Txn: if every
// comparison holds, every write applies, atomically). Reads are
// linearizable by default (Raft ReadIndex, on any member) or Stale (this
// member's copy, at once). A failed comparison returns a *ConflictError
// with the key's current version.
//
// Handler serves the store over HTTP; `grove node --kv` mounts it on the
// admin address (the contract is in the README).
//
// # Usage
//
//	s, err := kv.Open(ctx, host, kv.Config{Members: []string{"a@h1", "b@h2", "c@h3"}})
//	v, err := s.Put(ctx, "config/color", []byte("blue"))
//	_, err = s.CompareAndPut(ctx, "config/color", []byte("red"), v) // only if unchanged
//	it, err := s.Get(ctx, "config/color", kv.Linearizable)
//	_, err = s.Txn(ctx, kv.Txn{
//		If:   []kv.Compare{{Key: "a", Version: va}},
//		Then: []kv.Op{{Key: "a", Value: x}, {Key: "b", Delete: true}},
//	})
//
// # Errors
//
// Errors of the raft package tell whether a write happened:
// raft.ErrNoLeader, raft.ErrNoQuorum and raft.ErrTimeout mean certainly
// not applied; raft.ErrUnknownOutcome means it may have been. Status maps
// every error to its HTTP status.
package kv
