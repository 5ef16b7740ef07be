package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"

	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/node/internal/frame"
	"github.com/grovedev/grove/proc"
)

// dispatch handles one message from the peer. An error means the peer broke
// the protocol and the link must be cut; a message the runtime cannot
// deliver (dead process, undecodable type) is not such an error.
func (p *peer) dispatch(m frame.Message) error {
	n := p.n
	local := n.cfg.Name
	r := reader{b: m.Payload}
	switch m.Kind {
	case kindSend:
		from, to := r.pid(p.name), r.pid(local)
		if r.err != nil {
			return r.err
		}
		payload := r.rest()
		msg, ok := p.decode(payload, from, m.Owned)
		if ok {
			if err := p.deliverTracked(to, "", msg, m.Flags&flagCast != 0, len(payload)); err != nil {
				p.dropped(err, from, to.String())
			}
		}
	case kindSendName:
		from, name := r.pid(p.name), r.string(maxNameLen)
		if r.err != nil {
			return r.err
		}
		payload := r.rest()
		msg, ok := p.decode(payload, from, m.Owned)
		if ok {
			if err := p.deliverTracked(proc.PID{}, name, msg, m.Flags&flagCast != 0, len(payload)); err != nil {
				p.dropped(err, from, name)
			}
		}
	case kindSendAck:
		from, to, id := r.pid(p.name), r.pid(local), r.uvarint()
		if r.err != nil {
			return r.err
		}
		payload := r.rest()
		msg, err := n.cfg.Codec.Decode(payload)
		if err != nil {
			n.stats.Undecodable.Add(1)
			p.reply(to, from, id, nil, err)
			return nil
		}
		if err := p.deliverTracked(to, "", msg, false, len(payload)); err != nil {
			n.stats.DeliveryFailures.Add(1)
			p.reply(to, from, id, nil, err)
			return nil
		}
		p.reply(to, from, id, nil, nil)
	case kindFlow:
		return p.handleFlow(&r)
	case kindDropped:
		return p.handleDropped(&r)
	case kindCall, kindCallName:
		from := r.pid(p.name)
		var to proc.PID
		var name string
		if m.Kind == kindCall {
			to = r.pid(local)
		} else {
			name = r.string(maxNameLen)
		}
		id := r.uvarint()
		if r.err != nil {
			return r.err
		}
		req, err := n.cfg.Codec.Decode(r.rest())
		if err != nil {
			n.stats.Undecodable.Add(1)
			p.reply(to, from, id, nil, err)
			return nil
		}
		reply := func(v any, err error) { p.reply(to, from, id, v, err) }
		if m.Kind == kindCall {
			err = n.rt.DeliverRemoteCall(to, from, req, reply)
		} else {
			err = n.rt.DeliverRemoteCallName(name, from, req, reply)
		}
		if err != nil {
			reply(nil, err)
		}
	case kindReply:
		id := r.uvarint()
		status := r.byte()
		if r.err != nil {
			return r.err
		}
		v, err := n.cfg.Codec.Decode(r.rest())
		switch {
		case err != nil:
			n.stats.Undecodable.Add(1)
			v = nil
		case status == replyErr:
			e, isErr := v.(error)
			if !isErr {
				return fmt.Errorf("%w: error reply of type %T", errMalformed, v)
			}
			v, err = nil, e
		case status != replyOK:
			return fmt.Errorf("%w: reply status %d", errMalformed, status)
		}
		n.calls.complete(p.name, id, v, err)
	case kindLink:
		from, to := r.pid(p.name), r.pid(local)
		if r.err != nil {
			return r.err
		}
		if reason := n.rt.LinkFromRemote(from, to); reason != nil {
			_ = p.send(kindExit, flagViaLink, lane(to, from), func(b []byte) []byte {
				return appendPID(appendPID(b, to), from)
			}, reason, true)
		}
	case kindUnlink:
		from, to := r.pid(p.name), r.pid(local)
		if r.err != nil {
			return r.err
		}
		n.rt.UnlinkFromRemote(from, to)
	case kindExit:
		from, to := r.pid(p.name), r.pid(local)
		if r.err != nil {
			return r.err
		}
		reason := p.decodeReason(r.rest())
		n.rt.ExitFromRemote(from, to, reason, m.Flags&flagViaLink != 0)
	case kindMonitor, kindDemonitor:
		watcher, target, ref := r.pid(p.name), r.pid(local), r.ref(p.name)
		if r.err != nil {
			return r.err
		}
		if m.Kind == kindDemonitor {
			n.rt.DemonitorFromRemote(target, ref)
			return nil
		}
		if reason := n.rt.MonitorFromRemote(watcher, target, ref); reason != nil {
			remote{n}.Down(watcher, ref, target, reason)
		}
	case kindDown:
		target, watcher, ref := r.pid(p.name), r.pid(local), r.ref(local)
		if r.err != nil {
			return r.err
		}
		n.rt.DownFromRemote(watcher, ref, target, p.decodeReason(r.rest()))
	case kindRPC:
		return p.handleRPC(&r)
	case kindSpawn:
		return p.handleSpawn(&r)
	case kindUndecodable:
		what := r.string(1024)
		if r.err != nil {
			return r.err
		}
		n.stats.UndecodableByPeer.Add(1)
		n.logLimited.Warn("undecodable-by:"+p.name, "peer could not decode a message from this node", slog.String("peer", p.name), slog.String("message", what))
	default:
		return fmt.Errorf("%w: unknown kind %d", errMalformed, m.Kind)
	}
	return nil
}

