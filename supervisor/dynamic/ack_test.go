package dynamic

import (
	"errors"
	"testing"

	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/supervisor"
)

// readyLater acknowledges its start from a continuation, or fails it.
type readyLater struct {
	proc.Base
	ack   *supervisor.Ack
	fail  error
	ready chan<- struct{}
}

func (r *readyLater) Init(p *proc.Process) error {
	p.Continue(nil)
	return nil
}

func (r *readyLater) HandleContinue(*proc.Process, any) {
	if r.fail != nil {
		r.ack.Fail(r.fail)
		return
	}
	close(r.ready)
	r.ack.Ready()
}

func TestStartChildAwaitsAck(t *testing.T) {
	rt := newRuntime(t)
	sup, err := Start(rt, Spec{})
	if err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	if _, err := StartChild(ctxT(t), rt, sup, supervisor.ChildSpec{StartAck: func(ack *supervisor.Ack) proc.Behavior {
		return &readyLater{ack: ack, ready: ready}
	}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ready:
	default:
		t.Fatal("StartChild returned before the child acknowledged")
	}
	boom := errors.New("boom")
	_, err = StartChild(ctxT(t), rt, sup, supervisor.ChildSpec{StartAck: func(ack *supervisor.Ack) proc.Behavior {
		return &readyLater{ack: ack, fail: boom}
	}})
	if !errors.Is(err, boom) {
		t.Fatalf("failed ack: %v", err)
	}
	if c, err := CountChildren(ctxT(t), rt, sup); err != nil || c.Active != 1 {
		t.Fatalf("count %+v %v", c, err)
	}
	_, err = StartChild(ctxT(t), rt, sup, supervisor.ChildSpec{Restart: supervisor.Transient, Significant: true,
		Start: func() proc.Behavior { return &worker{} }})
	if !errors.Is(err, supervisor.ErrInvalidSpec) {
		t.Fatalf("significant child of a dynamic supervisor: %v", err)
	}
}
