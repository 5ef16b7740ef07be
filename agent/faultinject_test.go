package agent

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/internal/testutil"
)

func startFaulty(t *testing.T, name string, join ...string) *Agent {
	t.Helper()
	a, err := Start(context.Background(), Config{
		Name: name, Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", Cookie: "c", Join: join,
		Heartbeat: 50 * time.Millisecond, ShutdownTTL: 5 * time.Second, FaultInjection: true,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	return a
}

// Without --fault-injection there is no way to cut a node off.
func TestFaultInjectionOffByDefault(t *testing.T) {
	a := start(t, "a@127.0.0.1")
	s := httptest.NewServer(a.Handler())
	defer s.Close()
	for _, r := range [][2]string{{"GET", "/v1/faults"}, {"PUT", "/v1/faults/block/b@127.0.0.1"}, {"DELETE", "/v1/faults"}} {
		if code, _ := do(t, r[0], s.URL+r[1], ""); code != http.StatusNotFound && code != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d without --fault-injection", r[0], r[1], code)
		}
	}
}

// Blocking each other cuts the node link and gossip between two nodes of
// three: each side sees the other leave (link down, member not alive, its
// presences gone) while the third still reaches both; unblocking heals it.
func TestFaultInjectionPartition(t *testing.T) {
	a := startFaulty(t, "a@127.0.0.1")
	b := startFaulty(t, "b@127.0.0.1", a.Node().Addr())
	c := startFaulty(t, "c@127.0.0.1", a.Node().Addr())
	agents := []*Agent{a, b, c}
	srv := make([]*httptest.Server, 3)
	for i, x := range agents {
		srv[i] = httptest.NewServer(x.Handler())
		defer srv[i].Close()
	}
	alive := func(x *Agent, name string) bool {
		m, ok := x.Cluster().Member(name)
		return ok && m.State == cluster.StateAlive
	}
	keys := func(x *Agent) []string {
		var out []string
		for _, p := range x.Presence().List("room") {
			out = append(out, p.Key)
		}
		slices.Sort(out)
		return out
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, x := range agents {
			if len(x.PubSub().Nodes()) != 2 || len(x.Presence().Nodes()) != 2 {
				return errorf("%s: services not connected", x.cfg.Name)
			}
		}
		return nil
	})
	for i, x := range agents {
		if code, body := do(t, "PUT", srv[i].URL+"/v1/presence/room/"+x.cfg.Name[:1], `{}`); code != http.StatusCreated {
			t.Fatalf("track: %d %s", code, body)
		}
	}
	testutil.Eventually(t, 20*time.Second, func() error {
		for _, x := range agents {
			if k := keys(x); !slices.Equal(k, []string{"a", "b", "c"}) {
				return errorf("%s lists %v", x.cfg.Name, k)
			}
		}
		return nil
	})

	if code, _ := do(t, "PUT", srv[0].URL+"/v1/faults/block/nobody@127.0.0.1", ""); code != http.StatusNotFound {
		t.Errorf("blocking an unknown node: %d", code)
	}
	if code, _ := do(t, "PUT", srv[0].URL+"/v1/faults/block/a@127.0.0.1", ""); code != http.StatusBadRequest {
		t.Errorf("blocking itself: %d", code)
	}
	if code, body := do(t, "PUT", srv[0].URL+"/v1/faults/block/b@127.0.0.1", ""); code != http.StatusOK {
		t.Fatalf("block: %d %s", code, body)
	}
	if code, body := do(t, "PUT", srv[1].URL+"/v1/faults/block/a@127.0.0.1", ""); code != http.StatusOK {
		t.Fatalf("block: %d %s", code, body)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if slices.Contains(a.Node().Nodes(), "b@127.0.0.1") || slices.Contains(b.Node().Nodes(), "a@127.0.0.1") {
			return errorf("a and b still linked")
		}
		if alive(a, "b@127.0.0.1") || alive(b, "a@127.0.0.1") {
			return errorf("a and b still see each other alive")
		}
		if k := keys(a); !slices.Equal(k, []string{"a", "c"}) {
			return errorf("a lists %v", k)
		}
		if k := keys(b); !slices.Equal(k, []string{"b", "c"}) {
			return errorf("b lists %v", k)
		}
		return nil
	})
	if k := keys(c); !slices.Equal(k, []string{"a", "b", "c"}) {
		t.Errorf("c, cut off from nobody, lists %v", k)
	}
	var st faultsStatus
	if err := getJSON(srv[1].URL+"/v1/faults", &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Blocked["a@127.0.0.1"]) != 2 || st.RefusedDials == 0 && st.LostWrites == 0 {
		t.Errorf("b's fault status: %+v", st)
	}

	if code, _ := do(t, "DELETE", srv[0].URL+"/v1/faults/block/b@127.0.0.1", ""); code != http.StatusOK {
		t.Fatalf("unblock: %d", code)
	}
	if code, _ := do(t, "DELETE", srv[0].URL+"/v1/faults/block/b@127.0.0.1", ""); code != http.StatusNotFound {
		t.Errorf("unblocking twice: %d", code)
	}
	if code, _ := do(t, "DELETE", srv[1].URL+"/v1/faults", ""); code != http.StatusOK {
		t.Fatalf("heal: %d", code)
	}
	testutil.Eventually(t, 30*time.Second, func() error {
		if !alive(a, "b@127.0.0.1") || !alive(b, "a@127.0.0.1") {
			return errorf("a and b do not see each other alive again")
		}
		for _, x := range agents {
			if k := keys(x); !slices.Equal(k, []string{"a", "b", "c"}) {
				return errorf("%s lists %v after the heal", x.cfg.Name, k)
			}
		}
		return nil
	})
}
