package pubsub

// This file is the deterministic core of a subscription: its bounded
// buffer under a backpressure policy, and the tracking of sequence numbers
// that finds gaps. Neither is safe for concurrent use; the subscription
// guards them with its lock.

// queue is a subscription's bounded buffer. Messages wait in it for the
// subscriber; when it is full, the policy decides. Drops are carried onto
// the next message the subscriber will get, so that it always learns of
// them: a message that leaves the queue carries in Dropped the messages
// dropped right before it.
type queue struct {
	bound  int
	policy Policy
	buf    []*Message // circular, grown up to bound
	head   int
	n      int
	// pendingDropped and pendingMissed are counts to put on the next
	// message queued: drops (and gaps carried by dropped messages) that
	// happened while the queue was empty or that no queued message
	// follows.
	pendingDropped, pendingMissed uint64
}

func newQueue(bound int, policy Policy) queue {
	return queue{bound: bound, policy: policy}
}

// offer queues m under the policy. It reports whether a message was
// dropped (m itself under DropNewest, the oldest under DropOldest) and
// whether the subscription must end (Disconnect, with m not queued).
func (q *queue) offer(m *Message) (dropped, disconnect bool) {
	if q.n < q.bound {
		q.push(m)
		return false, false
	}
	switch q.policy {
	case DropOldest:
		old := q.pop()
		q.carry(old.Dropped+1, old.Missed)
		q.push(m)
		return true, false
	case Disconnect:
		return true, true
	default: // DropNewest
		q.pendingDropped++
		q.pendingMissed += m.Missed
		return true, false
	}
}

// carry puts counts on the message now at the head, or keeps them for the
// next one queued.
func (q *queue) carry(dropped, missed uint64) {
	if q.n == 0 {
		q.pendingDropped += dropped
		q.pendingMissed += missed
		return
	}
	q.buf[q.head] = q.buf[q.head].withGap(dropped, missed)
}

// skipped records a drop outside the queue (the mailbox of a process
// subscriber was full under DropNewest), to report on the next message.
func (q *queue) skipped(m *Message) {
	q.pendingDropped++
	q.pendingMissed += m.Missed
}

// stamp returns m with the pending counts on it and clears them, for a
// message that goes to the subscriber without waiting in the queue.
func (q *queue) stamp(m *Message) *Message {
	m = m.withGap(q.pendingDropped, q.pendingMissed)
	q.pendingDropped, q.pendingMissed = 0, 0
	return m
}

func (q *queue) push(m *Message) {
	m = q.stamp(m)
	if q.n == len(q.buf) {
		q.grow()
	}
	q.buf[(q.head+q.n)%len(q.buf)] = m
	q.n++
}

func (q *queue) grow() {
	size := min(max(2*len(q.buf), 4), q.bound)
	buf := make([]*Message, size)
	for i := range q.n {
		buf[i] = q.buf[(q.head+i)%len(q.buf)]
	}
	q.buf, q.head = buf, 0
}

// pop removes and returns the oldest message; the queue must not be empty.
func (q *queue) pop() *Message {
	m := q.buf[q.head]
	q.buf[q.head] = nil
	q.head = (q.head + 1) % len(q.buf)
	q.n--
	if q.n == 0 && len(q.buf) > 64 {
		q.buf, q.head = nil, 0 // give back the memory of a burst
	}
	return m
}

// clear empties the queue and returns how many messages it held.
func (q *queue) clear() int {
	n := q.n
	q.buf, q.head, q.n = nil, 0, 0
	return n
}

// seqTracker follows the sequence numbers of each origin node and finds
// the gaps.
type seqTracker struct {
	m map[string]seqPos
}

type seqPos struct{ epoch, seq uint64 }

// observe records the message numbered seq from origin in its incarnation
// epoch. It returns how many messages of origin were missed right before it,
// and dup when the message is not newer than one seen already (a
// duplicate, or a message of an earlier incarnation). The first message of
// an origin (or of a new incarnation) sets the position without a gap:
// what came before the subscription is not expected.
func (t *seqTracker) observe(origin string, epoch, seq uint64) (missed uint64, dup bool) {
	if seq == 0 {
		return 0, false
	}
	if t.m == nil {
		t.m = make(map[string]seqPos)
	}
	pos, ok := t.m[origin]
	switch {
	case !ok || epoch > pos.epoch:
		t.m[origin] = seqPos{epoch, seq}
		return 0, false
	case epoch < pos.epoch || seq <= pos.seq:
		return 0, true
	}
	t.m[origin] = seqPos{epoch, seq}
	return seq - pos.seq - 1, false
}
