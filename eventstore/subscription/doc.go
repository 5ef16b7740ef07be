// Package subscription delivers the events of an eventstore.Store's $all
// stream to a handler, in position order, catching up from any position:
// transient subscriptions start where they are told and remember nothing;
// persistent ones keep a named checkpoint and resume after it, across
// restarts. With a Locker, a persistent subscription runs on exactly one
// process at a time (pgstore's leases, fenced by a token).
//
// # Usage
//
//	sub, err := subscription.Start(ctx, store, subscription.Config{
//		Name: "balances", // persistent: resumes after its checkpoint
//	}, func(ctx context.Context, evs []eventstore.RecordedEvent) error {
//		return project(evs) // an error retries the same batch with backoff
//	})
//	if err != nil { ... }
//	defer sub.Close()
//	err = sub.WaitFor(ctx, appendResult.Position) // returns once handled
//
// # Delivery
//
// The subscription reads from the position after the last one it handled,
// so it never skips an event and never delivers one twice within its life;
// after a restart it resumes after the checkpoint, so a batch handled but
// not yet checkpointed when the process died is delivered again:
// handlers must be idempotent, or commit the checkpoint with their own
// work (Config.HandlerCheckpoints and pgstore.SaveCheckpointTx).
//
// The store's Watch signal wakes it up when events may have arrived; it
// also polls every Config.PollInterval and after every error, so a lost
// notification, a dropped LISTEN connection or a database restart delays
// events and never loses them. A failed read or handler is retried with
// exponential backoff (up to Config.MaxBackoff) from the same position;
// Config.OnError can stop the subscription instead.
//
// # Exactly one node
//
// With Config.Locker the subscription first acquires the lock named after
// it and runs only while it holds it. When the lock is lost (a lease not
// renewed in time: a partition, a paused process), the handler's context is
// cancelled and the subscription goes back to acquiring, resuming from the
// checkpoint. Checkpoints are saved through the lease when it offers
// fenced writes (pgstore does), so a former holder that has not noticed its
// loss yet cannot move the checkpoint.
package subscription
