package hlc_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
	"github.com/grovedev/grove/hlc"
)

func ExampleClock() {
	phys := clocktest.New(time.Unix(0, 1000))
	c, err := hlc.New(phys, hlc.Config{MaxSkew: time.Second})
	if err != nil {
		panic(err)
	}
	fmt.Println(c.Now())
	fmt.Println(c.Now()) // same physical time: the logical counter moves
	ts, _ := c.Update(hlc.Timestamp{WallNanos: 5000, Logical: 3})
	fmt.Println(ts) // after the remote timestamp
	_, err = c.Update(hlc.Timestamp{WallNanos: int64(time.Hour)})
	fmt.Println(errors.Is(err, hlc.ErrClockSkew), c.Rejected())
	// Output:
	// 1000.0
	// 1000.1
	// 5000.4
	// true 1
}

func ExampleLWW() {
	ts := hlc.Timestamp{WallNanos: 42}
	a := hlc.Tagged[string]{Value: "from n1", Stamp: hlc.Stamp{TS: ts, Node: "n1"}}
	b := hlc.Tagged[string]{Value: "from n2", Stamp: hlc.Stamp{TS: ts, Node: "n2"}}
	fmt.Println(hlc.LWW(a, b).Value) // equal timestamps: the greater node id wins
	// Output: from n2
}
