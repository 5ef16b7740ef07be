package frame

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// Writer sends messages as frames over a connection, batching them.
//
// Concurrency: Write and Flush are safe for concurrent use by any number of
// goroutines; the Writer owns one goroutine that performs all writes to the
// connection. Close is idempotent and stops that goroutine. Messages written
// from one goroutine on one lane are sent in order.
type Writer struct {
	cfg  Config
	w    io.Writer
	dl   writeDeadliner // nil when w has no write deadline
	wake chan struct{}  // capacity 1: work was queued
	stop chan struct{}  // closed by Close
	done chan struct{}  // closed when the writer goroutine exits
	once sync.Once
	// deadline is the write deadline set on dl; only the holder of the
	// writing token touches it.
	deadline time.Time

	mu struct {
		sync.Mutex
		buf      []byte                  // frames for the next batch
		active   []*bigMsg               // fragmented messages in progress, one per busy lane
		next     int                     // index in active of the message whose fragment goes first
		lanes    map[uint16]*laneBacklog // lanes held by a fragmented message
		backlog  int                     // bytes queued in lane backlogs
		err      error                   // sticky: ErrClosed or the write error
		progress chan struct{}           // closed on progress; nil while nobody waits
		queued   uint64                  // bytes handed to batches so far
		written  uint64                  // bytes written to the connection so far
		spare    []byte                  // the other batch buffer, nil while in use
		writing  bool                    // a batch is being written (the writing token)
		wrote    bool                    // a batch was written since the last tick
		messages uint64                  // messages accepted
		unsent   uint64                  // messages accepted and never written (unsent.go)
		batches  uint64                  // write calls made
	}
}

type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

type bigMsg struct {
	kind    Kind
	flags   Flags
	lane    uint16
	payload []byte
	off     int  // bytes of payload already sent
	aborted bool // the writer gave up; payload must not be touched
	over    bool // finished, aborted or failed; done is closed
	err     error
	done    chan struct{}
}

type laneBacklog struct {
	items []backlogItem
}

type backlogItem struct {
	frame []byte  // a copied small frame, header included
	big   *bigMsg // or a fragmented message
}

