package raft

import (
	"context"
	"fmt"
	"log/slog"

	"go.etcd.io/raft/v3"
	pb "go.etcd.io/raft/v3/raftpb"
	"go.etcd.io/raft/v3/tracker"
	"google.golang.org/protobuf/proto"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/raft/internal/wire"
)

type raftProgressType = raft.ProgressType

var _ = tracker.Progress{}

// RegisterTypes registers the host's message types in a node codec; call
// it on every node before the node starts talking.
func RegisterTypes(r *codec.Registry) error {
	if err := codec.Register[wire.Batch](r, "grove.raft.Batch"); err != nil {
		return err
	}
	if err := codec.Register[wire.Chunk](r, "grove.raft.Chunk"); err != nil {
		return err
	}
	return codec.Register[watchReq](r, "grove.raft.watch")
}

func unmarshalMessage(raw []byte, m *pb.Message) error { return proto.Unmarshal(raw, m) }

// inbound receives batches and snapshot chunks from other hosts and hands
// them to the engine.
type inbound struct {
	proc.Base
	h *Host
}

func (in *inbound) HandleCast(_ *proc.Process, msg any) {
	switch m := msg.(type) {
	case wire.Batch:
		_ = in.h.submit(func() { in.h.deliver(m) })
	case wire.Chunk:
		_ = in.h.submit(func() { in.h.deliverChunk(m) })
	default:
		in.h.stats.Dropped.Add(1)
	}
}

func (in *inbound) HandleInfo(_ *proc.Process, _ any) { in.h.stats.Dropped.Add(1) }

// flush sends the outbox: one node message per peer.
func (h *Host) flush() {
	for to, b := range h.outbox {
		delete(h.outbox, to)
		n := len(b.Msgs)
		if err := h.rt.Cast(proc.NodeName{Node: to, Name: transportName}, *b); err != nil {
			h.stats.SendFailures.Add(1)
			h.unreachable(to, b)
			continue
		}
		h.stats.BatchesSent.Add(1)
		h.stats.MessagesSent.Add(uint64(n))
		h.stats.BytesSent.Add(uint64(b.Size()))
	}
	for _, s := range h.snapOut {
		h.sendSnapshot(s)
	}
	h.snapOut = h.snapOut[:0]
}

// unreachable tells the groups of a batch that could not be sent.
func (h *Host) unreachable(to string, b *wire.Batch) {
	id := nodeID(to)
	seen := map[uint64]bool{}
	for _, m := range b.Msgs {
		if seen[m.Group] {
			continue
		}
		seen[m.Group] = true
		if g := h.groups[m.Group]; g != nil && g.role == Leader {
			g.rn.ReportUnreachable(id)
		}
	}
}

// snapSend is a snapshot message to send in chunks.
type snapSend struct {
	g   *group
	to  string
	msg *pb.Message
}

// sendSnapshot cuts a snapshot message into chunks on a lane of its own.
func (h *Host) sendSnapshot(s snapSend) {
	data := s.msg.GetSnapshot().GetData()
	hdr := proto.Clone(s.msg).(*pb.Message)
	hdr.Snapshot.Data = nil
	raw, err := proto.Marshal(hdr)
	status := raft.SnapshotFinish
	if err == nil {
		size := h.cfg.SnapshotChunkBytes
		for off := 0; off == 0 || off < len(data); off += size {
			end := min(off+size, len(data))
			c := wire.Chunk{From: h.self, Group: s.g.id, Total: uint64(len(data)), Offset: uint64(off), Data: data[off:end]}
			if off == 0 {
				c.Header = raw
			}
			if err = h.rt.Cast(proc.NodeName{Node: s.to, Name: snapshotName}, c); err != nil {
				break
			}
			if end == len(data) {
				break
			}
		}
	}
	if err != nil {
		h.log.Warn("snapshot not sent", slog.String("group", s.g.name), slog.String("to", s.to), slog.Any("err", err))
		status = raft.SnapshotFailure
		h.stats.SendFailures.Add(1)
	} else {
		h.stats.SnapshotsSent.Add(1)
	}
	s.g.rn.ReportSnapshot(s.msg.GetTo(), status)
	h.dirty[s.g] = struct{}{}
}

