package agent

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/proc"
)

type labelled struct {
	proc.Base
	n int
}

func (l *labelled) Init(p *proc.Process) error {
	p.SetLabel("test:worker")
	return nil
}

func (l *labelled) Inspect() any { return fmt.Sprintf("n=%d", l.n) }

func TestAdminProcs(t *testing.T) {
	a := start(t, "procs@127.0.0.1")
	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	rt := a.Runtime()
	pid, err := rt.Spawn(&labelled{n: 7}, proc.WithName("worker"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := rt.SetStatistics(ctx, pid, true); err != nil {
		t.Fatal(err)
	}
	if err := rt.Trace(ctx, pid, 10); err != nil {
		t.Fatal(err)
	}
	rt.Send(pid, "hello")

	var list ProcList
	if err := getJSON(srv.URL+"/v1/procs", &list); err != nil {
		t.Fatal(err)
	}
	var found *ProcSummary
	for i, p := range list.Processes {
		if p.ID == pid.ID {
			found = &list.Processes[i]
		}
	}
	if list.Total != rt.NumProcesses() || found == nil || found.Name != "worker" || found.Label != "test:worker" || found.Behavior != "*agent.labelled" {
		t.Fatalf("list %+v", list)
	}
	// Paging.
	var page ProcList
	if err := getJSON(srv.URL+"/v1/procs?limit=1", &page); err != nil || len(page.Processes) != 1 || page.Next == 0 {
		t.Fatalf("first page %+v %v", page, err)
	}
	var rest ProcList
	if err := getJSON(fmt.Sprintf("%s/v1/procs?limit=%d&after=%d", srv.URL, list.Total, page.Next), &rest); err != nil || len(rest.Processes) != list.Total-1 || rest.Next != 0 {
		t.Fatalf("next page %+v %v", rest, err)
	}
	for _, q := range []string{"limit=0", "limit=x", "after=-1"} {
		resp, err := http.Get(srv.URL + "/v1/procs?" + q)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("?%s: %d", q, resp.StatusCode)
		}
	}

	testutil.Eventually(t, 5*time.Second, func() error {
		var d ProcDetail
		if err := getJSON(fmt.Sprintf("%s/v1/procs/%d?state=1", srv.URL, pid.ID), &d); err != nil {
			return err
		}
		if d.Name != "worker" || d.State != "n=7" || d.Statistics == nil || d.Statistics.MessagesIn != 1 {
			return fmt.Errorf("detail %+v", d)
		}
		return nil
	})
	var byName ProcDetail
	if err := getJSON(srv.URL+"/v1/procs/worker", &byName); err != nil || byName.ID != pid.ID || byName.State != "" {
		t.Fatalf("by name %+v %v", byName, err)
	}
	var evs []proc.TraceEvent
	if err := getJSON(srv.URL+"/v1/procs/worker/trace", &evs); err != nil || len(evs) != 1 || evs[0].Msg != "hello" {
		t.Fatalf("trace %+v %v", evs, err)
	}
	untraced, err := rt.Spawn(proc.HandlerFunc(func(*proc.Process, any) {}))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/v1/procs/nobody", "/v1/procs/999999", fmt.Sprintf("/v1/procs/%d/trace", untraced.ID)} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
}
