package faultkit

import (
	"errors"
	"math/rand/v2"
	"net"
	"sync"
	"time"
)

// errCut is the error of writes on a connection a drop has cut.
var errCut = errors.New("faultkit: connection cut by a dropped write")

// maxQueued bounds the bytes a connection holds back for delay or
// bandwidth before Write blocks.
const maxQueued = 4 << 20

type item struct {
	b       []byte
	at      time.Time // not before
	dup     bool
	reorder bool
	cut     bool
}

// conn applies a link's faults on the writes of one connection. Writes on
// a healthy link with nothing queued go straight through; otherwise they
// are queued and written, in order, by a goroutine that exists only while
// the queue is not empty.
type conn struct {
	net.Conn
	nw   *Network
	link Link
	done chan struct{} // closed by Close

	wmu sync.Mutex // serializes writes to Conn; taken after mu, never the other way

	mu struct {
		sync.Mutex
		rng     *rand.Rand
		q       []item
		queued  int
		pumping bool // a pump goroutine owns the queue head
		err     error
		closed  bool
		last    time.Time // when the previous write may leave
		space   *sync.Cond
	}
}

func (n *Network) wrapConn(self, peer string, c net.Conn) net.Conn {
	l := Link{self, peer}
	s1, s2 := n.seedFor(l)
	fc := &conn{Conn: c, nw: n, link: l, done: make(chan struct{})}
	fc.mu.rng = rand.New(rand.NewPCG(s1, s2))
	fc.mu.space = sync.NewCond(&fc.mu.Mutex)
	return fc
}

func (c *conn) Write(b []byte) (int, error) {
	f := c.nw.faultsFor(c.link)
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	if c.mu.err != nil {
		err := c.mu.err
		c.mu.Unlock()
		return 0, err
	}
	if f.healthy() && len(c.mu.q) == 0 && !c.mu.pumping {
		c.wmu.Lock()
		c.mu.Unlock()
		n, err := c.Conn.Write(b)
		c.wmu.Unlock()
		return n, err
	}
	c.nw.stats.Writes.Add(1)
	rng := c.mu.rng
	if f.Drop > 0 && rng.Float64() < f.Drop {
		if f.WholeWrites {
			c.nw.stats.Dropped.Add(1)
			c.mu.Unlock()
			return len(b), nil
		}
		// The stream loses this write and everything after it: cut once
		// what was written before has left.
		c.nw.stats.Cut.Add(1)
		c.mu.err = errCut
		c.enqueueLocked(item{cut: true, at: c.mu.last})
		c.mu.Unlock()
		return len(b), nil
	}
	it := item{b: append([]byte(nil), b...)}
	if f.WholeWrites {
		it.dup = f.Duplicate > 0 && rng.Float64() < f.Duplicate
		it.reorder = f.Reorder > 0 && rng.Float64() < f.Reorder
		if it.dup {
			c.nw.stats.Duplicated.Add(1)
		}
	}
	now := c.nw.clk.Now()
	d := f.Delay
	if f.Jitter > 0 {
		d += time.Duration(rng.Int64N(int64(f.Jitter)))
	}
	at := now.Add(d)
	if at.Before(c.mu.last) {
		at = c.mu.last
	}
	it.at = at
	next := at
	if f.Bandwidth > 0 {
		n := int64(len(b))
		if it.dup {
			n *= 2
		}
		next = at.Add(time.Duration(n * int64(time.Second) / f.Bandwidth))
	}
	if next.After(now) {
		c.nw.stats.Delayed.Add(1)
	}
	c.mu.last = next
	for c.mu.queued >= maxQueued && !c.mu.closed && c.mu.err == nil {
		c.mu.space.Wait()
	}
	if c.mu.closed {
		c.mu.Unlock()
		return 0, net.ErrClosed
	}
	if c.mu.err != nil {
		err := c.mu.err
		c.mu.Unlock()
		return 0, err
	}
	c.enqueueLocked(it)
	c.mu.Unlock()
	return len(b), nil
}

func (c *conn) enqueueLocked(it item) {
	c.mu.q = append(c.mu.q, it)
	c.mu.queued += len(it.b)
	if !c.mu.pumping {
		c.mu.pumping = true
		go c.pump()
	}
}

// pump writes the queue out in order, each item no earlier than its time,
// and returns when the queue is empty or the connection is closed.
func (c *conn) pump() {
	for {
		c.mu.Lock()
		if c.mu.closed || len(c.mu.q) == 0 {
			c.mu.pumping = false
			c.mu.q = nil
			c.mu.queued = 0
			c.mu.space.Broadcast()
			c.mu.Unlock()
			return
		}
		it := c.mu.q[0]
		if wait := it.at.Sub(c.nw.clk.Now()); wait > 0 {
			c.mu.Unlock()
			if !c.sleep(wait) {
				continue // closed; the top of the loop cleans up
			}
			continue
		}
		c.mu.q = c.mu.q[1:]
		popped := len(it.b)
		out := [][]byte{it.b}
		if it.dup {
			out = append(out, it.b)
		}
		if it.reorder && len(c.mu.q) > 0 && !c.mu.q[0].cut {
			// Swap with the next write: it leaves first.
			nx := c.mu.q[0]
			c.mu.q = c.mu.q[1:]
			popped += len(nx.b)
			pre := [][]byte{nx.b}
			if nx.dup {
				pre = append(pre, nx.b)
			}
			out = append(pre, out...)
			c.nw.stats.Reordered.Add(1)
		}
		c.mu.Unlock()

		if it.cut {
			c.Conn.Close()
			c.mu.Lock()
			c.mu.q = nil
			c.mu.queued = 0
			c.mu.space.Broadcast()
			c.mu.Unlock()
			continue
		}
		c.wmu.Lock()
		var err error
		for _, b := range out {
			if _, err = c.Conn.Write(b); err != nil {
				break
			}
		}
		c.wmu.Unlock()

		c.mu.Lock()
		c.mu.queued -= popped
		if err != nil {
			if c.mu.err == nil {
				c.mu.err = err
			}
			c.mu.q = nil
		}
		c.mu.space.Broadcast()
		c.mu.Unlock()
	}
}

// sleep waits d on the network's clock; false if the connection closed.
func (c *conn) sleep(d time.Duration) bool {
	ch := make(chan struct{})
	t := c.nw.clk.AfterFunc(d, func() { close(ch) })
	select {
	case <-ch:
		return true
	case <-c.done:
		t.Stop()
		return false
	}
}

func (c *conn) Close() error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return c.Conn.Close()
	}
	c.mu.closed = true
	close(c.done)
	c.mu.space.Broadcast()
	c.mu.Unlock()
	return c.Conn.Close()
}
