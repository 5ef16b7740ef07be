package history_test

import (
	"errors"
	"fmt"

	"github.com/grovedev/grove/faultkit/history"
)

func ExampleRecorder() {
	rec := history.NewRecorder()
	rec.Invoke(1, "write", "k", 7).OK(nil)
	rec.Invoke(2, "read", "k", nil).OK(7)
	rec.Invoke(3, "write", "k", 8).Info(errors.New("timeout"))
	for _, op := range rec.History().Operations() {
		fmt.Println(op.Invoke.Process, op.Invoke.F, op.Invoke.Value, "->", op.Outcome(), op.Complete.Value)
	}
	// Output:
	// 1 write 7 -> ok <nil>
	// 2 read <nil> -> ok 7
	// 3 write 8 -> info <nil>
}