// NewWriter returns a Writer on w and starts its goroutine. cfg must be
// valid (see Config.Validate); zero fields take defaults.
func NewWriter(w io.Writer, cfg Config) *Writer {
	cfg = cfg.withDefaults()
	fw := &Writer{
		cfg:  cfg,
		w:    w,
		wake: make(chan struct{}, 1),
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	fw.dl, _ = w.(writeDeadliner)
	// The batch buffers grow with what is queued, up to WriteBufferSize
	// and a message: an idle or quiet link holds a few KiB, not two whole
	// buffers (a node linked to many peers would hold 1 MiB per link).
	fw.mu.buf = make([]byte, 0, fw.initialBatchCap())
	fw.mu.spare = make([]byte, 0, fw.initialBatchCap())
	go fw.loop()
	return fw
}

// Write queues m. A message up to half the WriteBufferSize is copied into
// the current batch (fragmented if it exceeds ChunkSize) and Write returns
// at once, blocking only while WriteBufferSize bytes are already queued. A
// bigger message is sent fragment by fragment, interleaved with the other
// lanes' messages: Write then returns once its last fragment is queued,
// and the Writer reads m.Payload until then. If ctx ends first, a fragmented message is abandoned (the
// peer drops the part it received) and ctx's error is returned.
//
// A nil error means the message was queued, not that it was delivered; a
// later failure of the connection makes subsequent calls fail.
func (w *Writer) Write(ctx context.Context, m Message) error {
	return w.write(ctx, m, false)
}

// WriteNow is Write for a caller about to wait for an answer, such as a
// request or a reply in a call: if no write is in progress, the calling
// goroutine writes the batch itself instead of waking the Writer's
// goroutine, saving a goroutine hand-off (a few microseconds) at the cost
// of blocking for the write system call. Streams should use Write, which
// lets the caller run on while the Writer's goroutine writes.
func (w *Writer) WriteNow(ctx context.Context, m Message) error {
	return w.write(ctx, m, true)
}

func (w *Writer) write(ctx context.Context, m Message, now bool) error {
	if m.Kind < FirstUserKind || m.Flags&FlagsReserved != 0 {
		return ErrInvalid
	}
	n := len(m.Payload)
	if n > w.cfg.ChunkSize && n > w.inlineMax() {
		return w.writeBig(ctx, m)
	}
	size := framedSize(n, w.cfg.ChunkSize)
	w.mu.Lock()
	for {
		if w.mu.err != nil {
			err := w.mu.err
			w.mu.Unlock()
			return err
		}
		if w.mu.lanes != nil {
			if lb := w.mu.lanes[m.Lane]; lb != nil {
				if w.mu.backlog+size <= w.cfg.WriteBufferSize || w.mu.backlog == 0 {
					f := w.appendMessage(make([]byte, 0, size), m)
					lb.items = append(lb.items, backlogItem{frame: f})
					w.mu.backlog += len(f)
					w.mu.messages++
					w.mu.Unlock()
					return nil
				}
				if err := w.waitLocked(ctx); err != nil {
					return err
				}
				continue
			}
		}
		b := w.mu.buf
		if len(b)+size <= w.cfg.WriteBufferSize+HeaderSize || len(b) == 0 {
			wasEmpty := len(b) == 0
			w.mu.buf = w.appendMessage(b, m)
			w.mu.messages++
			if now && !w.mu.writing && len(w.mu.active) == 0 {
				out := w.takeBatchLocked()
				w.mu.Unlock()
				if !w.writeBatch(out) {
					return w.Err()
				}
				return nil
			}
			w.mu.Unlock()
			if wasEmpty {
				w.signal()
			}
			return nil
		}
		if err := w.waitLocked(ctx); err != nil {
			return err
		}
	}
}

// inlineMax is the largest message a Writer copies into its batch whole,
// as consecutive fragments, rather than sending it fragment by fragment
// with the caller waiting: half the WriteBufferSize. Such a message holds
// the other lanes back by no more than a batch does, and it costs the
// caller neither a wait for the writer goroutine nor a write call of its
// own per fragment.
func (w *Writer) inlineMax() int { return w.cfg.WriteBufferSize / 2 }

// framedSize is the bytes a message of n bytes takes on the wire: one
// frame up to chunk bytes, else fragments of chunk bytes, the first of
// which carries the message's 8-byte length.
func framedSize(n, chunk int) int {
	if n <= chunk {
		return HeaderSize + n
	}
	rest := n - (chunk - 8)
	frames := 1 + (rest+chunk-1)/chunk
	return n + 8 + frames*HeaderSize
}

// appendMessage appends m's frames to b: the frame, or every fragment in
// order, exactly as fragment-by-fragment sending lays them out.
func (w *Writer) appendMessage(b []byte, m Message) []byte {
	if len(m.Payload) <= w.cfg.ChunkSize {
		b = appendHeader(b, len(m.Payload), m.Kind, m.Flags, m.Lane)
		return append(b, m.Payload...)
	}
	bm := bigMsg{kind: m.Kind, flags: m.Flags, lane: m.Lane, payload: m.Payload}
	for bm.off < len(bm.payload) {
		b = w.appendFragment(b, &bm)
	}
	return b
}

// waitLocked waits for the writer goroutine to make progress. It is called
// with w.mu held and returns with it held, or unlocked with an error.
func (w *Writer) waitLocked(ctx context.Context) error {
	if w.mu.progress == nil {
		w.mu.progress = make(chan struct{})
	}
	ch := w.mu.progress
	w.mu.Unlock()
	w.signal()
	select {
	case <-ch:
		w.mu.Lock()
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (w *Writer) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

func (w *Writer) notifyLocked() {
	if w.mu.progress != nil {
		close(w.mu.progress)
		w.mu.progress = nil
	}
}

func (w *Writer) writeBig(ctx context.Context, m Message) error {
	if len(m.Payload) > w.cfg.MaxMessageSize {
		return &LimitError{What: "message", Size: len(m.Payload), Limit: w.cfg.MaxMessageSize}
	}
	bm := &bigMsg{kind: m.Kind, flags: m.Flags, lane: m.Lane, payload: m.Payload, done: make(chan struct{})}
	w.mu.Lock()
	if w.mu.err != nil {
		err := w.mu.err
		w.mu.Unlock()
		return err
	}
	if w.mu.lanes == nil {
		w.mu.lanes = make(map[uint16]*laneBacklog)
	}
	w.mu.messages++
	if lb := w.mu.lanes[m.Lane]; lb != nil {
		lb.items = append(lb.items, backlogItem{big: bm})
	} else {
		w.mu.lanes[m.Lane] = &laneBacklog{}
		w.mu.active = append(w.mu.active, bm)
	}
	w.mu.Unlock()
	w.signal()
	select {
	case <-bm.done:
		return bm.err
	case <-ctx.Done():
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if bm.over {
		return bm.err
	}
	bm.aborted = true
	w.signal()
	return ctx.Err()
}

// Flush blocks until every message queued before the call has been written
// to the connection, ctx ends, or the Writer fails.
func (w *Writer) Flush(ctx context.Context) error {
	w.mu.Lock()
	target := w.mu.queued + uint64(len(w.mu.buf))
	for {
		if w.mu.err != nil {
			err := w.mu.err
			w.mu.Unlock()
			return err
		}
		if w.mu.written >= target && len(w.mu.active) == 0 {
			w.mu.Unlock()
			return nil
		}
		if err := w.waitLocked(ctx); err != nil {
			return err
		}
		if len(w.mu.active) > 0 {
			// Fragments queued since the call count too; recompute.
			target = max(target, w.mu.queued+uint64(len(w.mu.buf)))
		}
	}
}

// Close stops the Writer: queued messages that were not yet written are
// dropped, and blocked or later calls return ErrClosed. Close does not close
// the connection, but if a write to it is blocked and the connection has a
// write deadline, Close sets that deadline to now to unblock it; otherwise
// close the connection first. Close is idempotent.
func (w *Writer) Close() error {
	w.once.Do(func() {
		w.fail(ErrClosed)
		close(w.stop)
		if w.dl != nil {
			_ = w.dl.SetWriteDeadline(time.Now())
		}
		<-w.done
	})
	return nil
}

// WriterStats counts a Writer's work since it was created.
type WriterStats struct {
	Messages uint64 // messages accepted by Write and WriteNow
	Batches  uint64 // write calls made on the connection
	Bytes    uint64 // bytes written to the connection
	Unsent   uint64 // messages accepted but never written: lost when the Writer failed or closed
}

// Stats returns the Writer's counters. Messages per batch shows how well
// writes are coalesced.
func (w *Writer) Stats() WriterStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return WriterStats{Messages: w.mu.messages, Batches: w.mu.batches, Bytes: w.mu.written, Unsent: w.mu.unsent}
}

// Err returns the error that stopped the Writer, or nil while it runs.
func (w *Writer) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mu.err
}

// fail makes err sticky and releases every waiter.
func (w *Writer) fail(err error) {
	lost := 0
	defer func() { w.tellUnsent(lost) }()
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.mu.err != nil {
		return
	}
	w.mu.err = err
	lost = completedMessages(w.mu.buf)
	w.mu.buf = w.mu.buf[:0]
	for _, lb := range w.mu.lanes {
		for _, it := range lb.items {
			if it.frame != nil {
				lost++
			}
		}
	}
	w.unsentLocked(lost)
	for _, bm := range w.mu.active {
		bm.finish(err)
	}
	for _, lb := range w.mu.lanes {
		for _, it := range lb.items {
			if it.big != nil {
				it.big.finish(err)
			}
		}
	}
	w.mu.active = nil
	w.mu.lanes = nil
	w.mu.backlog = 0
	w.notifyLocked()
}

func (bm *bigMsg) finish(err error) {
	if bm.over {
		return
	}
	bm.over = true
	bm.err = err
	bm.payload = nil
	close(bm.done)
}

func (w *Writer) loop() {
	defer close(w.done)
	var tick <-chan time.Time
	if w.cfg.TickInterval > 0 {
		t := time.NewTicker(w.cfg.TickInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-w.wake:
		case <-w.stop:
			return
		case <-tick:
			if !w.tick() {
				return
			}
			continue
		}
		for {
			w.mu.Lock()
			if w.mu.err != nil {
				w.mu.Unlock()
				return
			}
			if w.mu.writing {
				// A WriteNow caller holds the connection; it wakes us
				// when it is done if more is queued.
				w.mu.Unlock()
				break
			}
			out := w.takeBatchLocked()
			w.mu.Unlock()
			if out == nil {
				break
			}
			if !w.writeBatch(out) {
				return
			}
		}
	}
}

// takeBatchLocked swaps the queued frames out, adds a fragment of every
// big message, and takes the writing token. It returns nil if there is
// nothing to write.
func (w *Writer) takeBatchLocked() []byte {
	out := w.mu.buf
	w.mu.buf = w.mu.spare[:0]
	w.mu.spare = nil
	if len(w.mu.active) > 0 {
		out = w.appendFragmentsLocked(out)
	}
	if len(out) == 0 {
		w.mu.spare, w.mu.buf = w.mu.buf, out
		return nil
	}
	w.mu.writing = true
	w.mu.batches++
	w.mu.queued += uint64(len(out))
	w.mu.wrote = true
	w.notifyLocked()
	return out
}

// writeBatch writes out, then returns the writing token and the buffer. It
// reports whether the Writer is still healthy.
func (w *Writer) writeBatch(out []byte) bool {
	written, ok := w.writeOut(out)
	lost := 0
	w.mu.Lock()
	w.mu.writing = false
	if ok {
		w.mu.written += uint64(len(out))
	} else {
		lost = completedMessagesFrom(out, written)
		w.unsentLocked(lost)
	}
	if cap(out) > 4*(w.cfg.WriteBufferSize+w.cfg.ChunkSize+HeaderSize) {
		out = make([]byte, 0, w.initialBatchCap())
	}
	w.mu.spare = out[:0]
	more := len(w.mu.buf) > 0 || len(w.mu.active) > 0
	w.notifyLocked()
	w.mu.Unlock()
	w.tellUnsent(lost)
	if ok && more {
		w.signal()
	}
	return ok
}

// tick sends a heartbeat if nothing was written since the last tick.
func (w *Writer) tick() bool {
	w.mu.Lock()
	if w.mu.err != nil {
		w.mu.Unlock()
		return false
	}
	if w.mu.wrote || w.mu.writing || len(w.mu.buf) > 0 {
		w.mu.wrote = false
		w.mu.Unlock()
		return true
	}
	w.mu.buf = appendHeader(w.mu.buf, 0, KindTick, 0, 0)
	out := w.takeBatchLocked()
	w.mu.wrote = false
	w.mu.Unlock()
	return w.writeBatch(out)
}

// progressChunk is the most a write call carries when a WriteTimeout is
// set: the timeout then bounds the time to move that many bytes, so it
// measures the peer's progress rather than the time a whole batch takes.
const progressChunk = 128 << 10

// armDeadline makes the write deadline at least WriteTimeout away, moving
// it only when less than that remains, and then to an eighth more: a
// stream of batches moves it once per eighth of the timeout rather than
// once per write call. It is called by the holder of the writing token.
func (w *Writer) armDeadline() {
	now := time.Now()
	if w.deadline.Sub(now) >= w.cfg.WriteTimeout {
		return
	}
	w.deadline = now.Add(w.cfg.WriteTimeout + w.cfg.WriteTimeout/8)
	_ = w.dl.SetWriteDeadline(w.deadline)
}

// writeOut writes b; on failure it fails the Writer and reports how many
// bytes of b the connection took.
func (w *Writer) writeOut(b []byte) (written int, ok bool) {
	if w.dl == nil || w.cfg.WriteTimeout <= 0 {
		if n, err := w.w.Write(b); err != nil {
			w.fail(fmt.Errorf("frame: write: %w", err))
			return n, false
		}
		return len(b), true
	}
	// A write fails only when the peer took less than progressChunk bytes
	// in WriteTimeout: a slow but steady reader keeps the link.
	for written < len(b) {
		k := min(len(b)-written, progressChunk)
		w.armDeadline()
		n, err := w.w.Write(b[written : written+k])
		written += n
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				err = fmt.Errorf("%w: no progress for %v: %w", ErrTimeout, w.cfg.WriteTimeout, err)
			}
			w.fail(fmt.Errorf("frame: write: %w", err))
			return written, false
		}
	}
	return written, true
}

