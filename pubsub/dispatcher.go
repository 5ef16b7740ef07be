package pubsub

// Dispatcher fans one broadcast out to the local subscribers of its topic in
// place of the default dispatcher, like the dispatcher module of
// Phoenix.PubSub.broadcast: for example to encode a message once for many
// sockets whose connections ride in the subscriptions' Meta, or to deliver to
// some subscribers only.
//
// Dispatch runs on every node that receives the broadcast (register the
// same name in Config.Dispatchers on each), on the goroutine that delivers
// it: the broadcaster's for the local node, the PubSub's server process for
// frames from other nodes. It may run concurrently for different
// broadcasts. It must not block, and must not subscribe, unsubscribe or
// cancel subscriptions of the topic (it runs under the topic's read lock).
// subs is valid only during the call. To hand the message to a
// subscription with its buffer, policy and sequence tracking, call
// Subscription.Deliver. m.From is the process whose subscriptions
// BroadcastFrom asked to skip; skipping them is up to the dispatcher.
type Dispatcher interface {
	Dispatch(m *Message, subs []*Subscription)
}

// DispatcherFunc is a Dispatcher made of a function.
type DispatcherFunc func(m *Message, subs []*Subscription)

// Dispatch calls f.
func (f DispatcherFunc) Dispatch(m *Message, subs []*Subscription) { f(m, subs) }

var _ Dispatcher = DispatcherFunc(nil)
