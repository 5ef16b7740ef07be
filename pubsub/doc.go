// Package pubsub is publish/subscribe across a Grove cluster, the Go form of
// Phoenix.PubSub: processes, functions and channels subscribe to topics,
// and a broadcast on any node reaches the subscribers of every node.
//
// A PubSub runs on each node under one name (Config.Name). Each instance
// keeps its node's subscriptions and a server process, registered under the
// name, that receives broadcasts from the other nodes; the instances find
// each other as nodes connect.
//
// # Usage
//
//	ps, err := pubsub.Start(nd, pubsub.Config{}) // on every node
//	defer ps.Close()
//
//	// A process subscribes; messages arrive in HandleInfo as *pubsub.Message.
//	sub, err := ps.Subscribe(pid, "room:lobby")
//
//	// So can a function (called in order, one call at a time) or a channel.
//	sub, err = ps.SubscribeFunc("room:lobby", func(m *pubsub.Message) { log.Println(m.Payload) })
//	sub, err = ps.SubscribeChan("room:lobby", pubsub.WithBuffer(100, pubsub.DropOldest))
//	for m := range sub.C() { ... }
//
//	// A function that only updates memory can run on the delivering
//	// goroutine itself: no buffer, no goroutine, the cheapest subscriber.
//	sub, err = ps.SubscribeFunc("prices", func(m *pubsub.Message) { last.Store(m) }, pubsub.Inline())
//
//	ps.Broadcast(ctx, "room:lobby", Said{Who: "ann", Text: "hi"}) // every node
//	ps.BroadcastFrom(ctx, self, "room:lobby", msg)                 // not to self
//	ps.LocalBroadcast("room:lobby", msg)                           // this node
//	ps.DirectBroadcast(ctx, "b@host", "room:lobby", msg)           // node b only
//	ps.Broadcast(ctx, "room:lobby", msg, pubsub.Via("sockets"))    // custom dispatcher
//
// Broadcast, BroadcastFrom and DirectBroadcast take a context: they can
// wait while a receiving node's flow control holds its link back, and ctx
// bounds that wait. LocalBroadcast never waits.
//
// Register the payload types in the node's codec (package codec) on every
// node, as for any message between nodes.
//
// # Fan-out
//
// A broadcast is encoded once and sent as one frame to each other node
// where the PubSub runs (never one message per remote subscriber); the
// receiving server decodes it once and hands it to its node's subscribers.
// Local subscribers get it from the broadcasting goroutine itself. All
// subscribers of a node share one *Message, which they must not modify.
// Nodes without subscribers on the topic still receive the frame: the
// PubSub keeps no cluster-wide table of interests.
//
// # Guarantees
//
//   - Order: messages from one sender (a goroutine, or a process) reach
//     every subscriber in the order they were broadcast. Every frame from
//     one node to another travels on one ordered lane of their link.
//     Messages of different senders may interleave differently at different
//     subscribers.
//   - No duplicates: a frame is delivered at most once to each node, and
//     once to each subscription there.
//   - At most once across a broken link: Broadcast returns once its frames
//     are queued on the links. A frame still in flight when a link breaks
//     (heartbeat timeout, partition, the peer's crash) is lost; the PubSub
//     does not retransmit, as Phoenix.PubSub does not. A node that cannot be
//     reached when the frame is queued is named in a *BroadcastError.
//   - Flow control: a receiving node whose mailboxes hold too much from other
//     nodes (node.Config.MaxRemoteQueued) pauses the link, and Broadcast
//     waits, like any send to that node, until it has caught up: memory
//     stays bounded and nothing is dropped. With Config.InboxBound set, a
//     frame that finds the server's inbox full is refused instead; the node
//     counts it and reports it to the sending node (node.Stats.DroppedByPeer).
//   - Gap detection: on topics picked by Config.Sequenced, each node numbers
//     its cluster-wide broadcasts per topic (Message.Seq, per origin and
//     incarnation), and every subscription tracks the numbers it saw: the
//     first message after a gap carries the number of messages missed in
//     Message.Missed (counted in Stats.Missed and SubStats.Missed), so the
//     subscriber knows to resynchronise (re-read the state the topic
//     describes, say). A gap at the very end shows with the next message.
//   - Nothing is dropped silently: without faults every subscriber gets
//     every message, unless its own buffer overflows, which is counted and
//     reported to it (below).
//
// # Backpressure
//
// Each subscription has a bounded buffer (WithBuffer; default Config.Buffer
// messages and Config.Policy) chosen at subscribe time (Inline function
// subscriptions have none: they run as the message is delivered). For a function or
// channel subscriber it is the queue of messages waiting for the function
// or a receive; for a process it is the process's mailbox as the PubSub
// sees it (all its queued messages count). When a message finds it full,
// the policy decides:
//
//   - DropNewest: the new message is dropped;
//   - DropOldest: the oldest waiting one is dropped (for a process, messages
//     then wait in front of its mailbox, and are moved in as it empties,
//     retried every Config.PumpInterval);
//   - Disconnect: the subscription ends (Err and Done; a process receives
//     Disconnected), and the subscriber must subscribe again.
//
// Each drop is counted (Stats.DroppedNewest, DroppedOldest, Disconnects,
// SubStats.Dropped), logged at most once a second, and reported to the
// subscriber: the next message it receives carries in Message.Dropped the
// number of messages dropped right before it.
//
// # Subscriptions and processes
//
// A process subscription ends when the process exits (shortly after: the
// PubSub hears of the exit and removes it); Unsubscribe ends all of a
// process's subscriptions to a topic; Cancel ends one. A topic's entry goes
// away with its last subscriber, so topics nobody listens to cost nothing.
//
// # Custom dispatch
//
// A Dispatcher registered in Config.Dispatchers and named with Via replaces
// the default fan-out on every node for one broadcast, like Phoenix's
// dispatcher argument: it receives the message and the node's subscriptions
// of the topic, with their Meta (WithMeta), and may deliver to them
// (Subscription.Deliver) or do anything else with the message.
//
// # Differences from Phoenix.PubSub
//
// Subscribers are processes, functions or channels, not only processes.
// Buffers are bounded, with a policy; Phoenix sends to unbounded mailboxes.
// Sequence numbers for gap detection are an addition. Unsubscribe names the
// process instead of implying the caller.
package pubsub