// appendFragmentsLocked appends fragments of the active messages, one per
// message in turn starting after the last batch's, until the batch holds
// WriteBufferSize bytes (at least one fragment goes in), and whatever
// their completion releases from the lane backlogs. A batch therefore
// stays near WriteBufferSize plus a chunk however many lanes carry large
// messages, and every lane gets its turn.
func (w *Writer) appendFragmentsLocked(out []byte) []byte {
	active := w.mu.active
	n := len(active)
	budget := w.cfg.WriteBufferSize
	start := w.mu.next % n
	visited := 0
	var next []*bigMsg
	done := make([]bool, 0, 4) // index i of active finished, when len > i
	for ; visited < n; visited++ {
		if visited > 0 && len(out) >= budget {
			break
		}
		bm := active[(start+visited)%n]
		finished := true
		if bm.aborted {
			if bm.off > 0 {
				out = appendHeader(out, 0, bm.kind, flagAbort, bm.lane)
			}
			bm.finish(nil)
		} else {
			out = w.appendFragment(out, bm)
			if bm.off < len(bm.payload) {
				finished = false
			} else {
				bm.finish(nil)
			}
		}
		if !finished {
			continue
		}
		for len(done) <= (start+visited)%n {
			done = append(done, false)
		}
		done[(start+visited)%n] = true
		// Release the lane: copy its small frames, start its next big one.
		var nb *bigMsg
		out, nb = w.releaseLaneLocked(out, bm.lane)
		if nb != nil {
			next = append(next, nb)
		}
	}
	// Keep the unfinished ones in order; the turn passes to the first
	// message not visited in this batch.
	resume := (start + visited) % n
	kept := make([]*bigMsg, 0, n+len(next))
	w.mu.next = 0
	for i, bm := range active {
		if i < len(done) && done[i] {
			continue
		}
		if i == resume {
			w.mu.next = len(kept)
		}
		kept = append(kept, bm)
	}
	for i := range active {
		active[i] = nil
	}
	w.mu.active = append(kept, next...)
	return out
}

