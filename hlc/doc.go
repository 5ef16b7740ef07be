// Package hlc implements hybrid logical clocks (Kulkarni, Demirbas,
// Madappa, Avva and Leone, "Logical Physical Clocks", OPODIS 2014).
//
// A Timestamp pairs a wall-clock reading in nanoseconds with a logical
// counter. A Clock issues timestamps that never go backwards, stay close to
// the physical clock it reads (the clock.Clock it is given; it never reads
// the machine's time directly), and respect happened-before: a timestamp
// issued after receiving a message is greater than the message's timestamp.
// Timestamps from different nodes can therefore be compared directly, and a
// Stamp (a timestamp plus the id of the node that issued it) is totally
// ordered, which is what last-write-wins needs; see LWW.
//
// A remote timestamp further ahead of the local physical clock than
// Config.MaxSkew is refused with a *SkewError (errors.Is ErrClockSkew) and
// counted (Clock.Rejected): taking it would drag this node's clock, and
// every clock it talks to, into the future.
//
// # Usage
//
//	c, err := hlc.New(clock.Real, hlc.Config{MaxSkew: 500 * time.Millisecond})
//	if err != nil { ... }
//	ts := c.Now()              // stamp a local event or an outgoing message
//	_, err = c.Update(remote)  // on receipt of a message stamped remote
//	if errors.Is(err, hlc.ErrClockSkew) { ... } // refuse the message
//
//	w := hlc.LWW(
//		hlc.Tagged[string]{Value: "a", Stamp: hlc.Stamp{TS: t1, Node: "n1"}},
//		hlc.Tagged[string]{Value: "b", Stamp: hlc.Stamp{TS: t2, Node: "n2"}},
//	)
package hlc
