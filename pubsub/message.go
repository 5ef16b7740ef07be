package pubsub

import (
	"errors"
	"fmt"

	"github.com/grovedev/grove/proc"
)

// Message is one broadcast as a subscriber receives it. Subscribers get a
// *Message shared with the other subscribers of the node: treat it as
// read-only. Dropped and Missed are per subscriber; a message that carries
// them is the subscriber's own copy.
type Message struct {
	// Topic is the topic the message was broadcast on.
	Topic string
	// Payload is the broadcast value. From another node it is the value
	// decoded by the node's codec.
	Payload any
	// From is the process given to BroadcastFrom (whose own subscriptions
	// were skipped), zero otherwise.
	From proc.PID
	// Origin is the node that broadcast the message.
	Origin string
	// Seq numbers the cluster-wide broadcasts of Origin on a sequenced
	// topic (Config.Sequenced) from 1, per incarnation of Origin; 0 on
	// other topics and for local and direct broadcasts.
	Seq uint64
	// Dropped is how many messages this subscription dropped under its
	// backpressure policy right before this one (since the message
	// delivered before).
	Dropped uint64
	// Missed is how many messages of Origin this subscription never saw
	// right before this one: a gap in Seq, from messages lost on a broken
	// link or refused by a full node inbox.
	Missed uint64

	epoch uint64 // Origin's incarnation, which Seq restarts with
}

// withGap returns m, or a copy carrying the subscriber's own counts.
func (m *Message) withGap(dropped, missed uint64) *Message {
	if dropped == 0 && missed == 0 {
		return m
	}
	c := *m
	c.Dropped += dropped
	c.Missed += missed
	return &c
}

// Disconnected is the last message a process subscriber receives from a
// subscription that its Disconnect policy ended (Reason ErrSlowSubscriber),
// or that the PubSub closed (ErrClosed).
type Disconnected struct {
	Topic  string
	Reason error
	// Dropped counts the messages the subscription could not deliver at
	// the end: the one that overflowed the buffer and any still buffered.
	Dropped uint64
}

// Policy is what a subscription does with a message when its buffer is
// full.
type Policy uint8

// Backpressure policies. Each drop is counted in Stats and reported to the
// subscriber in the Dropped field of the next message it gets.
const (
	// DropNewest refuses the new message and keeps the buffered ones.
	DropNewest Policy = iota + 1
	// DropOldest drops the oldest buffered message to make room.
	DropOldest
	// Disconnect ends the subscription: the subscriber is told
	// (Disconnected for a process, Done and Err otherwise) and must
	// subscribe again and resynchronise.
	Disconnect
)

func (p Policy) String() string {
	switch p {
	case DropNewest:
		return "drop-newest"
	case DropOldest:
		return "drop-oldest"
	case Disconnect:
		return "disconnect"
	}
	return fmt.Sprintf("Policy(%d)", uint8(p))
}

// Errors of the package.
var (
	// ErrClosed is returned after Close, and ends every subscription.
	ErrClosed = errors.New("pubsub: closed")
	// ErrSlowSubscriber ends a subscription whose buffer overflowed under
	// the Disconnect policy.
	ErrSlowSubscriber = errors.New("pubsub: subscriber too slow")
	// ErrCancelled is the Err of a subscription cancelled by its owner
	// (Cancel, Unsubscribe) or ended by its process's exit.
	ErrCancelled = errors.New("pubsub: subscription cancelled")
	// ErrInvalidTopic is returned for an empty topic or one longer than
	// MaxTopicLen.
	ErrInvalidTopic = errors.New("pubsub: invalid topic")
	// ErrNotLocal is returned when subscribing a process of another node.
	ErrNotLocal = errors.New("pubsub: process is not local")
	// ErrUnknownDispatcher is returned for a dispatcher name that is not
	// in Config.Dispatchers.
	ErrUnknownDispatcher = errors.New("pubsub: unknown dispatcher")
	// ErrNoPeer is returned by DirectBroadcast to a node where no PubSub
	// of the same name is known.
	ErrNoPeer = errors.New("pubsub: no PubSub of this name on the node")
	// ErrInvalidConfig is returned for a configuration that cannot work.
	ErrInvalidConfig = errors.New("pubsub: invalid configuration")
	// ErrMalformed is wrapped by the errors of frames that do not decode.
	ErrMalformed = errors.New("pubsub: malformed frame")
)

// MaxTopicLen bounds a topic, in bytes.
const MaxTopicLen = 1024

func checkTopic(topic string) error {
	if topic == "" || len(topic) > MaxTopicLen {
		return fmt.Errorf("%w: %d bytes", ErrInvalidTopic, len(topic))
	}
	return nil
}

// BroadcastError reports the nodes a broadcast could not be handed to.
// Local subscribers and the other nodes got the message.
type BroadcastError struct {
	Nodes map[string]error
}

func (e *BroadcastError) Error() string {
	return fmt.Sprintf("pubsub: broadcast not sent to %d node(s): %v", len(e.Nodes), e.Nodes)
}

// Unwrap returns the errors of the nodes.
func (e *BroadcastError) Unwrap() []error {
	out := make([]error, 0, len(e.Nodes))
	for _, err := range e.Nodes {
		out = append(out, err)
	}
	return out
}
