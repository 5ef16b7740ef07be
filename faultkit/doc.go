// Package faultkit injects faults into Grove clusters running in one
// process, so that Grove's tests and its users' tests can show how a system
// behaves under partitions, message loss, delay, pauses, crashes and clock
// skew, and replay any failure from a seed. Package faultkit/history
// records what clients did and package faultkit/check judges it
// (linearizability with porcupine, sets, counters, queues, convergence).
//
// # The pieces
//
//   - Network: an in-memory network (transport/memnet) whose every
//     connection passes through a fault layer. Per directed link: drop
//     probability, fixed delay plus jitter, a bandwidth cap, and, for
//     layers that write whole records per Write, single-write drop,
//     duplication and reordering (see Faults for what each means on a
//     byte stream). Every random decision comes from a generator seeded
//     from Config.Seed.
//   - Partition shapes over a set of endpoint names: Halves, RandomHalves,
//     Isolate, MajoritiesRing, Bridge, OneWay, Groups, applied with
//     Network.Partition and removed with Network.Heal. Network.Pause and
//     Resume stall one endpoint's traffic both ways.
//   - Cluster: N Grove nodes (proc.Runtime and node.Node) on a Network,
//     each with its own clock (a clocktest.Manual or a SkewClock over the
//     real clock), with Stop, Kill and Restart under the same name. With
//     ClusterConfig.Membership each node also runs a cluster member
//     (package cluster) on an IP-shaped gossip address of its endpoint, so
//     partitions and pauses cut membership as they cut links.
//   - Nemesis: a random schedule of the faults above, a pure function of a
//     seed (Schedule), run on the real clock for a bounded time and healed
//     on Close. Seed gives a test its seed and logs it when the test
//     fails.
//
// # What a fault means in one process
//
// A partition stalls the bytes of the cut links: they stay buffered, as a
// TCP sender keeps retransmitting, and new dials across the cut fail. Nodes
// notice through their heartbeat timeout, as on a real network; after a
// heal, connections that survived deliver what they held.
//
// Pause models SIGSTOP of a host: its connections stay open and nothing
// flows to or from it. Unlike SIGSTOP, the node's own goroutines keep
// running, since they share the process with the test: its processes go on
// handling local messages and timers. Give the node a manual clock and do
// not advance it while paused to freeze its timers too.
//
// Kill closes the node's endpoint first, so every connection breaks at
// once (as the kernel of a killed process resets its sockets) and nothing
// more leaves it, then closes the node and runtime to reclaim their
// goroutines. Whatever the application kept only in memory is gone;
// Restart starts a new incarnation under the same name and address.
//
// Clock skew and jumps act through the clock each runtime is given
// (proc.Config.Clock): timers of processes, and every timestamp taken from
// Runtime.Clock. Node heartbeats and reconnection backoff use the real
// clock.
//
// # Usage
//
//	seed := faultkit.Seed(t)
//	c, err := faultkit.NewCluster(ctx, faultkit.ClusterConfig{Size: 3, Seed: seed, Register: registerMyTypes})
//	if err != nil { t.Fatal(err) }
//	defer c.Close()
//	nem := faultkit.StartNemesis(faultkit.NemesisConfig{Seed: seed, Duration: 3 * time.Second, Logf: t.Logf}, nil, c)
//	runWorkload(t, c, rec) // records into a history.Recorder
//	<-nem.Done()
//	nem.Close() // heals
//	check.RequireLinearizable(t, rec.History(), check.Options{})
//
// See docs/testing-with-faultkit.md for a walk-through.
package faultkit
