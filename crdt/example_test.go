package crdt_test

import (
	"fmt"
	"slices"

	"github.com/grovedev/grove/crdt"
	"github.com/grovedev/grove/hlc"
)

func ExampleORSet() {
	a, b := crdt.NewORSet[string](), crdt.NewORSet[string]()
	b.Merge(a.Add("n1", "apple")) // ship the delta to b
	b.Remove("apple")             // b removes the apple it has seen...
	a.Add("n1", "apple")          // ...while a adds it again, concurrently
	a.Add("n1", "pear")
	dRemove := a.Remove("pear")
	a.Merge(b)
	b.Merge(a)
	b.Merge(dRemove) // a stale or duplicated delta changes nothing
	fmt.Println(a.Elements(), b.Elements())
	// Output: [apple] [apple]
}

func ExampleGCounter() {
	a, b := crdt.NewGCounter(), crdt.NewGCounter()
	a.Increment("n1", 2)
	d := b.Increment("n2", 3)
	a.Merge(d)
	a.Merge(d) // joining twice counts once
	fmt.Println(a.Value())
	// Output: 5
}

func ExamplePNCounter() {
	c := crdt.NewPNCounter()
	c.Increment("n1", 5)
	c.Decrement("n2", 7)
	fmt.Println(c.Value())
	// Output: -2
}

func ExampleLWWRegister() {
	a, b := crdt.NewLWWRegister[string](), crdt.NewLWWRegister[string]()
	a.Set("n1", "blue", hlc.Timestamp{WallNanos: 100})
	b.Set("n2", "green", hlc.Timestamp{WallNanos: 100}) // same time: n2 > n1 wins
	a.Merge(b)
	v, _ := a.Value()
	fmt.Println(v, a.Stamp())
	// Output: green 100.0@n2
}

func ExampleMVRegister() {
	a, b := crdt.NewMVRegister[string](), crdt.NewMVRegister[string]()
	a.Write("n1", "draft A")
	b.Write("n2", "draft B")
	a.Merge(b)
	fmt.Println(a.Values())
	b.Merge(a.Write("n1", "merged")) // a saw both: its write replaces them
	fmt.Println(b.Values())
	// Output:
	// [draft A draft B]
	// [merged]
}

func ExampleEWFlag() {
	a, b := crdt.NewEWFlag(), crdt.NewEWFlag()
	b.Merge(a.Enable("n1"))
	b.Disable()
	a.Enable("n1") // concurrent with b's Disable: enable wins
	a.Merge(b)
	fmt.Println(a.Value())
	// Output: true
}

func ExampleDWFlag() {
	a, b := crdt.NewDWFlag(), crdt.NewDWFlag()
	fmt.Println(a.Value())
	a.Disable("n1")
	b.Enable() // concurrent with a's Disable: disable wins
	a.Merge(b)
	fmt.Println(a.Value())
	// Output:
	// true
	// false
}

func ExampleAWLWWMap() {
	a, b := crdt.NewAWLWWMap[string, string](), crdt.NewAWLWWMap[string, string]()
	b.Merge(a.Set("n1", "user:1", "online", hlc.Timestamp{WallNanos: 1}))
	b.Set("n2", "user:1", "away", hlc.Timestamp{WallNanos: 2})
	a.Remove("user:1") // concurrent with b's Set: the Set wins
	a.Merge(b)
	v, ok := a.Get("user:1")
	fmt.Println(v, ok)
	// Output: away true
}

func ExampleORMap() {
	type Carts = crdt.ORMap[string, *crdt.ORSet[string]]
	a, b := crdt.NewORMap[string, *crdt.ORSet[string]](), crdt.NewORMap[string, *crdt.ORSet[string]]()
	b.Merge(a.Update("alice", func(s *crdt.ORSet[string]) *crdt.ORSet[string] {
		return s.Add("n1", "book")
	}))
	b.Remove("alice") // b drops alice's cart...
	a.Update("alice", func(s *crdt.ORSet[string]) *crdt.ORSet[string] {
		return s.Add("n1", "pen") // ...while a adds to it: the update survives
	})
	var merged *Carts = a.Clone()
	merged.Merge(b)
	cart, _ := merged.Get("alice")
	fmt.Println(cart.Elements())
	// Output: [pen]
}

func ExampleRegistry() {
	reg := crdt.NewRegistry()
	_ = reg.Register("presence", func() crdt.State { return crdt.NewORSet[string]() })

	s := crdt.NewORSet[string]()
	s.Add("n1", "alice")
	data, _ := s.MarshalBinary()

	st, err := reg.Decode("presence", data) // by name only
	if err != nil {
		panic(err)
	}
	other := crdt.NewORSet[string]()
	other.Add("n2", "bob")
	_ = st.Join(other)
	elems := st.(*crdt.ORSet[string]).Elements()
	slices.Sort(elems)
	fmt.Println(st.TypeName(), elems)
	// Output: orset [alice bob]
}
