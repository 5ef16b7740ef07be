package proc

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// wire joins runtimes in one test through their Remote hooks, delivering
// synchronously: what a distribution layer does over a network.
type wire struct {
	mu   sync.Mutex
	rts  map[string]*Runtime
	down map[string]bool // nodes cut off
}

type wireEnd struct {
	w    *wire
	self *Runtime
}

func (w *wire) peer(node string) (*Runtime, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.down[node] {
		return nil, ErrNoConnection
	}
	rt, ok := w.rts[node]
	if !ok {
		return nil, ErrNoRoute
	}
	return rt, nil
}

func (e wireEnd) Send(from, to PID, msg any, cast bool) error {
	rt, err := e.w.peer(to.Node)
	if err != nil {
		return err
	}
	return rt.DeliverRemote(to, msg, cast)
}

func (e wireEnd) SendName(from PID, node, name string, msg any, cast bool) error {
	rt, err := e.w.peer(node)
	if err != nil {
		return err
	}
	return rt.DeliverRemoteName(name, msg, cast)
}

func (e wireEnd) Call(ctx context.Context, from, to PID, req any) (any, error) {
	rt, err := e.w.peer(to.Node)
	if err != nil {
		return nil, err
	}
	ch := make(chan callResult, 1)
	if err := rt.DeliverRemoteCall(to, from, req, func(v any, err error) { ch <- callResult{v, err} }); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		return r.v, r.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (e wireEnd) CallName(ctx context.Context, from PID, node, name string, req any) (any, error) {
	rt, err := e.w.peer(node)
	if err != nil {
		return nil, err
	}
	pid, ok := rt.WhereIs(name)
	if !ok {
		return nil, ErrNotRegistered
	}
	return e.Call(ctx, from, pid, req)
}

func (e wireEnd) Link(from, to PID) error {
	rt, err := e.w.peer(to.Node)
	if err != nil {
		return err
	}
	if reason := rt.LinkFromRemote(from, to); reason != nil {
		e.self.ExitFromRemote(to, from, reason, true)
	}
	return nil
}

func (e wireEnd) Unlink(from, to PID) {
	if rt, err := e.w.peer(to.Node); err == nil {
		rt.UnlinkFromRemote(from, to)
	}
}

func (e wireEnd) Exit(from, to PID, reason error, viaLink bool) error {
	rt, err := e.w.peer(to.Node)
	if err != nil {
		return err
	}
	rt.ExitFromRemote(from, to, reason, viaLink)
	return nil
}

func (e wireEnd) Monitor(watcher, target PID, ref Ref) error {
	rt, err := e.w.peer(target.Node)
	if err != nil {
		return err
	}
	if reason := rt.MonitorFromRemote(watcher, target, ref); reason != nil {
		e.self.DownFromRemote(watcher, ref, target, reason)
	}
	return nil
}

func (e wireEnd) Demonitor(watcher, target PID, ref Ref) {
	if rt, err := e.w.peer(target.Node); err == nil {
		rt.DemonitorFromRemote(target, ref)
	}
}

func (e wireEnd) Down(watcher PID, ref Ref, target PID, reason error) {
	if rt, err := e.w.peer(watcher.Node); err == nil {
		rt.DownFromRemote(watcher, ref, target, reason)
	}
}

// twoNodes returns two runtimes joined by a wire.
func twoNodes(t *testing.T) (a, b *Runtime, w *wire) {
	t.Helper()
	return twoNodesWith(t, Config{})
}

// twoNodesWith is twoNodes with cfg for both runtimes.
func twoNodesWith(t *testing.T, cfg Config) (a, b *Runtime, w *wire) {
	t.Helper()
	w = &wire{rts: map[string]*Runtime{}, down: map[string]bool{}}
	for _, name := range []string{"a@host", "b@host"} {
		cfg.Node, cfg.Logger = name, quietLogger()
		rt, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { rt.Close(context.Background()) })
		rt.SetRemote(wireEnd{w: w, self: rt})
		w.rts[name] = rt
	}
	return w.rts["a@host"], w.rts["b@host"], w
}

// cut disconnects node from the others and tells both sides.
func (w *wire) cut(node string) {
	w.mu.Lock()
	w.down[node] = true
	rts := w.rts
	w.mu.Unlock()
	for name, rt := range rts {
		if name == node {
			for other := range rts {
				rt.NodeDown(other)
			}
		} else {
			rt.NodeDown(node)
		}
	}
}

