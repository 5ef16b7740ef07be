package history

import (
	"errors"
	"sync"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestRecorderConcurrentAndPaired(t *testing.T) {
	r := NewRecorder()
	var wg sync.WaitGroup
	for p := range 8 {
		wg.Go(func() {
			for i := range 100 {
				c := r.Invoke(p, "write", "k", i)
				switch i % 3 {
				case 0:
					c.OK(nil)
				case 1:
					c.Fail(errors.New("refused"))
				case 2:
					c.Info(errors.New("timeout"))
					c.OK(nil) // ignored: the outcome is recorded once
				}
			}
		})
	}
	wg.Wait()
	r.Invoke(99, "read", "k", nil) // never completes
	h := r.History()
	if len(h) != 8*100*2+1 {
		t.Fatalf("%d entries", len(h))
	}
	for i, o := range h {
		if o.Index != i || (i > 0 && o.Time < h[i-1].Time) {
			t.Fatalf("entry %d: %v after %v", i, o, h[i-1])
		}
	}
	ops := h.Operations()
	counts := map[Kind]int{}
	for _, o := range ops {
		if o.Complete.Of != o.Invoke.Index || o.Complete.Process != o.Invoke.Process {
			t.Fatalf("bad pair %v / %v", o.Invoke, o.Complete)
		}
		counts[o.Outcome()]++
	}
	if counts[OK] != 8*34 || counts[Fail] != 8*33 || counts[Info] != 8*33+1 {
		t.Fatalf("outcomes %v", counts)
	}
	if last := ops[len(ops)-1]; last.Complete.Time != -1 || last.Outcome() != Info {
		t.Fatalf("uncompleted op: %v", last.Complete)
	}
}
