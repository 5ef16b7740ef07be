package placement_test

import (
	"fmt"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/placement"
)

func Example() {
	nodes := []placement.Candidate{
		{Name: "a@h1", Meta: cluster.Meta{Region: "eu"}, Load: 3},
		{Name: "b@h2", Meta: cluster.Meta{Region: "eu"}, Load: 0},
		{Name: "c@h3", Meta: cluster.Meta{Region: "us"}, Load: 0},
	}
	eu := placement.Pinned{Region: "eu"}
	n, _ := eu.Place("session:42", nodes)
	fmt.Println("pinned to eu:", n)

	// The same inputs give the same node on every node of the cluster.
	n1, _ := placement.BoundedLoad{}.Place("job:7", nodes)
	n2, _ := placement.BoundedLoad{}.Place("job:7", []placement.Candidate{nodes[2], nodes[0], nodes[1]})
	fmt.Println(n1 == n2)
	// Output:
	// pinned to eu: b@h2
	// true
}
