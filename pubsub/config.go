package pubsub

import (
	"fmt"
	"log/slog"
	"time"
)

// Config tunes a PubSub. The zero value is usable: every field has a
// default.
type Config struct {
	// Name identifies the PubSub across the cluster: the instances of one
	// Name on different nodes exchange broadcasts. Its server process is
	// registered under it on every node. Default "grove.pubsub".
	Name string
	// Buffer is the bound of a subscription that does not choose one with
	// WithBuffer: how many messages may wait for the subscriber. For a
	// process subscriber it bounds the process's mailbox as the PubSub
	// sees it. Default 1024.
	Buffer int
	// Policy is the backpressure policy of a subscription that does not
	// choose one. Default DropNewest.
	Policy Policy
	// Sequenced picks the topics whose cluster-wide broadcasts carry a
	// sequence number per origin node (Message.Seq), so that subscribers
	// learn of gaps (Message.Missed). Give every node the same function.
	// Each node keeps one counter per sequenced topic it has broadcast on.
	// Nil means no topic.
	Sequenced func(topic string) bool
	// Dispatchers are custom dispatchers by name, for the broadcast option
	// Via. A broadcast via a name that a receiving node does not know is
	// counted there (Stats.UnknownDispatcher) and delivered by the default
	// dispatcher.
	Dispatchers map[string]Dispatcher
	// InboxBound bounds the mailbox of the server process that receives
	// broadcasts from other nodes, in frames. A frame that finds it full is
	// refused; the node counts it and reports it to the sending node, and
	// subscribers of sequenced topics see the gap. Zero (the default) leaves
	// the mailbox unbounded in count: the node's flow control
	// (node.Config.MaxRemoteQueued) bounds its bytes instead, holding back
	// broadcasters on the sending nodes rather than dropping.
	InboxBound int
	// PumpInterval is how often the messages that wait in front of a
	// process subscriber's full mailbox (policy DropOldest) are retried.
	// Default 1 ms.
	PumpInterval time.Duration
	// Logger receives warnings: drops and disconnections (at most one line
	// per second), malformed frames. Default the runtime's.
	Logger *slog.Logger
}

// Defaults for Config fields left zero.
const (
	DefaultName         = "grove.pubsub"
	DefaultBuffer       = 1024
	DefaultPumpInterval = time.Millisecond
)

// Validate reports a configuration that cannot work.
func (c Config) Validate() error {
	switch {
	case len(c.Name) > 200:
		return fmt.Errorf("%w: name of %d bytes", ErrInvalidConfig, len(c.Name))
	case c.Buffer < 0:
		return fmt.Errorf("%w: buffer %d", ErrInvalidConfig, c.Buffer)
	case c.Policy > Disconnect:
		return fmt.Errorf("%w: %v", ErrInvalidConfig, c.Policy)
	case c.InboxBound < 0:
		return fmt.Errorf("%w: inbox bound %d", ErrInvalidConfig, c.InboxBound)
	case c.PumpInterval < 0:
		return fmt.Errorf("%w: pump interval %v", ErrInvalidConfig, c.PumpInterval)
	}
	for name, d := range c.Dispatchers {
		if name == "" || len(name) > 255 || d == nil {
			return fmt.Errorf("%w: dispatcher %q", ErrInvalidConfig, name)
		}
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Name == "" {
		c.Name = DefaultName
	}
	if c.Buffer == 0 {
		c.Buffer = DefaultBuffer
	}
	if c.Policy == 0 {
		c.Policy = DropNewest
	}
	if c.PumpInterval == 0 {
		c.PumpInterval = DefaultPumpInterval
	}
	return c
}
