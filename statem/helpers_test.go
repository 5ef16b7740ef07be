package statem

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/grovedev/grove/clock"
	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newRuntime starts a runtime closed at the end of the test. A nil clk
// means the real clock.
func newRuntime(t *testing.T, clk clock.Clock) *proc.Runtime {
	t.Helper()
	rt, err := proc.New(proc.Config{Node: "test@localhost", Clock: clk, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rt.Close(ctx); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return rt
}

func eventually(t *testing.T, cond func() error) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, cond)
}

// simDriver is the driver of core tests: timers on a logical clock counted
// in milliseconds, replies recorded.
type simDriver struct {
	now   int64
	seq   int64
	armed map[timerKey]simTimer
	trace *[]string
}

type simTimer struct {
	gen uint64
	due int64
	seq int64
}

func newSimDriver(trace *[]string) *simDriver {
	return &simDriver{armed: map[timerKey]simTimer{}, trace: trace}
}

func (d *simDriver) arm(key timerKey, gen uint64, dur time.Duration) {
	if dur <= 0 {
		panic("arm with a non-positive duration")
	}
	if _, ok := d.armed[key]; ok {
		panic("arm of a key already armed: the core must disarm first")
	}
	d.seq++
	d.armed[key] = simTimer{gen: gen, due: d.now + dur.Milliseconds(), seq: d.seq}
}

// armAt arms a timer at an absolute time: the logical clock counts
// milliseconds from time.Unix(0, 0). A time passed is due now.
func (d *simDriver) armAt(key timerKey, gen uint64, at time.Time) {
	if _, ok := d.armed[key]; ok {
		panic("arm of a key already armed: the core must disarm first")
	}
	d.seq++
	d.armed[key] = simTimer{gen: gen, due: max(d.now, at.UnixMilli()), seq: d.seq}
}

func (d *simDriver) disarm(key timerKey, gen uint64) {
	if t, ok := d.armed[key]; ok && t.gen == gen {
		delete(d.armed, key)
		return
	}
	panic("disarm of a timer that is not armed")
}

func (d *simDriver) reply(to replier, v any, err error) { to.Reply(v, err) }

// due pops the armed timer to fire next at d.now, if any.
func (d *simDriver) due() (timerKey, uint64, bool) {
	var best timerKey
	var bt simTimer
	found := false
	for k, t := range d.armed {
		if t.due > d.now {
			continue
		}
		if !found || t.due < bt.due || (t.due == bt.due && t.seq < bt.seq) {
			best, bt, found = k, t, true
		}
	}
	if found {
		delete(d.armed, best)
	}
	return best, bt.gen, found
}

// advance moves the logical clock by ms and fires the timers that come due,
// one at a time, in deadline order.
func advance[S comparable](d *simDriver, c *core[S], ms int64, h handler[S]) {
	d.now += ms
	for {
		k, gen, ok := d.due()
		if !ok {
			return
		}
		c.fire(k, gen, h)
	}
}

// traceReplier records the replies it gets.
type traceReplier struct {
	id    string
	trace *[]string
}

func (r traceReplier) Reply(v any, err error) {
	*r.trace = append(*r.trace, "reply "+r.id+" "+fmtAny(v)+" "+fmtAny(err))
}

// waitBusy waits until the machine pid is in a callback with nothing
// queued.
func waitBusy(t *testing.T, rt *proc.Runtime, pid proc.PID) {
	t.Helper()
	eventually(t, func() error {
		if in, _ := rt.Info(pid); in.MailboxLen != 0 || in.Status != proc.StatusRunning {
			return fmt.Errorf("info %+v", in)
		}
		return nil
	})
}
