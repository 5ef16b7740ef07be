package cluster

import "sync"

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
