package pg

import (
	"slices"
	"testing"

	"github.com/grovedev/grove/proc"
)

// Scopes of different names are separate worlds: the same group name in
// two scopes holds different members, each scope spreading its own joins
// to the scope of that name on the other node, and closing one scope
// leaves the other's members in place.
func TestScopesAreSeparate(t *testing.T) {
	tc := newTestCluster(t, 2, 8)
	names := tc.c.Names()
	other := map[string]*Scope{}
	for _, n := range names {
		s, err := Start(tc.c.Node(n), Config{Name: "other"})
		if err != nil {
			t.Fatal(err)
		}
		other[n] = s
		t.Cleanup(func() { s.Close() })
	}
	eventually(t, func() error {
		for _, n := range names {
			if len(other[n].Nodes()) != 1 {
				return errorf("%s's second scope knows %v", n, other[n].Nodes())
			}
		}
		return nil
	})
	a, b := names[0], names[1]
	pa := spawn(t, tc.c.Runtime(a), 2)
	pb := spawn(t, tc.c.Runtime(b), 1)
	if err := tc.get(a).Join("g", pa[0]); err != nil {
		t.Fatal(err)
	}
	if err := other[a].Join("g", pa[1]); err != nil {
		t.Fatal(err)
	}
	if err := other[b].Join("g", pb[0]); err != nil {
		t.Fatal(err)
	}
	eventually(t, func() error {
		if got := tc.get(b).Members("g"); !slices.Equal(got, []proc.PID{pa[0]}) {
			return errorf("the default scope on b lists %v", got)
		}
		if got := sorted(other[b].Members("g")); !slices.Equal(got, sorted([]proc.PID{pa[1], pb[0]})) {
			return errorf("the other scope on b lists %v", got)
		}
		if got := sorted(other[a].Members("g")); !slices.Equal(got, sorted([]proc.PID{pa[1], pb[0]})) {
			return errorf("the other scope on a lists %v", got)
		}
		return nil
	})
	other[a].Close()
	eventually(t, func() error {
		if got := other[b].Members("g"); !slices.Equal(got, []proc.PID{pb[0]}) {
			return errorf("after a's other scope closed, b's lists %v", got)
		}
		return nil
	})
	if got := tc.get(b).Members("g"); !slices.Equal(got, []proc.PID{pa[0]}) {
		t.Fatalf("closing another scope changed the default one: %v", got)
	}
}
