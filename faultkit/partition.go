package faultkit

import (
	"math/rand/v2"
	"slices"
	"strings"
)

// Partition is a set of cut links with a description. The shapes below
// build one from a set of endpoint names; Network.Partition applies it.
// A cut link stalls: bytes written on it stay buffered (as TCP keeps
// retransmitting) and dials across it fail, so a node notices the cut
// through its heartbeat timeout, as it would on a real network.
type Partition struct {
	Name string // shape and groups, for logs
	Cut  []Link // directed links that carry nothing
}

// String returns the description.
func (p Partition) String() string {
	if p.Name == "" && len(p.Cut) == 0 {
		return "healed"
	}
	return p.Name
}

// Cuts reports whether p cuts the link from → to.
func (p Partition) Cuts(from, to string) bool {
	return slices.Contains(p.Cut, Link{from, to})
}

// Groups returns the partition that cuts, both ways, every pair of
// endpoints in different groups. Endpoints in no group are not cut.
func Groups(groups ...[]string) Partition {
	p := Partition{Name: describe(groups)}
	for i, g := range groups {
		for j, h := range groups {
			if i == j {
				continue
			}
			for _, a := range g {
				for _, b := range h {
					if a != b {
						p.Cut = append(p.Cut, Link{a, b})
					}
				}
			}
		}
	}
	return p
}

func describe(groups [][]string) string {
	parts := make([]string, len(groups))
	for i, g := range groups {
		parts[i] = "{" + strings.Join(g, ",") + "}"
	}
	return strings.Join(parts, " | ")
}

// Halves cuts nodes into two halves in the order given, the first half the
// smaller when their number is odd: [a b c d e] gives {a b} | {c d e}.
func Halves(nodes []string) Partition {
	mid := len(nodes) / 2
	p := Groups(slices.Clone(nodes[:mid]), slices.Clone(nodes[mid:]))
	p.Name = "halves " + p.Name
	return p
}

// RandomHalves shuffles nodes with r and cuts them into halves.
func RandomHalves(r *rand.Rand, nodes []string) Partition {
	s := slices.Clone(nodes)
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	p := Halves(s)
	p.Name = "random " + p.Name
	return p
}

// Isolate cuts node off from every other node, both ways.
func Isolate(nodes []string, node string) Partition {
	var rest []string
	for _, n := range nodes {
		if n != node {
			rest = append(rest, n)
		}
	}
	p := Groups([]string{node}, rest)
	p.Name = "isolate " + node
	return p
}

// MajoritiesRing places nodes on a ring in the order given; each node
// hears only its neighbours within the distance that makes a majority with
// itself, so every node sees a majority but neighbouring nodes see
// different majorities (Jepsen's majorities-ring). With three or fewer
// nodes nothing is cut.
func MajoritiesRing(nodes []string) Partition {
	n := len(nodes)
	majority := n/2 + 1
	k := majority / 2 // window of 2k+1 >= majority nodes around each
	if 2*k+1 < majority {
		k++
	}
	p := Partition{Name: "majorities ring [" + strings.Join(nodes, " ") + "]"}
	for i := range n {
		for j := range n {
			d := (j - i + n) % n
			d = min(d, n-d)
			if d > k {
				p.Cut = append(p.Cut, Link{nodes[i], nodes[j]})
			}
		}
	}
	return p
}

// Bridge cuts nodes into two halves that cannot hear each other except
// through the node in the middle of the order given, which hears both:
// [a b c d e] gives {a b} and {d e} cut, c connected to all.
func Bridge(nodes []string) Partition {
	mid := len(nodes) / 2
	if len(nodes) < 3 {
		return Partition{Name: "bridge (too few nodes)"}
	}
	p := Groups(slices.Clone(nodes[:mid]), slices.Clone(nodes[mid+1:]))
	p.Name = "bridge " + nodes[mid] + " between " + p.Name
	return p
}

// OneWay cuts only the direction from → to: to does not hear from, while
// from still hears to. (Dials between the two fail both ways, as memnet
// refuses a connection whose handshake could not complete.)
func OneWay(from, to string) Partition {
	return Partition{Name: "one-way " + from + " -/-> " + to, Cut: []Link{{from, to}}}
}

// Merge returns the union of partitions.
func Merge(ps ...Partition) Partition {
	var out Partition
	seen := map[Link]bool{}
	var names []string
	for _, p := range ps {
		names = append(names, p.String())
		for _, l := range p.Cut {
			if !seen[l] {
				seen[l] = true
				out.Cut = append(out.Cut, l)
			}
		}
	}
	out.Name = strings.Join(names, " + ")
	return out
}
