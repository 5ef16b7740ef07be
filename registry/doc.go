// Package registry is a local, in-node key-value store of processes: the Go
// form of Elixir's Registry.
//
// A registry maps keys to entries, each made of the process that
// registered the key and a value it chose. In a registry of Unique keys a
// key names at most one process, which makes keys usable as names: Via
// turns a key into a destination that Runtime.SendTo, CallTo, Cast and
// proc.Call accept wherever a PID is. In a registry of Duplicate keys a key
// collects any number of entries (one process may even register the same
// key several times), which makes keys usable as groups or topics:
// Dispatch hands the entries of a key to a function, for example to
// broadcast a message to them.
//
// Entries belong to their process: when it exits, normally or not, the
// registry removes all of them. The registry watches each registered
// process once, however many keys it holds, and drops the watch when the
// process unregisters its last key. A registration that races with the
// exit of its process either fails with ErrNotAlive or is removed with the
// other entries; it is never left behind. The entries go before the links
// and monitors of the process are told of its exit (proc.Runtime.OnExit):
// a supervisor restarting the process under the same key, or a monitor,
// never finds the old entry. A key whose holder has exited is free at once:
// Register removes such a stale entry itself. A lookup from elsewhere racing
// with an exit can still return a process that just died, as in Elixir;
// sending to it then fails with proc.ErrNotAlive.
//
// # Usage
//
// Names for processes, in a unique registry:
//
//	names, _ := registry.New(rt, registry.Config{Keys: registry.Unique})
//	pid, _ := rt.Spawn(&session{})
//	_ = names.Register(pid, "session:42", nil)
//	reply, err := proc.Call[string](ctx, rt, names.Via("session:42"), "hello")
//
// A process can register itself from its Init, which runs after its PID
// exists:
//
//	func (s *session) Init(p *proc.Process) error {
//		return s.names.Register(p.Self(), s.key, nil)
//	}
//
// Topics, in a duplicate registry:
//
//	topics, _ := registry.New(rt, registry.Config{Keys: registry.Duplicate})
//	_ = topics.Register(subscriber, "room:lobby", nil)
//	topics.Dispatch("room:lobby", func(entries []registry.Entry) {
//		for _, e := range entries {
//			_ = rt.Send(e.PID, msg)
//		}
//	})
//
// Listeners hear of every change:
//
//	reg, _ := registry.New(rt, registry.Config{Listeners: []proc.PID{audit}})
//	// audit's HandleInfo receives registry.Registered and
//	// registry.Unregistered values.
//
// # Keys
//
// Keys are any comparable Go values, compared with ==, as map keys are.
// Register refuses with ErrInvalidKey a key that is not comparable, or not
// equal to itself (a NaN), since it could never be found again; the other
// methods find nothing under such a key.
//
// # Concurrency
//
// A Registry is safe for concurrent use by any number of goroutines and
// processes, and owns no goroutine, so it needs no Close. Keys are spread
// over Config.Partitions partitions, each with its own read-write lock:
// reads of a key (Lookup, Match, CountMatch, WhereIs, Values, Dispatch)
// take its partition's read lock; Count, Select and CountSelect take each
// partition's read lock in turn; writes of a key lock only its partition
// for writing. Changes to the entries of one process are serialized on a
// lock of that process's own, which is what makes cleanup on exit exact;
// Keys reads under that lock.
//
// Every read sees each key in a state that some moment of its history had:
// a write is atomic for the key it changes. Count, Select and CountSelect
// visit partitions one after the other, so under concurrent writes they
// need not reflect one single moment of the whole registry.
//
// Predicates given to Match, CountMatch, Select, CountSelect and
// UnregisterMatch, and the function given to UpdateValue, run with a
// partition lock held: they must be quick, must not call the registry and
// must not end processes (an exit can run the registry's cleanup on the
// goroutine that caused it, which would wait for the lock it holds). The
// function given to Dispatch runs with no lock held and may do all of
// that.
//
// # Events
//
// With Config.Listeners or Config.Callbacks, the registry reports every
// registration as a Registered event and every removed entry as an
// Unregistered event (one per entry, whether removed by Unregister,
// UnregisterMatch or the exit of its process). Ordering guarantees:
//
//   - all listeners and callbacks see all events in one total order, which
//     for every key is the order in which its changes took effect, and for
//     every process the order in which its entries changed (so the
//     removals caused by its exit come after all its other events);
//   - for one entry, Registered comes before Unregistered;
//   - when Register, Unregister or UnregisterMatch returns, its events have
//     been delivered: callbacks have returned and the messages are in the
//     listeners' mailboxes, which keep the order.
//
// Listener processes receive the events by Runtime.Send, so they arrive in
// HandleInfo. Callbacks run one at a time on the goroutine of a change:
// the writer's, another writer's that delivered the queued events of both,
// or, for removals caused by an exit, the goroutine that ended the process
// (its own, or one that killed it).
//
// Registries with listeners deliver events under a registry-wide lock;
// registries without listeners pay nothing for the feature.
//
// # Differences from Elixir
//
// Any local process may be registered by anyone who knows its PID, not only
// by itself; keys of both kinds are partitioned by key. Processes of other
// nodes cannot be registered (ErrNotLocal). Match and Select take Go
// predicates in place of match specifications. Registry metadata
// (put_meta/meta) is not provided: a Go program keeps such values in its own
// variables.
package registry
