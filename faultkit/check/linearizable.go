package check

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/grovedev/grove/faultkit/history"
)

// Verdict is the outcome of a check.
type Verdict int

// Verdicts. Inconclusive is not a pass: the checker ran out of time before
// it found a linearization or proved there is none.
const (
	Inconclusive Verdict = iota
	Valid
	Invalid
)

func (v Verdict) String() string {
	switch v {
	case Valid:
		return "valid"
	case Invalid:
		return "invalid"
	}
	return "inconclusive"
}

// CAS is the argument of a "cas" operation: set the register to New if it
// holds Old. Record an OK completion when it swapped, Fail when it did not
// (the register held something else), Info when unknown.
type CAS struct{ Old, New any }

// Options tunes Linearizable.
type Options struct {
	// Timeout bounds the search. Zero means 10 s. A search that times out
	// gives Inconclusive.
	Timeout time.Duration
	// Initial is the value of every register before the first operation.
	// Default nil (a read of a missing key records nil).
	Initial any
	// Dir is where the HTML visualisation of a history that is not
	// linearizable (or inconclusive) is written. Default os.TempDir(); the
	// file is kept after the test so that it can be opened.
	Dir string
	// Name goes into the file name (a test name, say).
	Name string
	// Always writes the visualisation for a valid history too.
	Always bool
}

// LinearizabilityResult is the outcome of Linearizable.
type LinearizabilityResult struct {
	Verdict Verdict
	// Visualization is the path of the HTML file, if one was written.
	Visualization string
	// Operations is the number of operations checked (failed operations
	// and reads of unknown outcome have no effect and are left out).
	Operations int
}

// OK reports whether the history was proved linearizable.
func (r LinearizabilityResult) OK() bool { return r.Verdict == Valid }

func (r LinearizabilityResult) String() string {
	s := fmt.Sprintf("linearizability: %v (%d operations)", r.Verdict, r.Operations)
	if r.Visualization != "" {
		s += ", visualisation " + r.Visualization
	}
	return s
}

type kvInput struct {
	F       string
	Key     string
	Value   any // write value
	CAS     CAS
	Unknown bool // outcome unknown: may or may not have taken effect
}

// Registers is the porcupine model of a map of independent registers
// (keys) with read, write and cas, partitioned per key. An input of
// unknown outcome (see Linearizable) may take effect or not. Inputs and
// outputs are the package's own types; use Linearizable to build them
// from a history.
func Registers(initial any) porcupine.Model {
	return porcupine.Model{
		Partition: func(ops []porcupine.Operation) [][]porcupine.Operation {
			byKey := map[string][]porcupine.Operation{}
			var keys []string
			for _, o := range ops {
				k := o.Input.(kvInput).Key
				if _, ok := byKey[k]; !ok {
					keys = append(keys, k)
				}
				byKey[k] = append(byKey[k], o)
			}
			slices.Sort(keys)
			out := make([][]porcupine.Operation, 0, len(keys))
			for _, k := range keys {
				out = append(out, byKey[k])
			}
			return out
		},
		Init: func() any { return initial },
		Step: func(state, input, output any) (bool, any) {
			in := input.(kvInput)
			switch in.F {
			case "read":
				return reflect.DeepEqual(state, output), state
			case "write":
				return true, in.Value
			case "cas":
				if reflect.DeepEqual(state, in.CAS.Old) {
					return true, in.CAS.New
				}
				// A cas that did not match has no effect; only one of
				// unknown outcome may have done so (a definite OK means
				// it matched).
				return in.Unknown, state
			}
			return false, state
		},
		Equal: func(a, b any) bool { return reflect.DeepEqual(a, b) },
		DescribeOperation: func(input, output any) string {
			in := input.(kvInput)
			q := ""
			if in.Unknown {
				q = "?"
			}
			switch in.F {
			case "read":
				return fmt.Sprintf("read(%s) -> %v", in.Key, output)
			case "write":
				return fmt.Sprintf("write(%s, %v)%s", in.Key, in.Value, q)
			case "cas":
				return fmt.Sprintf("cas(%s, %v, %v)%s", in.Key, in.CAS.Old, in.CAS.New, q)
			}
			return in.F
		},
		DescribeState: func(state any) string { return fmt.Sprint(state) },
	}
}

