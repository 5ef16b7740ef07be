package vclock_test

import (
	"fmt"
	"strings"

	"github.com/grovedev/grove/vclock"
)

func ExampleClock_Compare() {
	a := vclock.Clock{}
	a.Increment("n1")
	b := a.Copy()
	b.Increment("n2")
	fmt.Println(a.Compare(b))
	a.Increment("n1")
	fmt.Println(a.Compare(b))
	a.Merge(b)
	fmt.Println(a, a.Compare(b))
	// Output:
	// Before
	// Concurrent
	// {n1:2 n2:1} After
}

func ExampleCausalContext() {
	var cc vclock.CausalContext
	d := cc.Next("n1")
	fmt.Println(d, cc.Contains(d))
	cc.Add(vclock.Dot{Node: "n2", Counter: 2}) // n2:1 is missing
	fmt.Println(cc.VersionVector(), cc.Cloud())
	cc.Add(vclock.Dot{Node: "n2", Counter: 1}) // fills the gap
	fmt.Println(cc.VersionVector(), cc.Cloud())
	// Output:
	// n1:1 true
	// {n1:1} [n2:2]
	// {n1:1 n2:2} []
}

func ExampleResolveConcurrent() {
	union := func(x, y string) string {
		if x > y {
			x, y = y, x
		}
		return strings.Join([]string{x, y}, ",")
	}
	a := vclock.Versioned[string]{Value: "milk", Clock: vclock.Clock{"n1": 2}}
	b := vclock.Versioned[string]{Value: "eggs", Clock: vclock.Clock{"n1": 1, "n2": 1}}
	r := vclock.ResolveConcurrent(a, b, union)
	fmt.Println(r.Value, r.Clock)
	// Output: eggs,milk {n1:2 n2:1}
}
