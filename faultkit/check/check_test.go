package check

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/grovedev/grove/faultkit/history"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// hb builds histories with explicit times, for hand-made cases.
type hb struct{ h history.History }

// op adds an operation of process p from call to ret (ret < 0: never
// completed) with outcome k; v is the argument, out the result.
func (b *hb) op(p int, f, key string, v any, call, ret int, k history.Kind, out any) {
	inv := history.Op{Index: len(b.h), Process: p, Kind: history.Invoke, F: f, Key: key, Value: v, Time: time.Duration(call)}
	b.h = append(b.h, inv)
	if ret >= 0 {
		b.h = append(b.h, history.Op{Index: len(b.h), Of: inv.Index, Process: p, Kind: k, F: f, Key: key, Value: out, Time: time.Duration(ret)})
	}
}

func lin(t *testing.T, h history.History, opts Options) LinearizabilityResult {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	if opts.Initial == nil {
		opts.Initial = 0
	}
	r, err := Linearizable(h, opts)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestLinearizableGoodHistory(t *testing.T) {
	var b hb
	b.op(0, "write", "x", 1, 0, 10, history.OK, nil)
	b.op(1, "read", "x", nil, 5, 15, history.OK, 0) // concurrent with the write
	b.op(1, "read", "x", nil, 20, 30, history.OK, 1)
	b.op(0, "cas", "x", CAS{1, 2}, 31, 40, history.OK, nil)
	b.op(2, "read", "x", nil, 41, 50, history.OK, 2)
	b.op(2, "write", "y", 7, 0, 100, history.OK, nil)
	b.op(3, "read", "y", nil, 1, 2, history.OK, 0)
	if r := lin(t, b.h, Options{}); !r.OK() || r.Visualization != "" {
		t.Fatalf("%v", r)
	}
}

func TestLinearizableStaleReadFails(t *testing.T) {
	var b hb
	b.op(0, "write", "x", 1, 0, 10, history.OK, nil)
	b.op(1, "read", "x", nil, 20, 30, history.OK, 0) // stale: the write had returned
	b.op(2, "write", "y", 1, 0, 10, history.OK, nil) // another key, fine
	r := lin(t, b.h, Options{Name: "stale/read"})
	if r.Verdict != Invalid {
		t.Fatalf("%v", r)
	}
	data, err := os.ReadFile(r.Visualization)
	if err != nil || !strings.Contains(string(data), "<html") {
		t.Fatalf("visualisation %s: %v", r.Visualization, err)
	}
}

func TestLinearizableFailedWriteHasNoEffect(t *testing.T) {
	var b hb
	b.op(0, "write", "x", 1, 0, 10, history.Fail, nil)
	b.op(1, "read", "x", nil, 20, 30, history.OK, 1)
	if r := lin(t, b.h, Options{}); r.Verdict != Invalid {
		t.Fatalf("a failed write was observed, yet %v", r)
	}
}

func TestLinearizableUnknownWriteMayTakeEffectLater(t *testing.T) {
	for _, tc := range []struct {
		name  string
		reads []any
		want  Verdict
	}{
		{"not yet", []any{0, 0}, Valid},
		{"took effect", []any{0, 1}, Valid},
		{"late", []any{1, 1}, Valid},
		{"undone", []any{1, 0}, Invalid}, // once seen, it cannot vanish
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b hb
			b.op(0, "write", "x", 1, 0, 10, history.Info, nil)
			b.op(1, "read", "x", nil, 100, 110, history.OK, tc.reads[0])
			b.op(1, "read", "x", nil, 200, 210, history.OK, tc.reads[1])
			b.op(2, "read", "x", nil, 300, -1, 0, nil) // never completed: ignored
			if r := lin(t, b.h, Options{}); r.Verdict != tc.want {
				t.Fatalf("%v, want %v", r, tc.want)
			}
		})
	}
}

func TestLinearizableCAS(t *testing.T) {
	var b hb
	b.op(0, "write", "x", 2, 0, 10, history.OK, nil)
	b.op(1, "cas", "x", CAS{0, 1}, 20, 30, history.OK, nil) // cannot have matched
	if r := lin(t, b.h, Options{}); r.Verdict != Invalid {
		t.Fatalf("%v", r)
	}
	var u hb
	u.op(0, "write", "x", 2, 0, 10, history.OK, nil)
	u.op(1, "cas", "x", CAS{0, 1}, 20, 30, history.Info, nil) // unknown: no effect is fine
	u.op(2, "read", "x", nil, 40, 50, history.OK, 2)
	if r := lin(t, u.h, Options{}); r.Verdict != Valid {
		t.Fatalf("%v", r)
	}
	var bad hb
	bad.op(0, "frobnicate", "x", 2, 0, 10, history.OK, nil)
	if _, err := Linearizable(bad.h, Options{}); err == nil {
		t.Fatal("unknown function accepted")
	}
}