// decode decodes a message payload. A payload this node cannot decode is
// counted, logged and reported back to the peer, whose sender already
// returned; the link stays up.
func (p *peer) decode(b []byte, from proc.PID, owned bool) (any, bool) {
	var msg any
	var err error
	if owned {
		msg, err = p.n.cfg.Codec.DecodeOwned(b)
	} else {
		msg, err = p.n.cfg.Codec.Decode(b)
	}
	if err == nil {
		return msg, true
	}
	p.n.stats.Undecodable.Add(1)
	what := err.Error()
	var ut *codec.UnknownTypeError
	if errors.As(err, &ut) {
		what = fmt.Sprintf("unknown message type %#x from %v", ut.ID, from)
	}
	p.n.logLimited.Warn("undecodable:"+p.name, "undecodable message", slog.String("peer", p.name), slog.String("err", what))
	_ = p.send(kindUndecodable, 0, 0, func(b []byte) []byte { return appendString(b, what) }, nil, false)
	return nil, false
}

// decodeReason decodes an exit reason; an undecodable one still ends the
// process, with the decoding error as its reason.
func (p *peer) decodeReason(b []byte) error {
	v, err := p.n.cfg.Codec.Decode(b)
	if err != nil {
		p.n.stats.Undecodable.Add(1)
		return fmt.Errorf("node: undecodable exit reason from %s: %w", p.name, err)
	}
	if reason, ok := v.(error); ok {
		return reason
	}
	return fmt.Errorf("node: exit reason %v", v)
}

// reply answers call id of the peer's process caller.
func (p *peer) reply(server, caller proc.PID, id uint64, v any, err error) {
	status, payload := replyOK, v
	if err != nil {
		status, payload = replyErr, err
	}
	build := func(b []byte) []byte { return append(binary.AppendUvarint(b, id), status) }
	if sendErr := p.send(kindReply, 0, lane(server, caller), build, payload, true); sendErr != nil && err == nil {
		// The answer could not be encoded: tell the caller why.
		_ = p.send(kindReply, 0, lane(server, caller), func(b []byte) []byte {
			return append(binary.AppendUvarint(b, id), replyErr)
		}, sendErr, true)
	}
}
