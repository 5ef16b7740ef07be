package check

import (
	"fmt"
	"slices"
	"strings"

	"github.com/grovedev/grove/faultkit/history"
)

// SetResult is the outcome of Set.
type SetResult struct {
	Verdict Verdict // Valid or Invalid
	// Lost are elements whose add was acknowledged (OK) but that are
	// missing from the final read.
	Lost []any
	// Unexpected are elements of the final read that no add attempted.
	Unexpected []any
	// Recovered are elements whose add had an unknown outcome and that
	// are present: not an error, worth knowing.
	Recovered []any
	// Acknowledged and Attempted count the adds that were OK and that were
	// invoked (any outcome).
	Acknowledged, Attempted int
}

// OK reports whether the set lost nothing and invented nothing.
func (r SetResult) OK() bool { return r.Verdict == Valid }

func (r SetResult) String() string {
	return fmt.Sprintf("set: %v, %d acknowledged of %d attempted, lost %v, unexpected %v, recovered %v",
		r.Verdict, r.Acknowledged, r.Attempted, r.Lost, r.Unexpected, r.Recovered)
}

// Set checks a grow-only set: "add" operations (Value the element) and
// final, the set's contents read once everything healed. Every
// acknowledged add must be in final, and every element of final must have
// been added (an add of unknown or even failed outcome counts as attempted:
// a system may apply an operation it reported as failed only if it lies,
// so a failed add that shows up is reported as unexpected). Elements must
// be comparable.
func Set(h history.History, final []any) SetResult {
	var r SetResult
	acked := map[any]bool{}
	unknown := map[any]bool{}
	attempted := map[any]bool{}
	for _, o := range h.Operations() {
		if o.Invoke.F != "add" {
			continue
		}
		v := o.Invoke.Value
		r.Attempted++
		switch o.Outcome() {
		case history.OK:
			r.Acknowledged++
			acked[v] = true
			attempted[v] = true
		case history.Info:
			unknown[v] = true
			attempted[v] = true
		}
	}
	present := map[any]bool{}
	for _, v := range final {
		present[v] = true
		if !attempted[v] {
			r.Unexpected = append(r.Unexpected, v)
		} else if unknown[v] && !acked[v] {
			r.Recovered = append(r.Recovered, v)
		}
	}
	for v := range acked {
		if !present[v] {
			r.Lost = append(r.Lost, v)
		}
	}
	sortAny(r.Lost)
	sortAny(r.Unexpected)
	sortAny(r.Recovered)
	r.Verdict = Valid
	if len(r.Lost) > 0 || len(r.Unexpected) > 0 {
		r.Verdict = Invalid
	}
	return r
}

// CounterResult is the outcome of Counter.
type CounterResult struct {
	Verdict Verdict
	Final   int64
	// Min and Max bound what final may be: the sum of acknowledged adds
	// plus the negative (for Min) or positive (for Max) adds of unknown
	// outcome.
	Min, Max int64
}

// OK reports whether final was within bounds.
func (r CounterResult) OK() bool { return r.Verdict == Valid }

func (r CounterResult) String() string {
	return fmt.Sprintf("counter: %v, final %d, allowed [%d, %d]", r.Verdict, r.Final, r.Min, r.Max)
}

// Counter checks a counter: "add" operations (Value the delta, any integer
// type) and final, the value read once everything healed. Acknowledged
// adds must all count; adds of unknown outcome may or may not; failed ones
// must not. So final must lie between the acknowledged sum plus every
// unknown negative delta, and the acknowledged sum plus every unknown
// positive delta.
func Counter(h history.History, final int64) CounterResult {
	r := CounterResult{Final: final}
	for _, o := range h.Operations() {
		if o.Invoke.F != "add" {
			continue
		}
		d, ok := toInt64(o.Invoke.Value)
		if !ok {
			continue
		}
		switch o.Outcome() {
		case history.OK:
			r.Min += d
			r.Max += d
		case history.Info:
			if d < 0 {
				r.Min += d
			} else {
				r.Max += d
			}
		}
	}
	r.Verdict = Valid
	if final < r.Min || final > r.Max {
		r.Verdict = Invalid
	}
	return r
}