func (w *Writer) appendFragment(out []byte, bm *bigMsg) []byte {
	chunk := w.cfg.ChunkSize
	if bm.off == 0 {
		k := min(chunk-8, len(bm.payload))
		out = appendHeader(out, 8+k, bm.kind, bm.flags|flagMore, bm.lane)
		out = binary.BigEndian.AppendUint64(out, uint64(len(bm.payload)))
		out = append(out, bm.payload[:k]...)
		bm.off = k
		return out
	}
	k := min(chunk, len(bm.payload)-bm.off)
	f := bm.flags
	if bm.off+k < len(bm.payload) {
		f |= flagMore
	}
	out = appendHeader(out, k, bm.kind, f, bm.lane)
	out = append(out, bm.payload[bm.off:bm.off+k]...)
	bm.off += k
	return out
}

func (w *Writer) releaseLaneLocked(out []byte, lane uint16) ([]byte, *bigMsg) {
	lb := w.mu.lanes[lane]
	if lb == nil {
		return out, nil
	}
	for i, it := range lb.items {
		if it.big != nil {
			if it.big.aborted {
				it.big.finish(nil)
				continue
			}
			lb.items = lb.items[i+1:]
			return out, it.big
		}
		out = append(out, it.frame...)
		w.mu.backlog -= len(it.frame)
	}
	delete(w.mu.lanes, lane)
	return out, nil
}

// initialBatchCap is the capacity a batch buffer starts with; appends grow
// it as far as the batches need.
func (w *Writer) initialBatchCap() int { return min(w.cfg.WriteBufferSize, 16<<10) + HeaderSize }
