package check_test

import (
	"errors"
	"fmt"
	"os"

	"github.com/grovedev/grove/faultkit/check"
	"github.com/grovedev/grove/faultkit/history"
)

// A stale read: client 1 reads the old value after client 0's write
// returned. The visualisation shows why.
func ExampleLinearizable() {
	rec := history.NewRecorder()
	w := rec.Invoke(0, "write", "x", 1)
	w.OK(nil)
	r := rec.Invoke(1, "read", "x", nil)
	r.OK(0)
	res, err := check.Linearizable(rec.History(), check.Options{Initial: 0})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(res.Verdict, res.Visualization != "")
	os.Remove(res.Visualization)
	// Output: invalid true
}

// An increment that timed out may or may not have counted.
func ExampleCounter() {
	rec := history.NewRecorder()
	rec.Invoke(0, "add", "", 5).OK(nil)
	rec.Invoke(1, "add", "", 3).Info(errors.New("timeout"))
	fmt.Println(check.Counter(rec.History(), 8))
	fmt.Println(check.Counter(rec.History(), 4))
	// Output:
	// counter: valid, final 8, allowed [5, 8]
	// counter: invalid, final 4, allowed [5, 8]
}

func ExampleTotalQueue() {
	rec := history.NewRecorder()
	for _, v := range []string{"m1", "m2", "m3"} {
		rec.Invoke(0, "enqueue", "", v).OK(nil)
	}
	for _, v := range []string{"m1", "m3", "m3"} {
		rec.Invoke(1, "dequeue", "", nil).OK(v)
	}
	fmt.Println(check.TotalQueue(rec.History()))
	// Output: queue: invalid, 3 enqueued, 3 delivered, lost [m2], duplicated [m3], unexpected [], recovered []
}
