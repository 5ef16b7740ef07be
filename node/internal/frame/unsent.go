package frame

// Messages a Writer accepted but never wrote: when the Writer fails or is
// closed, the frames still in its batch buffer and lane backlogs, and those
// of a batch whose write failed, are gone, although their Write calls
// returned nil. They are counted (WriterStats.Unsent) and told to
// Config.OnUnsent, so that a link that breaks loses nothing uncounted.
// Fragmented messages not fully queued are not among them: their Write
// calls return the error.

// completedMessages returns how many messages the frames of b complete:
// whole messages and last fragments of the layer above, not ticks or
// aborts.
func completedMessages(b []byte) int { return completedMessagesFrom(b, 0) }

// completedMessagesFrom is completedMessages for the frames of b that end
// after its first written bytes, those the connection did not take whole.
func completedMessagesFrom(b []byte, written int) int {
	n, off := 0, 0
	for off+HeaderSize <= len(b) {
		h := parseHeader(b[off:])
		end := off + HeaderSize + int(h.n)
		if end > written && h.kind >= FirstUserKind && h.flags&(flagMore|flagAbort) == 0 {
			n++
		}
		off = end
	}
	return n
}

// unsentLocked counts k lost messages; the caller tells OnUnsent once it
// has released w.mu.
func (w *Writer) unsentLocked(k int) {
	w.mu.unsent += uint64(k)
}

// tellUnsent reports k lost messages to Config.OnUnsent.
func (w *Writer) tellUnsent(k int) {
	if k > 0 && w.cfg.OnUnsent != nil {
		w.cfg.OnUnsent(k)
	}
}
