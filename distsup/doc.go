// Package distsup is Grove's distributed dynamic supervisor: children
// started on demand anywhere in a cluster, identified by an ID unique
// cluster-wide, placed by a strategy, restarted on the survivors when their
// node dies, handed off with their state when it leaves — Horde's
// DynamicSupervisor, Akka's cluster sharding coordinator and Swarm's
// handoff, with the losses and duplicates their users report designed out.
// Singletons are one line on top.
//
// # Usage
//
//	// On every node (distsup.RegisterTypes(codec) first):
//	sup, err := distsup.Start(clu, distsup.Config{Name: "jobs"})
//	sup.Register("job", func(id string, arg any) (proc.Behavior, error) {
//		return &job{id: id, spec: arg.(JobSpec)}, nil
//	})
//
//	// From any node:
//	pid, err := sup.StartChild(ctx, distsup.ChildSpec{ID: "job:42", Kind: "job", Arg: spec})
//	n, err := proc.Call[int](ctx, rt, sup.Via("job:42"), Status{})
//	err = sup.TerminateChild(ctx, "job:42")
//
//	// Before leaving (grove node does it on SIGTERM):
//	sup.Drain(ctx)
//
//	// A cluster-wide singleton, on every node:
//	single, err := distsup.NewSingleton(clu, "scheduler", func() proc.Behavior { return &scheduler{} }, distsup.SingletonConfig{})
//	proc.Cast(single.Via(), Tick{})
//
// # The child table
//
// Every node keeps the whole table of children, replicated as the cluster
// registry is (package names): each node is the only writer of the records
// of the children it runs, sends each change to every peer at once, and a
// node's records leave the table when membership declares it dead or gone
// — but they are kept, as orphans, for the survivors to restart.
//
//   - StartChild places the child (Config.Placement over the members that
//     run this supervisor, have registered its kind, are not draining and
//     match its Pin), asks that node to start it, and returns its PID once
//     it runs and a majority of the members have its record: an
//     acknowledged start survives the death of its node (or of any
//     minority of nodes). An ID that is already in the
//     table is not started again: its PID comes back with an
//     *AlreadyStartedError.
//   - Children are restarted locally per their restart type (permanent,
//     transient, temporary, as in OTP), at most MaxRestarts times within
//     Period; past that the child is given up and removed.
//   - Failover: when membership declares a node dead (or it left, or came
//     back as a new incarnation), every survivor plans its orphans with the
//     same inputs — the orphans in ID order, the loads of the nodes without
//     the copies adopted from these orphans — so that all survivors pick
//     the same node for each, and the picked node starts it (permanent and
//     transient children; temporary ones are not restarted), as the
//     successor of the orphan's record. Failover starts as soon as the
//     verdict is in: its time is the membership's detection time plus the
//     start of the children.
//   - Duplicates: two copies of a child can run at once in the default
//     mode — on both sides of a partition (each side restarts the other's
//     children), or briefly when survivors disagree on membership. Their
//     records conflict in the table, the same copy wins on every node (the
//     latest successor of the oldest claim: after a partition, the copy
//     restarted by the side that declared the other dead), and the loser's
//     node stops its copy with ErrDuplicate. So after a heal every child
//     runs exactly once.
//
// # Handoff
//
// Drain (and the optional rebalancing, Config.Rebalance) moves children
// with their state: the old incarnation's BeginHandoff (Handoffer) returns
// the state, and from that moment the old process holds every message and
// call it receives; the new incarnation starts on the target node with
// EndHandoff (Resumer) and a record that supersedes the old one (it wins
// any conflict the old one would have won); the old process then delivers
// what it held, in order, and forwards whatever still reaches it until
// every member has stopped resolving the child to it, and only then exits.
// Messages sent by PID or through Via during the move are delivered, not
// lost. A move that fails resumes the child in place with what it held.
//
// # Singletons
//
// NewSingleton runs one child, ID name, under a supervisor of its own on
// every node that calls it: it starts when the first complete node sees it
// nowhere, moves on node loss (failover) and on leave (Drain), and Via
// reaches it from anywhere.
//
// # Trade-offs: availability or a quorum
//
// By default the supervisor chooses availability: during a partition
// every side keeps (and restarts) the children, so two copies can run
// until the heal (in Akka's terms, no downing at all), and the duplicates
// are settled then.
//
// With Config.Quorum it chooses consistency instead: every child runs
// under a lease granted by a quorum (package lease, a Raft group), so at
// most one copy of a child runs anywhere at any time; the side of a
// partition without the quorum stops its children and the side with it
// restarts them once their leases have passed. See Quorum for the
// vocabulary (static quorum, down-all) and the timing assumptions.
//
//	leases, _ := lease.Open(ctx, raftHost, lease.Config{Members: voters})
//	sup, err := distsup.Start(clu, distsup.Config{Name: "billing",
//		Quorum: &distsup.Quorum{Leases: distsup.LeaseService(leases), TTL: 5 * time.Second}})
package distsup
