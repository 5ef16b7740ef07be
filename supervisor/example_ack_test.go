package supervisor_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/supervisor"
)

// conn is a worker that is ready only once it has connected, which it
// does after Init, in a continuation, so that it can already handle
// messages: its supervisor starts the next child only once it has
// acknowledged.
type conn struct {
	proc.Base
	ack  *supervisor.Ack
	dial func() error
}

func (c *conn) Init(p *proc.Process) error {
	p.Continue("connect")
	return nil
}

func (c *conn) HandleContinue(_ *proc.Process, _ any) {
	if err := c.dial(); err != nil {
		c.ack.Fail(err)
		return
	}
	c.ack.Ready()
}

func ExampleChildSpec_startAck() {
	rt := newQuietRuntime()
	ctx := context.Background()
	defer rt.Close(ctx)

	connected := false
	_, err := supervisor.StartApp(rt, supervisor.Spec{Children: []supervisor.ChildSpec{
		{ID: "db", StartTimeout: 5 * time.Second, StartAck: func(ack *supervisor.Ack) proc.Behavior {
			return &conn{ack: ack, dial: func() error { connected = true; return nil }}
		}},
		{ID: "api", Start: func() proc.Behavior {
			fmt.Println("api starts; db connected:", connected)
			return &counter{name: "api"}
		}},
	}})
	fmt.Println(err)

	_, err = supervisor.StartApp(rt, supervisor.Spec{Children: []supervisor.ChildSpec{
		{ID: "db", StartAck: func(ack *supervisor.Ack) proc.Behavior {
			return &conn{ack: ack, dial: func() error { return errors.New("connection refused") }}
		}},
	}})
	fmt.Println(err)
	// Output:
	// api starts; db connected: true
	// <nil>
	// supervisor: start child "db": connection refused
}

// job does its work and stops normally.
type job struct{ proc.Base }

func (job) Init(p *proc.Process) error {
	p.Continue("work")
	return nil
}

func (job) HandleContinue(p *proc.Process, _ any) { p.Stop(proc.ErrNormal) }

// A supervisor whose significant child is the job it exists for stops,
// with its helpers, once the job is done (OTP's auto_shutdown).
func ExampleAutoShutdown() {
	rt := newQuietRuntime()
	ctx := context.Background()
	defer rt.Close(ctx)

	app, _ := supervisor.StartApp(rt, supervisor.Spec{
		AutoShutdown: supervisor.AnySignificant,
		Children: []supervisor.ChildSpec{
			spec("cache"),
			{ID: "job", Restart: supervisor.Transient, Significant: true, Start: func() proc.Behavior { return job{} }},
		},
	})
	err := app.Wait(ctx)
	fmt.Println("tree ended:", err, "- processes left:", rt.NumProcesses())
	// Output: tree ended: shutdown - processes left: 0
}
