// Package wire is the format of the messages Raft hosts exchange over node
// links: a Batch carries every Raft message of every group from one node to
// another for one round of the engine, plus the quiesce notices of groups
// going idle; a Chunk carries one piece of a snapshot, sent apart so that a
// large snapshot never holds up the batches.
//
// Both types marshal themselves (encoding.BinaryAppender), so the node codec
// sends their bytes as they are. Decoding checks every length against the
// input and the limits below and fails with ErrMalformed, never panics.
package wire
