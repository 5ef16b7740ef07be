package pubsub

import (
	"context"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"testing"
)

// counted is a payload that counts how often it is encoded and decoded,
// cluster-wide.
type counted struct{ N uint64 }

var encodes, decodes atomic.Uint64

func (c counted) AppendBinary(b []byte) ([]byte, error) {
	encodes.Add(1)
	return binary.BigEndian.AppendUint64(b, c.N), nil
}

func (c *counted) UnmarshalBinary(b []byte) error {
	if len(b) != 8 {
		return errors.New("counted: want 8 bytes")
	}
	decodes.Add(1)
	c.N = binary.BigEndian.Uint64(b)
	return nil
}

// A broadcast is encoded once, whatever the number of nodes and
// subscribers, travels as one frame per other node, and is decoded once
// per receiving node before its local fan-out to several subscribers
// (functions, channels and processes).
func TestBroadcastEncodedOnce(t *testing.T) {
	tc := newTestCluster(t, 4, 4, Config{})
	names := tc.c.Names()
	var got atomic.Uint64
	var inboxes []*inbox
	const subsPerNode = 5
	for _, n := range names {
		for range subsPerNode - 2 {
			if _, err := tc.get(n).SubscribeFunc("t", func(m *Message) {
				if _, ok := m.Payload.(counted); ok {
					got.Add(1)
				}
			}); err != nil {
				t.Fatal(err)
			}
		}
		sub, err := tc.get(n).SubscribeChan("t")
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for m := range sub.C() {
				if _, ok := m.Payload.(counted); ok {
					got.Add(1)
				}
			}
		}()
		b := &inbox{}
		if _, err := tc.get(n).Subscribe(spawnInbox(t, tc.c.Runtime(n), b), "t"); err != nil {
			t.Fatal(err)
		}
		inboxes = append(inboxes, b)
	}
	origin := tc.get(names[0])
	framesBefore := origin.Stats().FramesSent.Load()
	encodes.Store(0)
	decodes.Store(0)
	const broadcasts = 20
	for i := range uint64(broadcasts) {
		if err := origin.Broadcast(context.Background(), "t", counted{i}); err != nil {
			t.Fatal(err)
		}
	}
	others := uint64(len(names) - 1)
	eventually(t, func() error {
		if d := decodes.Load(); d != broadcasts*others {
			return errorf("%d decodes, want %d", d, broadcasts*others)
		}
		if g := got.Load(); g != broadcasts*uint64(len(names))*(subsPerNode-1) {
			return errorf("%d deliveries to functions and channels", g)
		}
		for i, b := range inboxes {
			if len(b.messages()) != broadcasts {
				return errorf("process on %s got %d", names[i], len(b.messages()))
			}
		}
		return nil
	})
	if e := encodes.Load(); e != broadcasts {
		t.Errorf("%d broadcasts encoded %d times", broadcasts, e)
	}
	if f := origin.Stats().FramesSent.Load() - framesBefore; f != broadcasts*others {
		t.Errorf("%d frames for %d broadcasts to %d other nodes", f, broadcasts, others)
	}
}
