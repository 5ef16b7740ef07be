package cluster

import (
	"errors"
	"log/slog"
	"sync"

	"github.com/grovedev/grove/proc"
)

// Subscribe calls fn with every member event from now on, in the order the
// events happened, until the returned cancel is called or the Cluster
// closes. fn runs on a goroutine of its own subscription, never
// concurrently with itself; a slow fn delays only its own subscription
// (events queue up for it without bound). cancel may be called more than
// once; it does not wait for a call of fn in progress.
func (c *Cluster) Subscribe(fn func(Event)) (cancel func()) {
	s := &subscriber{fn: fn, wake: make(chan struct{}, 1), quit: make(chan struct{})}
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return func() {}
	}
	id := c.mu.nextSub
	c.mu.nextSub++
	c.mu.subs[id] = s
	c.mu.Unlock()
	c.goFunc(s.run)
	return func() {
		c.mu.Lock()
		delete(c.mu.subs, id)
		c.mu.Unlock()
		s.stop()
	}
}

// subscriber is one subscription's queue and delivery goroutine.
type subscriber struct {
	fn       func(Event)
	wake     chan struct{}
	quit     chan struct{}
	stopOnce sync.Once
	mu       struct {
		sync.Mutex
		queue []Event
	}
}

func (s *subscriber) push(e Event) {
	s.mu.Lock()
	s.mu.queue = append(s.mu.queue, e)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *subscriber) stop() { s.stopOnce.Do(func() { close(s.quit) }) }

func (s *subscriber) run() {
	for {
		select {
		case <-s.quit:
			return
		case <-s.wake:
		}
		for {
			s.mu.Lock()
			q := s.mu.queue
			s.mu.queue = nil
			s.mu.Unlock()
			if len(q) == 0 {
				break
			}
			for _, e := range q {
				select {
				case <-s.quit:
					return
				default:
				}
				s.fn(e)
			}
		}
	}
}

// SubscribeProcess sends every member event from now on to the local
// process pid as an Event message (handled by HandleInfo), in order, until
// the returned cancel is called, the process exits or the Cluster closes.
// An event the process's mailbox refuses (ErrMailboxFull) is logged and
// counted in Stats().EventsRefused; no later event is skipped.
func (c *Cluster) SubscribeProcess(pid proc.PID) (cancel func()) {
	rt := c.node.Runtime()
	var (
		mu      sync.Mutex
		done    bool
		unwatch func()
	)
	var unsub func()
	stop := func() {
		mu.Lock()
		if done {
			mu.Unlock()
			return
		}
		done = true
		w := unwatch
		mu.Unlock()
		unsub()
		if w != nil {
			w()
		}
	}
	unsub = c.Subscribe(func(e Event) {
		if err := rt.Send(pid, e); err != nil {
			if errors.Is(err, proc.ErrNotAlive) {
				return // the watch ends the subscription
			}
			c.stats.EventsRefused.Add(1)
			c.log.Warn("member event refused by subscriber", slog.String("pid", pid.String()), slog.Any("err", err))
		}
	})
	// The watch may fire at once (no such process). Its callback only
	// takes Cluster.mu, which is never held while calling into proc.
	w := rt.Watch(pid, func(proc.PID, error) { stop() })
	mu.Lock()
	if done {
		mu.Unlock()
		w()
	} else {
		unwatch = w
		mu.Unlock()
	}
	return stop
}
