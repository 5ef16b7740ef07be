// Package cluster gives a Grove node membership in a cluster: which nodes
// belong, which are alive, suspect, dead or gone, what each says about
// itself, and whether this node sits in a majority. It runs the SWIM
// protocol with Lifeguard (github.com/hashicorp/memberlist) under the node's
// name, keeps the node connected to every live member, and offers a quorum
// helper for decisions a majority must agree on.
//
// # Usage
//
//	nd, _ := node.Start(ctx, rt, node.Config{Name: "api@10.0.0.5", Listen: "10.0.0.5:4370", Cookie: cookie})
//	c, err := cluster.Start(ctx, nd, cluster.Config{
//		Bind:      "10.0.0.5:7946",
//		Seeds:     []string{"10.0.0.6:7946", "10.0.0.7:7946"},
//		Meta:      cluster.Meta{Region: "eu-west-1", Zone: "eu-west-1b", Roles: []string{"api"}},
//		SecretKey: cluster.KeyFromSecret(cookie), // optional: gossip is authenticated by the node anyway
//	})
//	if err != nil { ... }
//	defer c.Leave(ctx) // graceful: the others see "left", not "dead"
//
//	cancel := c.Subscribe(func(e cluster.Event) {
//		log.Printf("%s %s (%s)", e.Member.Name, e.Kind, e.Member.Meta.Region)
//	})
//	defer cancel()
//
//	for _, m := range c.Members() { fmt.Println(m.Name, m.State, m.Incarnation) }
//	if !c.HasQuorum() { /* refuse writes: we are on the minority side */ }
//	v, err := cluster.Quorum[string](ctx, nd, c.Voters(), "leader", nil)
//
// # Members, states and events
//
// A member is a node: its name is the node's name and its metadata (Meta:
// region, zone, roles, tags; changed at run time with UpdateMeta) travels
// with the node's address, so that members find each other's nodes.
// Member.Creation is the member's node incarnation, the one in its PIDs;
// Member.Incarnation orders its self-descriptions and grows with every
// UpdateMeta and every restart. A node restarted under the same name joins
// again with no manual step: the others see EventJoined with a higher
// Creation and Incarnation, and the node layer replaces the link to it.
//
// A member is alive, suspect (the protocol holds it alive but this node's
// link to it is down), dead (the protocol declared it failed) or left (it
// called Leave). Subscribers receive EventJoined, EventUpdated,
// EventSuspected, EventFailed and EventLeft in the order this node saw them,
// each subscriber on its own goroutine, never concurrently with itself.
// A dead member counts against quorum for DeadVoteTimeout (5 min), and
// after that until a moment this node holds a quorum (see HasQuorum); it
// stays listed as dead until ReapDeadAfter (24 h) once it stopped counting.
// Forget drops one for good. Left members are kept for ReapLeftAfter (5 min)
// and never count.
//
// # Who may be a member
//
// Every gossip connection, packets and streams alike, is authenticated by
// the node's own handshake before a byte of gossip is read: the node's TLS
// certificates (the peer's certificate, signed by a trusted CA, names the
// node it claims to be) or its cookie (through a secret derived from it for
// gossip alone). A member is listed, announced and reachable only once it
// has proved its name to this node, over a gossip connection or a node
// link; one that others describe but that has not proved its name yet
// counts against quorum as an unreachable member would, and is forgotten
// when the protocol declares it dead. A peer without the credentials
// cannot send gossip at all, so it can never appear in the member list.
//
// What an unauthenticated peer can hold on the gossip port is bounded: at
// most MaxPendingConns connections (256) waiting for their handshake,
// MaxPendingPerHost (16) from one host (more are refused at once; when all
// are taken, the oldest of the host holding the most is closed), each for at
// most AuthTimeout (2 s), with a goroutine and the handshake's few hundred
// bytes. Such connections are counted (Stats.AuthRefused, AuthTimeouts,
// AuthHangups, ConnsRefused, ConnsEvicted) and logged at a bounded rate.
//
// # Joining and merging
//
// Join exchanges state with a seed, and once more half a second later (a
// member that joined through the same seed at the same moment may have been
// missed by the first exchange). Every node link that brings news — a node
// this member does not know, or knows dead, or knows in an earlier life —
// triggers a state exchange with that node at once (or, for a node merely
// unknown to a member of a live cluster, after two gossip rounds, if gossip
// has not described it by then). So a member restarted without seeds learns
// the cluster from the links its peers redial within a fraction of a
// second, its peers learn its new life as fast (each exchange carries the
// member's own current description), and five members joining through one
// seed know each other within a second with the default configuration,
// without waiting for the periodic exchange (PushPullInterval, 30 s). While
// a restarted member knows only itself but is linked to nodes it has not
// heard the membership of, those nodes count against its quorum.
//
// Leave announces the departure (a leave notice gossiped to all, and
// carried in every later state exchange) before leaving, so that the others
// record "left" rather than "dead"; a member that heard of the failure just
// before the notice moves from dead to left with EventLeft. Close stops
// without a notice: the others will declare the member dead.
//
// # Is this node down?
//
// Two detectors watch a peer, and their verdicts meet in the member list.
//
//  1. The node link (package node). An idle link sends a heartbeat every
//     node.Config.Heartbeat (default 500 ms) and is declared dead after
//     HeartbeatTimeout of silence (default 3 s); a closed connection (the
//     peer process died, its host reset the connection) is noticed at once.
//     Either way the node emits a nodedown event, every link and monitor of
//     a process over that link fires with proc.ErrNoConnection, pending
//     calls fail, and the node redials with backoff. Here, the member turns
//     suspect (EventSuspected) and goes back to alive (EventUpdated) when a
//     link is up again. A process that needs to know now monitors.
//  2. SWIM (this package, through memberlist). Every ProbeInterval (default
//     1 s) each member probes one other; without an answer within
//     ProbeTimeout (500 ms), IndirectChecks (3) others probe it too, and
//     then the target is suspected cluster-wide. If it does not refute
//     within SuspicionMult × max(1, log10 n) × ProbeInterval (4 s up to 9
//     members, 6.8 s at 50; up to SuspicionMaxTimeoutMult (6) times longer
//     while few members confirm the suspicion), it is declared dead:
//     EventFailed, and this package disconnects the node from it
//     (node.Disconnect), so that the node stops redialing it and anything
//     still linked over it sees ErrNoConnection. SWIM's own suspicion is not
//     visible through memberlist's API; this package's "suspect" is the
//     link's.
//
// So with the defaults: a crashed process or host whose connections reset
// is nodedown and suspect at once on every connected peer, and dead about 6
// s later; a silent failure (partition, frozen host) is nodedown and
// suspect after 3 s and dead after about 6 s (measured with five members:
// see the package's benchmarks; longer for large clusters or unconfirmed
// suspicions). For faster verdicts lower node.Config.HeartbeatTimeout and
// use DefaultLocalConfig or a shorter ProbeInterval. A member comes back by refuting: a
// partitioned member that can talk to the others again is alive and
// reconnected within a few gossip rounds; after GossipToTheDeadTime (30 s)
// the members stop gossiping to the dead, and every RejoinInterval (10 s)
// each member tries to rejoin one dead member at random, which heals
// partitions of any length.
//
// Reachable lists the alive members (this one included) and HasQuorum
// reports whether they are a strict majority of the voters: alive, suspect
// and dead members (dead ones until they stop counting), members heard of
// but not yet proved, and linked nodes not yet heard from. In a 2|3
// partition of five members the three see two suspect, then dead, members
// and keep the quorum; the two lose it as soon as their links time out and
// never get it back by waiting, since a node without quorum never stops
// counting a dead member. After DeadVoteTimeout the three stop counting the
// two and hold a quorum of three, so that one more failure among them
// leaves a majority (two of three) as it would in a cluster of three.
//
// # Transport
//
// All gossip runs over a Grove transport.Transport (Config.Transport;
// default real TCP), not over memberlist's own UDP and TCP sockets, so the
// in-memory network of package transport/memnet, and fault injectors that
// wrap a Transport, carry and cut it like node links. memberlist's packets
// travel as length-prefixed frames on one outbound connection per peer
// (opened on first use, closed after 30 s idle); they stay best effort: a
// full queue or a broken connection drops them, as UDP would. Its streams
// (state exchange, fallback probes) are one connection each. Members are
// identified by "ip:port" gossip addresses (memberlist's requirement), so
// on memnet use IP-shaped addresses (faultkit.Cluster does, see
// ClusterConfig.Membership). With Config.SecretKey set, memberlist also
// encrypts and authenticates every packet and stream (AES-GCM). Stats
// counts the bytes sent and received.
//
// # Quorum
//
// Quorum calls a function registered with node.Register on many nodes at
// once and returns the result a strict majority of the distinct nodes
// asked returned. Each node votes once, errors and time-outs are not
// votes, results are compared with ==, and the call returns as soon as a
// majority agrees or no result can reach one, or at ctx's deadline with a
// *QuorumError (ErrNoQuorum).
//
// # Goroutines
//
// A Cluster owns its goroutines (wiring, maintenance, subscriptions, the
// gossip transport's readers and writers) and Close stops them and waits.
// memberlist's own goroutines stop when Close shuts it down but are not
// waited for.
package cluster