func TestRemoteSendCallAndNames(t *testing.T) {
	a, b, _ := twoNodes(t)
	ctx := context.Background()
	srv := mustSpawn(t, b, &counter{}, WithName("counter"))
	client := mustSpawn(t, a, HandlerFunc(func(p *Process, msg any) {
		p.Cast(NodeName{Node: "b@host", Name: "counter"}, incr{5})
	}))
	a.Send(client, "go")
	eventually(t, func() error {
		n, err := Call[int](ctx, a, srv, get{})
		if err != nil || n != 5 {
			return errors.Join(err, errors.New("not yet 5"))
		}
		return nil
	})
	n, err := Call[int](ctx, a, NodeName{Node: "b@host", Name: "counter"}, get{})
	if err != nil || n != 5 {
		t.Fatalf("call by node name: %v %v", n, err)
	}
	if _, err := a.Call(ctx, PID{Node: "c@host", Creation: 1, ID: 1}, get{}); !errors.Is(err, ErrNoRoute) {
		t.Fatalf("unknown node: %v", err)
	}
}

func TestRemoteLinkAndMonitor(t *testing.T) {
	a, b, _ := twoNodes(t)
	target := mustSpawn(t, b, &counter{})
	l := &linker{inbox: *newInbox(), target: target}
	l.trap = true
	mustSpawn(t, a, l)
	w := &watcherProc{inbox: *newInbox(), target: target}
	mustSpawn(t, a, w)
	if in, _ := b.Info(target); len(in.Links) != 1 || len(in.MonitoredBy) != 1 {
		t.Fatalf("remote side: %+v", in)
	}
	b.Cast(target, crash{})
	var ce *CrashError
	if m := l.recv(t).(Exit); m.From != target || !errors.As(m.Reason, &ce) {
		t.Fatalf("exit %#v", m)
	}
	if d := w.recv(t).(Down); d.Ref != w.ref || !errors.As(d.Reason, &ce) {
		t.Fatalf("down %#v", d)
	}
}

func TestRemoteExitPropagatesFromLocalSide(t *testing.T) {
	a, b, _ := twoNodes(t)
	local := mustSpawn(t, a, &counter{})
	l := &linker{inbox: *newInbox(), target: local}
	remote := mustSpawn(t, b, l)
	wait := watchExit(t, b, remote)
	a.Cast(local, stopWith{errBoom})
	if r := wait(); !errors.Is(r, errBoom) {
		t.Fatalf("remote linked process exited with %v", r)
	}
}

func TestNodeDownGivesNoConnection(t *testing.T) {
	a, b, w := twoNodes(t)
	target := mustSpawn(t, b, &counter{})
	l := &linker{inbox: *newInbox(), target: target}
	l.trap = true
	mustSpawn(t, a, l)
	mon := &watcherProc{inbox: *newInbox(), target: target}
	mustSpawn(t, a, mon)
	plain := mustSpawn(t, a, &linker{inbox: *newInbox(), target: target})
	waitPlain := watchExit(t, a, plain)
	w.cut("b@host")
	if m := l.recv(t).(Exit); !errors.Is(m.Reason, ErrNoConnection) {
		t.Fatalf("exit %#v", m)
	}
	if d := mon.recv(t).(Down); !errors.Is(d.Reason, ErrNoConnection) {
		t.Fatalf("down %#v", d)
	}
	if r := waitPlain(); !errors.Is(r, ErrNoConnection) {
		t.Fatalf("non-trapping linked process: %v", r)
	}
	if in, _ := b.Info(target); len(in.Links) != 0 || len(in.MonitoredBy) != 0 {
		t.Fatalf("other side kept links or monitors: %+v", in)
	}
	// After the cut, remote operations fail instead of hanging.
	if err := a.Send(target, 1); !errors.Is(err, ErrNoConnection) {
		t.Fatalf("send across a cut: %v", err)
	}
}

func TestMonitorUnreachableNode(t *testing.T) {
	a, _, w := twoNodes(t)
	w.cut("b@host")
	mon := &watcherProc{inbox: *newInbox(), target: PID{Node: "b@host", Creation: 1, ID: 1}}
	mustSpawn(t, a, mon)
	if d := mon.recv(t).(Down); !errors.Is(d.Reason, ErrNoConnection) {
		t.Fatalf("down %#v", d)
	}
}
