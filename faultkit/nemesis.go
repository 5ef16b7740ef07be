package faultkit

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// Fault is a kind of fault the nemesis may inject.
type Fault string

// The faults of a nemesis schedule.
const (
	// FaultPartition applies a random shape (halves, random halves,
	// isolate, majorities ring, bridge, one-way) and heals it.
	FaultPartition Fault = "partition"
	// FaultPause pauses a random node's network and resumes it.
	FaultPause Fault = "pause"
	// FaultSlow adds delay, jitter and a bandwidth cap to random links.
	FaultSlow Fault = "slow"
	// FaultDrop makes a random link drop writes with some probability,
	// which on a stream cuts its connections (see Faults.Drop).
	FaultDrop Fault = "drop"
	// FaultReset closes every connection between two random nodes.
	FaultReset Fault = "reset"
	// FaultKill kills a random node and restarts it (Cluster only).
	FaultKill Fault = "kill"
	// FaultClock jumps a random node's clock forwards or back (Cluster
	// only).
	FaultClock Fault = "clock"
)

// NetworkFaults are the faults that act on the network only and keep a
// reliable stream reliable: what a Grove link must survive without
// reordering or duplicating messages.
var NetworkFaults = []Fault{FaultPartition, FaultPause, FaultSlow, FaultDrop, FaultReset}

// NemesisConfig describes a nemesis. Zero durations mean the defaults.
type NemesisConfig struct {
	// Seed determines the whole schedule.
	Seed uint64
	// Nodes are the endpoint (node) names faults choose from.
	Nodes []string
	// Faults are the kinds to draw from. Default NetworkFaults.
	Faults []Fault
	// Duration bounds the schedule: no fault starts after it and every
	// fault is undone by it. Default 2 s.
	Duration time.Duration
	// Hold bounds how long one fault lasts, drawn in [Hold/4, Hold].
	// Default 300 ms.
	Hold time.Duration
	// Quiet bounds the healthy gap before each fault, drawn in
	// [Quiet/4, Quiet]. Default 150 ms.
	Quiet time.Duration
	// Logf, when set, receives one line per step as it runs (t.Logf).
	Logf func(format string, args ...any)
}

func (c *NemesisConfig) defaults() {
	if len(c.Faults) == 0 {
		c.Faults = NetworkFaults
	}
	if c.Duration <= 0 {
		c.Duration = 2 * time.Second
	}
	if c.Hold <= 0 {
		c.Hold = 300 * time.Millisecond
	}
	if c.Quiet <= 0 {
		c.Quiet = 150 * time.Millisecond
	}
}

// Step is one action of a schedule: a fault starting or being undone.
type Step struct {
	At    time.Duration // since the nemesis started
	Fault Fault
	Undo  bool // the step ends the fault started before it

	Partition Partition     // FaultPartition
	Node      string        // FaultPause, FaultKill, FaultClock
	Links     []Link        // FaultSlow, FaultDrop, FaultReset
	Faults    Faults        // FaultSlow, FaultDrop
	Jump      time.Duration // FaultClock
}

// String describes the step for logs.
func (s Step) String() string {
	verb := "start"
	if s.Undo {
		verb = "undo"
	}
	what := ""
	switch s.Fault {
	case FaultPartition:
		what = s.Partition.String()
	case FaultPause, FaultKill:
		what = s.Node
	case FaultClock:
		what = fmt.Sprintf("%s by %v", s.Node, s.Jump)
	case FaultSlow, FaultDrop:
		what = fmt.Sprintf("%v %v", s.Links, s.Faults)
	case FaultReset:
		what = fmt.Sprint(s.Links)
	}
	return fmt.Sprintf("+%v %s %s %s", s.At.Round(time.Millisecond), verb, s.Fault, what)
}

