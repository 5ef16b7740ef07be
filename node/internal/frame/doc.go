// Package frame cuts a byte stream between two nodes into frames and puts
// them back together.
//
// # Wire format
//
// Every frame starts with an 8-byte header, big-endian:
//
//	0..3  payload length (bytes after the header)
//	4     kind: 1 is a heartbeat tick; 0 and 2..15 are reserved;
//	      16..255 belong to the layer above
//	5     flags: the low four bits are the frame layer's own (bit 0: more
//	      fragments follow, bit 1: abort the partial message), the high four
//	      bits are passed through to the layer above
//	6..7  lane
//
// A lane is an ordering domain: messages on one lane arrive in the order
// they were written; messages on different lanes may overtake each other.
// The layer above maps a pair of communicating processes to a lane, so the
// per-pair ordering guarantee holds while unrelated traffic flows past a big
// message.
//
// A message larger than Config.ChunkSize is sent as fragments of at most
// ChunkSize bytes on its lane. The first fragment carries the flag "more"
// and starts with the message's total length (8 bytes); the last fragment
// has "more" cleared. A message up to half the write buffer (256 KiB by
// default) is copied into the batch whole, its fragments back to back, as
// a small message is; a bigger one is sent one fragment per batch with
// every small message queued in between, so a 64 MiB message delays small
// messages on other lanes by at most a chunk per batch instead of by the
// whole message (no head-of-line blocking). Later messages on the
// same lane wait behind the big one, preserving lane order. A big message
// whose writer gives up half way is ended by an abort frame and dropped by
// the Reader.
//
// # Usage
//
// One Writer and one Reader per direction of a connection:
//
//	w := frame.NewWriter(conn, cfg)
//	defer w.Close()
//	err := w.Write(ctx, frame.Message{Kind: 16, Lane: 3, Payload: b})
//
//	r := frame.NewReader(conn, cfg)
//	for {
//		m, err := r.Next(ctx) // m.Payload is valid until the next call
//		...
//	}
//
// The Writer batches: Write copies a small message into a shared buffer and
// returns; one goroutine writes everything queued with a single write call
// whenever the previous call finished, so one syscall carries many frames
// under load, and a lone message goes out at once when idle. WriteNow lets
// a caller that is about to wait for an answer (a call, a reply) write the
// batch itself when the link is idle, saving a goroutine hand-off. The
// Reader reads large blocks and returns payloads that alias its buffer.
package frame