func toInt64(v any) (int64, bool) {
	switch x := v.(type) {
	case int:
		return int64(x), true
	case int8:
		return int64(x), true
	case int16:
		return int64(x), true
	case int32:
		return int64(x), true
	case int64:
		return x, true
	case uint:
		return int64(x), true
	case uint8:
		return int64(x), true
	case uint16:
		return int64(x), true
	case uint32:
		return int64(x), true
	case uint64:
		return int64(x), true
	}
	return 0, false
}

// QueueResult is the outcome of TotalQueue.
type QueueResult struct {
	Verdict Verdict
	// Lost were acknowledged enqueues never delivered.
	Lost []any
	// Duplicated were delivered more often than enqueued.
	Duplicated []any
	// Unexpected were delivered but never enqueued.
	Unexpected []any
	// Recovered were enqueues of unknown outcome that were delivered.
	Recovered []any
	// Enqueued counts acknowledged enqueues; Delivered counts deliveries.
	Enqueued, Delivered int
}

// OK reports whether nothing was lost, duplicated or invented.
func (r QueueResult) OK() bool { return r.Verdict == Valid }

func (r QueueResult) String() string {
	return fmt.Sprintf("queue: %v, %d enqueued, %d delivered, lost %v, duplicated %v, unexpected %v, recovered %v",
		r.Verdict, r.Enqueued, r.Delivered, r.Lost, r.Duplicated, r.Unexpected, r.Recovered)
}

// TotalQueue checks a queue (or any delivery channel) after it has been
// drained: "enqueue" operations (Value the element) and OK "dequeue"
// operations (Value the element delivered). Every acknowledged enqueue
// must be delivered, nothing more often than it was enqueued (with any
// outcome), nothing that was never enqueued. Elements must be comparable;
// give each enqueue a unique element to catch duplicates.
func TotalQueue(h history.History) QueueResult {
	var r QueueResult
	acked := map[any]int{}
	attempted := map[any]int{}
	unknown := map[any]int{}
	delivered := map[any]int{}
	var order []any // first-seen order, for stable output
	seen := map[any]bool{}
	note := func(v any) {
		if !seen[v] {
			seen[v] = true
			order = append(order, v)
		}
	}
	for _, o := range h.Operations() {
		v := o.Invoke.Value
		switch o.Invoke.F {
		case "enqueue":
			note(v)
			switch o.Outcome() {
			case history.OK:
				acked[v]++
				attempted[v]++
				r.Enqueued++
			case history.Info:
				unknown[v]++
				attempted[v]++
			}
		case "dequeue":
			if o.Outcome() == history.OK && o.Complete.Value != nil {
				v = o.Complete.Value
				note(v)
				delivered[v]++
				r.Delivered++
			}
		}
	}
	for _, v := range order {
		d := delivered[v]
		switch {
		case d == 0 && acked[v] > 0:
			r.Lost = append(r.Lost, v)
		case d > 0 && attempted[v] == 0:
			r.Unexpected = append(r.Unexpected, v)
		case d > attempted[v]:
			r.Duplicated = append(r.Duplicated, v)
		case d < acked[v]:
			r.Lost = append(r.Lost, v)
		}
		if d > 0 && unknown[v] > 0 && acked[v] == 0 {
			r.Recovered = append(r.Recovered, v)
		}
	}
	r.Verdict = Valid
	if len(r.Lost)+len(r.Duplicated)+len(r.Unexpected) > 0 {
		r.Verdict = Invalid
	}
	return r
}

func sortAny(s []any) {
	slices.SortFunc(s, func(a, b any) int { return strings.Compare(fmt.Sprint(a), fmt.Sprint(b)) })
}