// Schedule returns the steps a nemesis with cfg runs: a pure function of
// cfg, so the same seed gives the same schedule.
func Schedule(cfg NemesisConfig) []Step {
	cfg.defaults()
	nodes := slices.Clone(cfg.Nodes)
	slices.Sort(nodes)
	r := rand.New(rand.NewPCG(cfg.Seed, 0x6e656d65736973))
	draw := func(max time.Duration) time.Duration {
		lo := max / 4
		return lo + time.Duration(r.Int64N(int64(max-lo)+1))
	}
	var steps []Step
	at := time.Duration(0)
	for len(nodes) > 0 {
		at += draw(cfg.Quiet)
		if at >= cfg.Duration {
			break
		}
		s := Step{At: at, Fault: cfg.Faults[r.IntN(len(cfg.Faults))]}
		pick := func() string { return nodes[r.IntN(len(nodes))] }
		pair := func() Link {
			a := pick()
			b := pick()
			for len(nodes) > 1 && b == a {
				b = pick()
			}
			return Link{a, b}
		}
		switch s.Fault {
		case FaultPartition:
			s.Partition = randomShape(r, nodes)
		case FaultPause, FaultKill:
			s.Node = pick()
		case FaultClock:
			s.Node = pick()
			s.Jump = time.Duration(r.Int64N(int64(4*time.Second))) - 2*time.Second
		case FaultSlow:
			l := pair()
			s.Links = []Link{l, {l.To, l.From}}
			s.Faults = Faults{
				Delay:     time.Duration(r.Int64N(int64(20 * time.Millisecond))),
				Jitter:    time.Duration(r.Int64N(int64(20*time.Millisecond))) + 1,
				Bandwidth: 64<<10 + r.Int64N(1<<20),
			}
		case FaultDrop:
			s.Links = []Link{pair()}
			s.Faults = Faults{Drop: 0.05 + 0.5*r.Float64()}
		case FaultReset:
			s.Links = []Link{pair()}
		}
		steps = append(steps, s)
		at += draw(cfg.Hold)
		if at > cfg.Duration {
			at = cfg.Duration
		}
		if s.Fault != FaultClock && s.Fault != FaultReset {
			u := s
			u.At, u.Undo = at, true
			steps = append(steps, u)
		}
	}
	return steps
}

func randomShape(r *rand.Rand, nodes []string) Partition {
	shapes := []func() Partition{
		func() Partition { return Halves(nodes) },
		func() Partition { return RandomHalves(r, nodes) },
		func() Partition { return Isolate(nodes, nodes[r.IntN(len(nodes))]) },
		func() Partition {
			a := nodes[r.IntN(len(nodes))]
			b := nodes[r.IntN(len(nodes))]
			if a == b && len(nodes) > 1 {
				b = nodes[(slices.Index(nodes, a)+1)%len(nodes)]
			}
			return OneWay(a, b)
		},
	}
	if len(nodes) >= 4 {
		shapes = append(shapes, func() Partition {
			s := slices.Clone(nodes)
			r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
			return MajoritiesRing(s)
		})
	}
	if len(nodes) >= 3 {
		shapes = append(shapes, func() Partition {
			s := slices.Clone(nodes)
			r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
			return Bridge(s)
		})
	}
	return shapes[r.IntN(len(shapes))]()
}

// Nemesis runs a schedule against a Network (and a Cluster for kills and
// clock jumps) on the real clock. Close stops it and heals everything.
type Nemesis struct {
	cfg   NemesisConfig
	nw    *Network
	cl    *Cluster
	steps []Step
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	mu struct {
		sync.Mutex
		ran    []Step
		err    error
		killed map[string]bool
	}
}