// Linearizable checks a key-value history of "read", "write" and "cas"
// operations (Key the key; Value the written value, the read result, or a
// CAS) against a register per key, with porcupine.
//
// Outcomes: a Fail operation had no effect and is left out. An Info
// operation may have taken effect at any time after its invocation: it is
// given an infinite return time, so the checker may place it anywhere
// after its call, including after everything else (no visible effect).
// An Info read is left out, as it observed nothing.
//
// A history that is not linearizable, or whose check is inconclusive, has
// its visualisation written to a file whose path is in the result.
// Operations with other functions are an error.
func Linearizable(h history.History, opts Options) (LinearizabilityResult, error) {
	if opts.Timeout == 0 {
		opts.Timeout = 10 * time.Second
	}
	var ops []porcupine.Operation
	for _, o := range h.Operations() {
		inv, c := o.Invoke, o.Complete
		in := kvInput{F: inv.F, Key: inv.Key}
		switch inv.F {
		case "read":
		case "write":
			in.Value = inv.Value
		case "cas":
			cas, ok := inv.Value.(CAS)
			if !ok {
				return LinearizabilityResult{}, fmt.Errorf("check: cas %d: value %T, want check.CAS", inv.Index, inv.Value)
			}
			in.CAS = cas
		default:
			return LinearizabilityResult{}, fmt.Errorf("check: operation %d: function %q is not read, write or cas", inv.Index, inv.F)
		}
		po := porcupine.Operation{ClientId: inv.Process, Call: int64(inv.Time)}
		switch c.Kind {
		case history.Fail:
			continue
		case history.Info:
			if inv.F == "read" {
				continue
			}
			in.Unknown = true
			po.Return = math.MaxInt64
		default:
			po.Return = int64(c.Time)
			po.Output = c.Value
		}
		po.Input = in
		ops = append(ops, po)
	}
	model := Registers(opts.Initial)
	res, info := porcupine.CheckOperationsVerbose(model, ops, opts.Timeout)
	out := LinearizabilityResult{Operations: len(ops)}
	switch res {
	case porcupine.Ok:
		out.Verdict = Valid
	case porcupine.Illegal:
		out.Verdict = Invalid
	default:
		out.Verdict = Inconclusive
	}
	if out.Verdict != Valid || opts.Always {
		path, err := writeVisualization(model, info, opts)
		if err != nil {
			return out, err
		}
		out.Visualization = path
	}
	return out, nil
}

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_.-]+`)

func writeVisualization(model porcupine.Model, info porcupine.LinearizationInfo, opts Options) (string, error) {
	dir := opts.Dir
	if dir == "" {
		dir = os.TempDir()
	}
	name := "linearizability"
	if opts.Name != "" {
		name += "-" + unsafeName.ReplaceAllString(opts.Name, "_")
	}
	f, err := os.CreateTemp(dir, name+"-*.html")
	if err != nil {
		return "", fmt.Errorf("check: visualisation: %w", err)
	}
	path := f.Name()
	err = porcupine.Visualize(model, info, f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return path, fmt.Errorf("check: visualisation: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return path, nil
	}
	return abs, nil
}

// TB is the part of testing.TB the helpers use.
type TB interface {
	Helper()
	Name() string
	Logf(format string, args ...any)
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// RequireLinearizable checks h and fails t unless it is proved
// linearizable; an inconclusive check fails too. The visualisation's path
// is logged.
func RequireLinearizable(t TB, h history.History, opts Options) LinearizabilityResult {
	t.Helper()
	if opts.Name == "" {
		opts.Name = t.Name()
	}
	res, err := Linearizable(h, opts)
	if err != nil {
		t.Fatalf("%v", err)
	}
	switch res.Verdict {
	case Valid:
	case Invalid:
		t.Errorf("history is not linearizable; see %s", res.Visualization)
	default:
		t.Errorf("linearizability check inconclusive (timed out; not a pass); see %s", res.Visualization)
	}
	return res
}
