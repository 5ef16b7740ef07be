// Package lease is the strongly consistent registry of a Grove cluster:
// names and locks held under leases, with fencing tokens, replicated by a
// Raft group (package raft). It is the CP choice next to the eventually
// consistent cluster registry: a name has at most one holder at any time,
// as decided by the group, and a partitioned minority cannot take it.
//
// A holder acquires a name for a TTL and keeps it by renewing before the
// TTL runs out; the leader releases a lease whose TTL passed without a
// renewal, and releases a name bound to a process (Register) when the
// process exits or its node goes down. Every acquisition by a new holder
// gets a fencing token greater than every token the name had before, so a
// resource guarded by a lock can refuse a stale holder — one that was paused
// past its lease, say — by remembering the highest token it has seen
// (Kleppmann's fencing tokens). Re-acquiring a name one already holds keeps
// its token.
//
// # Time
//
// The group's state moves only by commands, so leases expire by a command
// the leader proposes when its timer fires (a raft.Timer effect, on the
// leader's clock). After a leadership change the new leader starts every
// lease's timer afresh: a lease can last up to one TTL longer than asked
// across a failover, never shorter. Holders must therefore not rely on the
// exact expiry time; they renew at a fraction of the TTL and fence their
// writes with the token.
//
// # Usage
//
//	s, err := lease.Open(ctx, host, lease.Config{Members: members})
//	l, err := s.Acquire(ctx, "jobs/scheduler", "worker-7", 10*time.Second)
//	if errors.Is(err, lease.ErrHeld) { ... } // someone else holds it
//	defer l.Release(ctx)
//	go l.KeepAlive(ctx, 3*time.Second)       // renews until ctx ends or the lease is lost
//	db.Write(x, l.Token())                    // the resource refuses tokens lower than one it saw
//
//	// A name bound to a process, usable as a via name:
//	_, err = s.Register(ctx, "billing", pid, 10*time.Second)
//	rt.SendTo(s.Via("billing"), msg)
package lease
