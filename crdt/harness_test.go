package crdt

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/grovedev/grove/hlc"
	"github.com/grovedev/grove/vclock"
	"pgregory.net/rapid"
)

// crdtType is what the property tests need of a CRDT.
type crdtType[T any] interface {
	State
	Lattice[T]
}

// opRecord is one operation in the naive model's history.
type opRecord struct {
	kind  string // "add", "remove", "set", ... as the spec names them
	key   string
	elem  string
	n     uint64
	stamp hlc.Stamp
	dot   vclock.Dot // the dot the operation created, if any
	// past is the issuer's causal context before the operation (nil for
	// types without one): the operations it had observed.
	past *vclock.CausalContext
}

// observed reports whether op o had observed the earlier operation p.
func (o opRecord) observed(p opRecord) bool {
	return o.past != nil && p.dot.Counter != 0 && o.past.Contains(p.dot)
}

// spec describes one CRDT type to the generic property tests.
type spec[T crdtType[T]] struct {
	name  string
	empty func() T
	// op applies a random operation to replica r of node, returning the
	// delta and the operation's record (without past, which the harness
	// fills in for causal types).
	op func(t *rapid.T, r T, node string, ts hlc.Timestamp) (T, opRecord)
	// value renders the observed value canonically.
	value func(T) string
	// model computes the value after every operation reached every
	// replica, from the history alone.
	model func(ops []opRecord) string
}

var (
	nodes   = []string{"n1", "n2", "n3"}
	genElem = rapid.SampledFrom([]string{"a", "b", "c", "d"})
	genKey  = rapid.SampledFrom([]string{"k1", "k2", "k3"})
)

// contextOf returns v's causal context if it has one.
func contextOf(v any) *vclock.CausalContext {
	if c, ok := v.(interface{ Context() *vclock.CausalContext }); ok {
		return c.Context()
	}
	return nil
}

// world is a run of several replicas: their states, the deltas they
// produced, and the history of operations.
type world[T crdtType[T]] struct {
	reps   []T
	deltas []T
	ops    []opRecord
	clock  int64
}

// doOp performs a random operation at replica i.
func (w *world[T]) doOp(t *rapid.T, s spec[T], i int) T {
	w.clock++
	ts := hlc.Timestamp{WallNanos: rapid.Int64Range(1, 4).Draw(t, "wall"), Logical: uint32(w.clock)}
	past := contextOf(w.reps[i])
	d, rec := s.op(t, w.reps[i], nodes[i], ts)
	rec.past = past
	rec.stamp = hlc.Stamp{TS: ts, Node: nodes[i]}
	w.ops = append(w.ops, rec)
	w.deltas = append(w.deltas, d)
	return d
}

// newWorld runs random operations, delta deliveries (with loss, duplication
// and reordering) and occasional full-state merges among three replicas.
func newWorld[T crdtType[T]](t *rapid.T, s spec[T], maxSteps int) *world[T] {
	w := &world[T]{}
	for range nodes {
		w.reps = append(w.reps, s.empty())
	}
	steps := rapid.IntRange(maxSteps/3, maxSteps).Draw(t, "steps")
	for range steps {
		i := rapid.IntRange(0, len(nodes)-1).Draw(t, "replica")
		switch k := rapid.IntRange(0, 9).Draw(t, "step"); {
		case k < 5:
			w.doOp(t, s, i)
		case k < 9:
			if len(w.deltas) > 0 {
				d := w.deltas[rapid.IntRange(0, len(w.deltas)-1).Draw(t, "delta")]
				w.reps[i].Merge(d.Clone())
			}
		default:
			j := rapid.IntRange(0, len(nodes)-1).Draw(t, "from")
			w.reps[i].Merge(w.reps[j].Clone())
		}
	}
	return w
}

// fullExchange merges every replica into every other until all agree.
func (w *world[T]) fullExchange() {
	for range 2 {
		for i := range w.reps {
			for j := range w.reps {
				w.reps[i].Merge(w.reps[j].Clone())
			}
		}
	}
}

func encode(t interface{ Fatalf(string, ...any) }, s State) []byte {
	b, err := s.MarshalBinary()
	if err != nil {
		t.Fatalf("MarshalBinary: %v", err)
	}
	return b
}

// same fails unless a and b encode to the same bytes (MarshalBinary is
// deterministic, so this is state equality).
func same(t *rapid.T, what string, a, b State) {
	t.Helper()
	if ea, eb := encode(t, a), encode(t, b); !bytes.Equal(ea, eb) {
		t.Fatalf("%s: states differ\n%x\n%x", what, ea, eb)
	}
}