// StartNemesis starts running Schedule(cfg) on nw. cl may be nil; then
// FaultKill and FaultClock steps are skipped. When cl is set, nw may be
// nil and the cluster's network is used.
func StartNemesis(cfg NemesisConfig, nw *Network, cl *Cluster) *Nemesis {
	cfg.defaults()
	if nw == nil && cl != nil {
		nw = cl.Network()
	}
	if len(cfg.Nodes) == 0 && cl != nil {
		cfg.Nodes = cl.Names()
	}
	n := &Nemesis{cfg: cfg, nw: nw, cl: cl, steps: Schedule(cfg), stop: make(chan struct{}), done: make(chan struct{})}
	n.mu.killed = map[string]bool{}
	if n.cfg.Logf != nil {
		n.cfg.Logf("nemesis: seed %d, %d steps over %v", cfg.Seed, len(n.steps), cfg.Duration)
	}
	go n.run()
	return n
}

// Steps returns the whole schedule.
func (n *Nemesis) Steps() []Step { return slices.Clone(n.steps) }

// Ran returns the steps run so far.
func (n *Nemesis) Ran() []Step {
	n.mu.Lock()
	defer n.mu.Unlock()
	return slices.Clone(n.mu.ran)
}

// Done is closed when the schedule has run to its end (or Close).
func (n *Nemesis) Done() <-chan struct{} { return n.done }

func (n *Nemesis) run() {
	defer close(n.done)
	start := time.Now()
	for _, s := range n.steps {
		wait := s.At - time.Since(start)
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-n.stop:
				t.Stop()
				return
			}
		}
		select {
		case <-n.stop:
			return
		default:
		}
		n.apply(s)
	}
}

func (n *Nemesis) apply(s Step) {
	if n.cfg.Logf != nil {
		n.cfg.Logf("nemesis: %s", s)
	}
	var err error
	switch s.Fault {
	case FaultPartition:
		if s.Undo {
			n.nw.Heal()
		} else {
			n.nw.Partition(s.Partition)
		}
	case FaultPause:
		if s.Undo {
			n.nw.Resume(s.Node)
		} else {
			n.nw.Pause(s.Node)
		}
	case FaultSlow, FaultDrop:
		for _, l := range s.Links {
			if s.Undo {
				n.nw.SetFaults(l.From, l.To, Faults{})
			} else {
				n.nw.SetFaults(l.From, l.To, s.Faults)
			}
		}
	case FaultReset:
		for _, l := range s.Links {
			n.nw.Memnet().ResetLink(l.From, l.To)
		}
	case FaultKill:
		if n.cl == nil {
			break
		}
		if s.Undo {
			n.mu.Lock()
			killed := n.mu.killed[s.Node]
			delete(n.mu.killed, s.Node)
			n.mu.Unlock()
			if killed {
				err = n.restart(s.Node)
			}
		} else if n.cl.Kill(s.Node) == nil {
			n.mu.Lock()
			n.mu.killed[s.Node] = true
			n.mu.Unlock()
		}
	case FaultClock:
		if n.cl != nil {
			n.cl.Jump(s.Node, s.Jump)
		}
	}
	n.mu.Lock()
	n.mu.ran = append(n.mu.ran, s)
	if err != nil && n.mu.err == nil {
		n.mu.err = err
	}
	n.mu.Unlock()
}

func (n *Nemesis) restart(name string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.cl.Restart(ctx, name); err != nil {
		return fmt.Errorf("nemesis: restart %s: %w", name, err)
	}
	return nil
}

// Close stops the schedule, heals the network (partition, pauses, link
// faults) and restarts the nodes it killed. It returns the first error of
// a restart. It is idempotent.
func (n *Nemesis) Close() error {
	n.once.Do(func() {
		close(n.stop)
		<-n.done
		n.nw.HealAll()
		n.mu.Lock()
		var killed []string
		for k := range n.mu.killed {
			killed = append(killed, k)
		}
		clear(n.mu.killed)
		n.mu.Unlock()
		slices.Sort(killed)
		var errs []error
		for _, k := range killed {
			errs = append(errs, n.restart(k))
		}
		n.mu.Lock()
		n.mu.err = errors.Join(append([]error{n.mu.err}, errs...)...)
		n.mu.Unlock()
		if n.cfg.Logf != nil {
			n.cfg.Logf("nemesis: healed")
		}
	})
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.mu.err
}
