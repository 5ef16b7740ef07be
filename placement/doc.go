// Package placement decides which node of a cluster runs a piece of work
// identified by a key: a child of the distributed supervisor, a keyed
// entity. A Strategy is a pure function of the key and the candidate nodes
// (their names, metadata and loads), so that every node given the same
// candidates picks the same node without talking to the others.
//
// # Strategies
//
//   - BoundedLoad (the default): consistent hashing with bounded loads.
//     Candidates are ranked by rendezvous hashing (highest random weight:
//     a hash of key and node name), so adding or removing a node moves
//     only the keys that rank it first; the first candidate in rank whose
//     load is below the bound ceil(Factor × (total+1) / n) takes the key,
//     so no node gets more than Factor times its share (Mirrokni, Thorup
//     and Zadimoghaddam, "Consistent Hashing with Bounded Loads", 2018).
//   - LeastLoaded: the power of two choices — two candidates drawn by
//     hashing the key, the less loaded of the two (Mitzenmacher, 2001).
//   - Pinned: only the candidates whose metadata match (region, zone, a
//     role, tags), then another strategy among them.
//   - StrategyFunc: any function.
//
// # Usage
//
//	s := placement.Pinned{Region: "eu-west-1", Then: placement.BoundedLoad{}}
//	node, err := s.Place("session:42", []placement.Candidate{
//		{Name: "a@h1", Meta: cluster.Meta{Region: "eu-west-1"}, Load: 10},
//		{Name: "b@h2", Meta: cluster.Meta{Region: "us-east-1"}, Load: 2},
//	})
package placement
