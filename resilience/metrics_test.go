package resilience

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/prometheus/client_golang/prometheus"
)

// The collector exports each remote node's breaker: its state, when it
// lets trials through, and its counters by outcome, labelled by peer.
func TestCollector(t *testing.T) {
	nodes, nw := cluster(t, "a", "b")
	clk := clocktest.New(time.Unix(100, 0))
	nb, err := NewNodeBreakers(nodes[0], NodeBreakersConfig{Breaker: BreakerConfig{ConsecutiveFailures: 1, OpenTimeout: 10 * time.Second, Clock: clk}})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	if err := reg.Register(nb.Collector()); err != nil {
		t.Fatal(err)
	}
	if _, err := nb.RPC(ctxFor(t, 5*time.Second), "b@mem", "whoami", nil); err != nil {
		t.Fatal(err)
	}
	nw.Block("a", "b")
	nw.Block("b", "a")
	nb.RPC(ctxFor(t, 50*time.Millisecond), "b@mem", "whoami", nil) // times out: opens
	nb.RPC(ctxFor(t, 50*time.Millisecond), "b@mem", "whoami", nil) // refused
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+"="+l.GetValue())
			}
			v := m.GetGauge().GetValue() + m.GetCounter().GetValue()
			lines = append(lines, fmt.Sprintf("%s{%s} %v", f.GetName(), strings.Join(labels, ","), v))
		}
	}
	sort.Strings(lines)
	want := []string{
		"grove_breaker_calls_total{node=a@mem,outcome=failure,peer=b@mem} 1",
		"grove_breaker_calls_total{node=a@mem,outcome=ignored,peer=b@mem} 0",
		"grove_breaker_calls_total{node=a@mem,outcome=rejected,peer=b@mem} 1",
		"grove_breaker_calls_total{node=a@mem,outcome=success,peer=b@mem} 1",
		"grove_breaker_open_until_seconds{node=a@mem,peer=b@mem} 110",
		"grove_breaker_opened_total{node=a@mem,peer=b@mem} 1",
		"grove_breaker_state{node=a@mem,peer=b@mem} 1",
		"grove_breaker_trials_expired_total{node=a@mem,peer=b@mem} 0",
		"grove_breaker_trials_in_flight{node=a@mem,peer=b@mem} 0",
	}
	if got := strings.Join(lines, "\n"); got != strings.Join(want, "\n") {
		t.Fatalf("metrics\n%s\nwant\n%s", got, strings.Join(want, "\n"))
	}
}