// assemblyKey names a snapshot being received.
type assemblyKey struct {
	group uint64
	from  string
}

// assembly is a snapshot being received.
type assembly struct {
	header []byte
	data   []byte
	total  uint64
}

// maxSnapshotBytes bounds a received snapshot.
const maxSnapshotBytes = 4 << 30

// deliverChunk adds a chunk to its snapshot and steps the snapshot message
// once complete. Chunks arrive in order on their lane; a chunk out of place
// drops the assembly, and the leader sends the snapshot again.
func (h *Host) deliverChunk(c wire.Chunk) {
	k := assemblyKey{c.Group, c.From}
	a := h.assembly[k]
	if c.Offset == 0 {
		if c.Total > maxSnapshotBytes || len(c.Header) == 0 {
			h.stats.Dropped.Add(1)
			delete(h.assembly, k)
			return
		}
		a = &assembly{header: c.Header, total: c.Total, data: make([]byte, 0, c.Total)}
		h.assembly[k] = a
	}
	if a == nil || c.Total != a.total || c.Offset != uint64(len(a.data)) {
		h.stats.Dropped.Add(1)
		delete(h.assembly, k)
		return
	}
	a.data = append(a.data, c.Data...)
	if uint64(len(a.data)) < a.total {
		return
	}
	delete(h.assembly, k)
	m := &pb.Message{}
	if err := proto.Unmarshal(a.header, m); err != nil || m.GetType() != pb.MsgSnap || m.GetSnapshot() == nil {
		h.stats.Dropped.Add(1)
		return
	}
	m.Snapshot.Data = a.data
	raw, err := proto.Marshal(m)
	if err != nil {
		h.stats.Dropped.Add(1)
		return
	}
	h.deliver(wire.Batch{From: c.From, Msgs: []wire.Msg{{Group: c.Group, Raw: raw}}})
}

// raftLogger sends etcd raft's messages to slog, with the group's name
// added only when a message is logged (a logger per group would cost
// memory for every idle group). Panic and Fatal panic as raft requires.
type raftLogger struct {
	l     *slog.Logger
	group string
}

func (r raftLogger) log(level slog.Level, msg string) {
	if r.l.Enabled(context.Background(), level) {
		r.l.Log(context.Background(), level, msg, slog.String("group", r.group))
	}
}

func (r raftLogger) Debug(v ...any)                 {}
func (r raftLogger) Debugf(format string, v ...any) {}
func (r raftLogger) Info(v ...any)                  { r.log(slog.LevelDebug, fmt.Sprint(v...)) }
func (r raftLogger) Infof(format string, v ...any)  { r.log(slog.LevelDebug, fmt.Sprintf(format, v...)) }
func (r raftLogger) Warning(v ...any)               { r.log(slog.LevelDebug, fmt.Sprint(v...)) }
func (r raftLogger) Warningf(format string, v ...any) {
	r.log(slog.LevelDebug, fmt.Sprintf(format, v...))
}
func (r raftLogger) Error(v ...any)                 { r.log(slog.LevelWarn, fmt.Sprint(v...)) }
func (r raftLogger) Errorf(format string, v ...any) { r.log(slog.LevelWarn, fmt.Sprintf(format, v...)) }
func (r raftLogger) Fatal(v ...any)                 { r.Panic(v...) }
func (r raftLogger) Fatalf(format string, v ...any) { r.Panicf(format, v...) }
func (r raftLogger) Panic(v ...any) {
	s := fmt.Sprint(v...)
	r.log(slog.LevelError, s)
	panic(s)
}
func (r raftLogger) Panicf(format string, v ...any) {
	s := fmt.Sprintf(format, v...)
	r.log(slog.LevelError, s)
	panic(s)
}
