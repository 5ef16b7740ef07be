package proc

import (
	"fmt"
	"sync"

	"github.com/grovedev/grove/internal/shrinkmap"
)

// Dest names a process to send to: a PID, a Name registered on the local
// runtime, or a Via name resolved by a registry.
type Dest interface {
	isDest()
}

// Name is a name registered on the local runtime, like an Erlang registered
// name. A process holds at most one Name; the name is released when the
// process exits.
type Name string

// Resolver looks names up for Via. Registries implement it.
//
// WhereIs may be called from any goroutine concurrently.
type Resolver interface {
	WhereIs(key any) (PID, bool)
}

// Via is a name resolved by a Resolver, like Elixir's {:via, Registry, key}.
type Via struct {
	Registry Resolver
	Key      any
}

func (PID) isDest()  {}
func (Name) isDest() {}
func (Via) isDest()  {}

func (v Via) String() string { return fmt.Sprintf("via(%v)", v.Key) }

// names is the runtime's table of registered names.
type names struct {
	mu   sync.RWMutex
	m    map[string]*Process
	peak int // the largest len(m) since m was last rebuilt
}

func (n *names) register(name string, p *Process) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, taken := n.m[name]; taken {
		return fmt.Errorf("%w: %q", ErrNameTaken, name)
	}
	if n.m == nil {
		n.m = make(map[string]*Process)
	}
	n.m[name] = p
	n.peak = max(n.peak, len(n.m))
	return nil
}

// unregister removes name if p holds it.
func (n *names) unregister(name string, p *Process) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.m[name] != p {
		return false
	}
	delete(n.m, name)
	n.m, n.peak = shrinkmap.Shrink(n.m, n.peak)
	return true
}

func (n *names) lookup(name string) *Process {
	n.mu.RLock()
	defer n.mu.RUnlock()
	return n.m[name]
}

func (n *names) list() []string {
	n.mu.RLock()
	defer n.mu.RUnlock()
	out := make([]string, 0, len(n.m))
	for k := range n.m {
		out = append(out, k)
	}
	return out
}

// Register gives pid the name. It fails with ErrNameTaken when another
// process holds the name, and when pid already has a name.
func (rt *Runtime) Register(name string, pid PID) error {
	if name == "" {
		return fmt.Errorf("proc: empty name")
	}
	p := rt.table.get(pid)
	if p == nil {
		return fmt.Errorf("%w: %v", ErrNotAlive, pid)
	}
	return p.register(name)
}

func (p *Process) register(name string) error {
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	m := p.metaLocked()
	if m.dead {
		return fmt.Errorf("%w: %v", ErrNotAlive, p.pid)
	}
	if m.name != "" {
		return fmt.Errorf("%w: %v already has the name %q", ErrNameTaken, p.pid, m.name)
	}
	if err := p.rt.names.register(name, p); err != nil {
		return err
	}
	m.name = name
	return nil
}

// Unregister removes a registered name. It reports whether the name was
// registered.
func (rt *Runtime) Unregister(name string) bool {
	p := rt.names.lookup(name)
	if p == nil {
		return false
	}
	p.metaMu.Lock()
	defer p.metaMu.Unlock()
	if p.meta == nil || p.meta.name != name {
		return false
	}
	p.meta.name = ""
	return rt.names.unregister(name, p)
}

// WhereIs returns the PID registered under name.
func (rt *Runtime) WhereIs(name string) (PID, bool) {
	if p := rt.names.lookup(name); p != nil {
		return p.pid, true
	}
	return PID{}, false
}

// Registered returns the registered names.
func (rt *Runtime) Registered() []string { return rt.names.list() }

// resolve turns a Dest into a PID.
func (rt *Runtime) resolve(d Dest) (PID, error) {
	switch d := d.(type) {
	case PID:
		return d, nil
	case Name:
		if p := rt.names.lookup(string(d)); p != nil {
			return p.pid, nil
		}
		return PID{}, fmt.Errorf("%w: %q", ErrNotRegistered, string(d))
	case Via:
		if d.Registry == nil {
			return PID{}, fmt.Errorf("proc: Via without a registry")
		}
		if r, ok := d.Registry.(ResolveErrer); ok {
			return r.Resolve(d.Key)
		}
		if pid, ok := d.Registry.WhereIs(d.Key); ok {
			return pid, nil
		}
		return PID{}, fmt.Errorf("%w: %v", ErrNotRegistered, d)
	case NodeName:
		if d.Node == rt.name {
			return rt.resolve(Name(d.Name))
		}
		return PID{}, fmt.Errorf("proc: %v is on another node", d)
	case nil:
		return PID{}, fmt.Errorf("proc: nil destination")
	default:
		return PID{}, fmt.Errorf("proc: unsupported destination %T", d)
	}
}