// hard is a history porcupine cannot settle quickly: many concurrent writes
// and reads of distinct values, ending with a read of a value nobody
// wrote, so proving it illegal means exhausting the orders.
func hard() history.History {
	var b hb
	const n = 24
	for i := range n {
		b.op(i, "write", "x", i+1, 0, 1000, history.OK, nil)
		b.op(n+i, "read", "x", nil, 0, 1000, history.OK, (i*7)%n+1)
	}
	b.op(2*n, "read", "x", nil, 0, 1000, history.OK, -1)
	return b.h
}

type fakeT struct {
	errors []string
}

func (f *fakeT) Helper()             {}
func (f *fakeT) Name() string        { return "fake" }
func (f *fakeT) Logf(string, ...any) {}
func (f *fakeT) Errorf(format string, args ...any) {
	f.errors = append(f.errors, fmt.Sprintf(format, args...))
}
func (f *fakeT) Fatalf(format string, args ...any) { f.Errorf(format, args...) }

func TestTimeoutIsInconclusiveNotAPass(t *testing.T) {
	opts := Options{Timeout: 50 * time.Millisecond, Dir: t.TempDir(), Initial: 0}
	r, err := Linearizable(hard(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict != Inconclusive || r.OK() {
		t.Fatalf("%v, want inconclusive", r)
	}
	var ft fakeT
	RequireLinearizable(&ft, hard(), opts)
	if len(ft.errors) != 1 || !strings.Contains(ft.errors[0], "inconclusive") {
		t.Fatalf("RequireLinearizable on a timeout: %q", ft.errors)
	}
}

func add(b *hb, p int, v any, k history.Kind) { b.op(p, "add", "", v, p, p+1, k, nil) }

func TestSet(t *testing.T) {
	var b hb
	add(&b, 0, "a", history.OK)
	add(&b, 1, "b", history.OK)
	add(&b, 2, "c", history.Info)
	add(&b, 3, "d", history.Fail)
	if r := Set(b.h, []any{"a", "b", "c"}); !r.OK() || len(r.Recovered) != 1 {
		t.Fatalf("%v", r)
	}
	if r := Set(b.h, []any{"a"}); r.OK() || fmt.Sprint(r.Lost) != "[b]" {
		t.Fatalf("lost: %v", r)
	}
	if r := Set(b.h, []any{"a", "b", "d", "z"}); r.OK() || fmt.Sprint(r.Unexpected) != "[d z]" {
		t.Fatalf("unexpected: %v", r)
	}
}

func TestCounter(t *testing.T) {
	var b hb
	add(&b, 0, 5, history.OK)
	add(&b, 1, int64(3), history.Info)
	add(&b, 2, -2, history.Info)
	add(&b, 3, 100, history.Fail)
	for final, ok := range map[int64]bool{3: true, 5: true, 8: true, 6: true, 2: false, 9: false, 105: false} {
		if r := Counter(b.h, final); r.OK() != ok {
			t.Errorf("final %d: %v", final, r)
		}
	}
}

func TestTotalQueue(t *testing.T) {
	enq := func(b *hb, p int, v any, k history.Kind) { b.op(p, "enqueue", "", v, p, p+1, k, nil) }
	deq := func(b *hb, p int, v any) { b.op(p, "dequeue", "", nil, p, p+1, history.OK, v) }
	var good hb
	enq(&good, 0, 1, history.OK)
	enq(&good, 1, 2, history.Info)
	enq(&good, 2, 3, history.Info)
	deq(&good, 3, 1)
	deq(&good, 4, 2)
	if r := TotalQueue(good.h); !r.OK() || fmt.Sprint(r.Recovered) != "[2]" {
		t.Fatalf("%v", r)
	}
	var bad hb
	enq(&bad, 0, 1, history.OK)
	enq(&bad, 1, 2, history.OK)
	enq(&bad, 2, 3, history.Fail)
	deq(&bad, 3, 2)
	deq(&bad, 4, 2)
	deq(&bad, 5, 3)
	deq(&bad, 6, 9)
	r := TotalQueue(bad.h)
	if r.OK() || fmt.Sprint(r.Lost) != "[1]" || fmt.Sprint(r.Duplicated) != "[2]" || fmt.Sprint(r.Unexpected) != "[3 9]" {
		t.Fatalf("%v", r)
	}
}

func TestConverged(t *testing.T) {
	views := map[string]any{"a": []string{"x"}, "b": []string{"x"}, "c": []string{"x", "y"}}
	view := func(n string) (any, error) { return views[n], nil }
	if err := Converged([]string{"a", "b"}, view); err != nil {
		t.Fatal(err)
	}
	err := Converged([]string{"a", "b", "c"}, view)
	if err == nil || !strings.Contains(err.Error(), "c: [x y]") {
		t.Fatalf("%v", err)
	}
	failing := func(string) (any, error) { return nil, errors.New("down") }
	if Converged([]string{"a"}, failing) == nil {
		t.Fatal("an erroring view converged")
	}
	// Views that become equal: the helper polls until they do.
	calls := 0
	EventuallyConverges(t, 5*time.Second, []string{"a", "c"}, func(n string) (any, error) {
		calls++
		if n == "c" && calls < 10 {
			return "old", nil
		}
		return "new", nil
	})
}