func join[T crdtType[T]](a, b T) T {
	c := a.Clone()
	c.Merge(b.Clone())
	return c
}

// pick returns a random replica state or delta of w.
func (w *world[T]) pick(t *rapid.T, label string) T {
	all := append(slices.Clone(w.reps), w.deltas...)
	return all[rapid.IntRange(0, len(all)-1).Draw(t, label)]
}

// checkSpec runs every generic property against s.
func checkSpec[T crdtType[T]](t *testing.T, s spec[T]) {
	t.Run("JoinIsSemilattice", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			w := newWorld(t, s, 30)
			a, b, c := w.pick(t, "a"), w.pick(t, "b"), w.pick(t, "c")
			same(t, "commutative", join(a, b), join(b, a))
			same(t, "associative", join(join(a, b), c), join(a, join(b, c)))
			same(t, "idempotent", join(a, a), a)
			var st State = a.Clone()
			if err := st.Join(b); err != nil {
				t.Fatalf("Join: %v", err)
			}
			same(t, "Join equals Merge", st, join(a, b))
		})
	})
	// The defining law of a delta-mutator (Almeida et al.): m(X) = X ⊔ mδ(X),
	// and so Y ⊔ mδ(X) = Y ⊔ m(X) for any Y that includes X.
	t.Run("DeltaEqualsFullState", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			w := newWorld(t, s, 30)
			i := rapid.IntRange(0, len(nodes)-1).Draw(t, "replica")
			before := w.reps[i].Clone()
			d := w.doOp(t, s, i)
			after := w.reps[i]
			same(t, "state joined with its delta", join(before, d), after)
			other := join(w.pick(t, "other"), before)
			same(t, "delta into a later state", join(other, d), join(other, after))
		})
	})
	t.Run("GCKeepsValue", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			w := newWorld(t, s, 30)
			stable := stabilityFrontier(w.reps)
			i := rapid.IntRange(0, len(nodes)-1).Draw(t, "replica")
			gced := w.reps[i].Clone()
			gced.GC(stable)
			if got, want := s.value(gced), s.value(w.reps[i]); got != want {
				t.Fatalf("GC changed the value from %s to %s", want, got)
			}
			other := w.pick(t, "other")
			if got, want := s.value(join(gced, other)), s.value(join(w.reps[i], other)); got != want {
				t.Fatalf("after GC, join gives %s, want %s", got, want)
			}
			if got, want := s.value(join(other, gced)), s.value(join(other, w.reps[i])); got != want {
				t.Fatalf("after GC, join into other gives %s, want %s", got, want)
			}
		})
	})
	t.Run("EncodingRoundTrips", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			w := newWorld(t, s, 30)
			v := w.pick(t, "state")
			data := encode(t, v)
			got := s.empty()
			if err := got.UnmarshalBinary(data); err != nil {
				t.Fatalf("UnmarshalBinary: %v", err)
			}
			same(t, "round trip", got, v)
			if s.value(got) != s.value(v) {
				t.Fatalf("round trip changed the value from %s to %s", s.value(v), s.value(got))
			}
			// The decoded state must work as a replica.
			other := w.pick(t, "other")
			same(t, "decoded joins like the original", join(got, other), join(v, other))
		})
	})
	t.Run("ConvergesToModel", func(t *testing.T) {
		rapid.Check(t, func(t *rapid.T) {
			w := newWorld(t, s, 60)
			w.fullExchange()
			for i := 1; i < len(w.reps); i++ {
				same(t, fmt.Sprintf("replica %d vs 0", i), w.reps[i], w.reps[0])
			}
			if got, want := s.value(w.reps[0]), s.model(w.ops); got != want {
				t.Fatalf("converged to %s, model says %s", got, want)
			}
		})
	})
}

// stabilityFrontier returns the pointwise minimum of the replicas' version
// vectors: every replica has seen every dot at or below it.
func stabilityFrontier[T any](reps []T) vclock.Clock {
	var stable vclock.Clock
	for i, r := range reps {
		cc := contextOf(r)
		if cc == nil {
			return nil
		}
		vv := cc.VersionVector()
		if i == 0 {
			stable = vv
			continue
		}
		for n, v := range stable {
			stable[n] = min(v, vv[n])
		}
	}
	return stable
}

// sortedJoin renders a list of strings canonically.
func sortedJoin(xs []string) string {
	slices.Sort(xs)
	return "{" + strings.Join(xs, ",") + "}"
}
