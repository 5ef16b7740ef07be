package placement

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/grovedev/grove/cluster"
)

// Candidate is a node that may take a key.
type Candidate struct {
	Name string
	Meta cluster.Meta
	// Load is the work the node runs now, in the caller's unit (children).
	Load int
}

// Strategy picks the node for a key.
//
// Place must be deterministic: the same key and the same candidates, in
// any order, give the same node on every node of the cluster. It must not
// modify cands. It returns ErrNoCandidate when no candidate fits. It may be
// called from many goroutines at once.
type Strategy interface {
	Place(key string, cands []Candidate) (string, error)
}

// ErrNoCandidate is returned when no candidate can take the key.
var ErrNoCandidate = errors.New("placement: no candidate node")

// StrategyFunc adapts a function to Strategy.
type StrategyFunc func(key string, cands []Candidate) (string, error)

// Place calls f.
func (f StrategyFunc) Place(key string, cands []Candidate) (string, error) { return f(key, cands) }

var (
	_ Strategy = BoundedLoad{}
	_ Strategy = LeastLoaded{}
	_ Strategy = Pinned{}
	_ Strategy = StrategyFunc(nil)
)

// Weight is the rendezvous weight of key on node: a 64-bit FNV-1a hash of
// both, mixed. Every node computes the same weight.
func Weight(key, node string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint64(key[i])) * prime
	}
	h *= prime // the separator byte, 0
	for i := 0; i < len(node); i++ {
		h = (h ^ uint64(node[i])) * prime
	}
	return mix(h)
}

// mix is the finalizer of SplitMix64: FNV's low bits alone spread poorly.
func mix(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// Rank returns the candidates in rendezvous order for key: highest weight
// first, ties by name.
func Rank(key string, cands []Candidate) []Candidate {
	type ranked struct {
		w uint64
		c Candidate
	}
	rs := make([]ranked, len(cands))
	for i, c := range cands {
		rs[i] = ranked{Weight(key, c.Name), c}
	}
	slices.SortFunc(rs, func(a, b ranked) int {
		switch {
		case a.w > b.w:
			return -1
		case a.w < b.w:
			return 1
		case a.c.Name < b.c.Name:
			return -1
		case a.c.Name > b.c.Name:
			return 1
		}
		return 0
	})
	out := make([]Candidate, len(rs))
	for i := range rs {
		out[i] = rs[i].c
	}
	return out
}

// BoundedLoad is consistent hashing with bounded loads: the first
// candidate by rendezvous rank whose load is below
// ceil(Factor × (total load + 1) / candidates).
type BoundedLoad struct {
	// Factor bounds a node's load relative to the mean; at least 1.
	// Default 1.25.
	Factor float64
}

// Place implements Strategy.
func (b BoundedLoad) Place(key string, cands []Candidate) (string, error) {
	if len(cands) == 0 {
		return "", ErrNoCandidate
	}
	f := b.Factor
	if f == 0 {
		f = 1.25
	}
	if f < 1 || math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("placement: BoundedLoad factor %v below 1", f)
	}
	total := 0
	for _, c := range cands {
		total += max(c.Load, 0)
	}
	bound := int(math.Ceil(f * float64(total+1) / float64(len(cands))))
	if total == 0 {
		// No loads: the top of the rendezvous rank, without sorting.
		best, bw := 0, Weight(key, cands[0].Name)
		for i := 1; i < len(cands); i++ {
			w := Weight(key, cands[i].Name)
			if w > bw || w == bw && cands[i].Name < cands[best].Name {
				best, bw = i, w
			}
		}
		return cands[best].Name, nil
	}
	ranked := Rank(key, cands)
	for _, c := range ranked {
		if c.Load < bound {
			return c.Name, nil
		}
	}
	return ranked[0].Name, nil // unreachable: some load is at most the mean
}

// LeastLoaded is the power of two choices: of two candidates chosen by
// hashing the key, the one with the lower load (ties to the first).
type LeastLoaded struct{}

// Place implements Strategy.
func (LeastLoaded) Place(key string, cands []Candidate) (string, error) {
	switch len(cands) {
	case 0:
		return "", ErrNoCandidate
	case 1:
		return cands[0].Name, nil
	}
	sorted := slices.Clone(cands)
	slices.SortFunc(sorted, func(a, b Candidate) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	i := int(Weight(key, "\x00first") % uint64(len(sorted)))
	j := int(Weight(key, "\x00second") % uint64(len(sorted)-1))
	if j >= i {
		j++
	}
	a, b := sorted[i], sorted[j]
	if b.Load < a.Load {
		return b.Name, nil
	}
	return a.Name, nil
}

// Pinned places only on candidates whose metadata match every field set
// (Region, Zone, Role, and every Tag), with Then among them (default
// BoundedLoad).
type Pinned struct {
	Region, Zone, Role string
	Tags               map[string]string
	Then               Strategy
}

// Matches reports whether m satisfies the pin.
func (p Pinned) Matches(m cluster.Meta) bool {
	if p.Region != "" && m.Region != p.Region || p.Zone != "" && m.Zone != p.Zone {
		return false
	}
	if p.Role != "" && !m.HasRole(p.Role) {
		return false
	}
	for k, v := range p.Tags {
		if m.Tags[k] != v {
			return false
		}
	}
	return true
}

// Place implements Strategy.
func (p Pinned) Place(key string, cands []Candidate) (string, error) {
	var fit []Candidate
	for _, c := range cands {
		if p.Matches(c.Meta) {
			fit = append(fit, c)
		}
	}
	if len(fit) == 0 {
		return "", fmt.Errorf("%w: none matches %s", ErrNoCandidate, p)
	}
	then := p.Then
	if then == nil {
		then = BoundedLoad{}
	}
	return then.Place(key, fit)
}

func (p Pinned) String() string {
	s := "pin"
	if p.Region != "" {
		s += " region=" + p.Region
	}
	if p.Zone != "" {
		s += " zone=" + p.Zone
	}
	if p.Role != "" {
		s += " role=" + p.Role
	}
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range p.Tags {
			if !yield(k) {
				return
			}
		}
	}) {
		s += " " + k + "=" + p.Tags[k]
	}
	return s
}
