package crdt

import (
	"maps"
	"slices"

	"github.com/grovedev/grove/vclock"
)

// dotFun maps dots to the values written with them: the DotFun store of
// Almeida et al. With V = struct{} it is their DotSet. A dot names one
// write, so two replicas holding the same dot hold the same value.
type dotFun[V any] map[vclock.Dot]V

// joinDotFun returns the join of (s, sc) and (t, tc), reusing s: a dot
// survives if both stores have it, or if one store has it and the other's
// context has not seen it (so it is new, not removed). sc must be s's
// context before tc is merged into it.
func joinDotFun[V any](s dotFun[V], sc *vclock.CausalContext, t dotFun[V], tc *vclock.CausalContext) dotFun[V] {
	for d := range s {
		if _, ok := t[d]; !ok && tc.Contains(d) {
			delete(s, d)
		}
	}
	for d, v := range t {
		if _, ok := s[d]; ok || sc.Contains(d) {
			continue
		}
		if s == nil {
			s = make(dotFun[V], len(t))
		}
		s[d] = v
	}
	return s
}

// addTo adds the dots of s to cc.
func (s dotFun[V]) addTo(cc *vclock.CausalContext) {
	for d := range s {
		cc.Add(d)
	}
}

// sortedDots returns the dots of s in Dot order.
func (s dotFun[V]) sortedDots() []vclock.Dot {
	return slices.SortedFunc(maps.Keys(s), vclock.Dot.Compare)
}

// dotSet is a set of dots.
type dotSet = dotFun[struct{}]

// singleDot returns the dot set {d}.
func singleDot(d vclock.Dot) dotSet { return dotSet{d: {}} }

// encodeDotSet encodes the dots of s against enc.
func encodeDotSet[V any](enc *dotEncoder, s dotFun[V]) []wireDot {
	return enc.dots(s.sortedDots())
}

// decodeDotSet decodes a dot set against dec.
func decodeDotSet(dec *dotDecoder, ws []wireDot) (dotSet, error) {
	s := make(dotSet, len(ws))
	for _, wd := range ws {
		d, err := dec.dot(wd)
		if err != nil {
			return nil, err
		}
		s[d] = struct{}{}
	}
	return s, nil
}
