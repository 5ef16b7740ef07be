package node

import "sync"

// calls tracks the calls and RPCs this node waits on, by id, so that an
// answer finds its caller and a lost link fails them all.
type calls struct {
	mu   sync.Mutex
	next uint64
	m    map[uint64]*pendingCall
}

type pendingCall struct {
	node string
	ch   chan callResult // buffered 1: completing never blocks
}

type callResult struct {
	v   any
	err error
}

func (c *calls) add(node string) (uint64, *pendingCall) {
	pc := &pendingCall{node: node, ch: make(chan callResult, 1)}
	c.mu.Lock()
	c.next++
	id := c.next
	c.m[id] = pc
	c.mu.Unlock()
	return id, pc
}

func (c *calls) remove(id uint64) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

// complete answers call id if it is still waited on, and only if the
// answer comes from the node it was sent to.
func (c *calls) complete(node string, id uint64, v any, err error) {
	c.mu.Lock()
	pc := c.m[id]
	if pc == nil || pc.node != node {
		c.mu.Unlock()
		return
	}
	delete(c.m, id)
	c.mu.Unlock()
	pc.ch <- callResult{v, err}
}

// failNode fails every call waiting on node.
func (c *calls) failNode(node string, err error) {
	c.mu.Lock()
	var failed []*pendingCall
	for id, pc := range c.m {
		if pc.node == node {
			failed = append(failed, pc)
			delete(c.m, id)
		}
	}
	c.mu.Unlock()
	for _, pc := range failed {
		pc.ch <- callResult{nil, err}
	}
}

// failAll fails every waiting call.
func (c *calls) failAll(err error) {
	c.mu.Lock()
	m := c.m
	c.m = map[uint64]*pendingCall{}
	c.mu.Unlock()
	for _, pc := range m {
		pc.ch <- callResult{nil, err}
	}
}
