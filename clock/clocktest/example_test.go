package clocktest_test

import (
	"fmt"
	"time"

	"github.com/grovedev/grove/clock/clocktest"
)

func ExampleManual() {
	c := clocktest.New(time.Unix(0, 0).UTC())
	c.AfterFunc(2*time.Second, func() { fmt.Println("timer fired at", c.Now().Unix()) })
	c.Advance(time.Second)
	fmt.Println("pending:", c.Pending())
	c.Advance(time.Second) // the callback has run when Advance returns
	fmt.Println("pending:", c.Pending())
	// Output:
	// pending: 1
	// timer fired at 2
	// pending: 0
}
