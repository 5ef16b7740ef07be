package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/grovedev/grove/distsup"
	"github.com/grovedev/grove/names"
	"github.com/grovedev/grove/proc"
)

func init() { extendAdmin((*Agent).namesRoutes) }

// NameEntry is one entry of GET /v1/names.
type NameEntry struct {
	Key  string `json:"key"`
	PID  string `json:"pid"`
	Node string `json:"node"`
}

// NamesStatus is the answer of GET /v1/names.
type NamesStatus struct {
	Complete bool        `json:"complete"`
	Count    int         `json:"count"`
	Entries  []NameEntry `json:"entries"` // the first 1,000 by key
}

// ChildrenStatus is the answer of GET /v1/children.
type ChildrenStatus struct {
	Complete bool           `json:"complete"`
	Specs    int            `json:"specs"`
	Active   int            `json:"active"`
	Nodes    map[string]int `json:"nodes"`
	Members  []string       `json:"members"`       // the nodes that take children
	IDs      []string       `json:"ids,omitempty"` // with ?node=NAME: the children of that node
}

// StartedChildren is the answer of POST /v1/children.
type StartedChildren struct {
	Started int      `json:"started"`
	Running int      `json:"running"` // already running: not started again
	Failed  int      `json:"failed"`
	Errors  []string `json:"errors,omitempty"` // the first few
}

// maxChildrenPerRequest bounds POST /v1/children?count=N.
const maxChildrenPerRequest = 100_000

// namesRoutes adds the cluster registry, the distributed supervisor, the
// singleton and the keyed processes to the admin API:
//
//	GET    /v1/names                 entries this node sees (the first 1,000), count, complete
//	GET    /v1/names/{key}           the process holding key
//	PUT    /v1/names/{key}           start a process on this node and register it as key (409 if taken)
//	DELETE /v1/names/{key}           unregister key (and stop its process) if it runs on this node
//	GET    /v1/children              children of the supervisor: counts per node (?node=NAME lists that node's)
//	POST   /v1/children?count=N&prefix=P  start children P0..P(N-1) of WorkerKind, from this node
//	GET    /v1/children/{id}         call child id (it answers its node and its count of calls)
//	DELETE /v1/children/{id}         terminate child id
//	GET    /v1/singleton             call the singleton (its node, PID and count of calls)
//	POST   /v1/entities/{key}        call the keyed process of key (its node and count of calls)
func (a *Agent) namesRoutes(mux *http.ServeMux, reg *prometheus.Registry) {
	reg.MustRegister(&namesMetrics{a: a})
	mux.HandleFunc("GET /v1/names", func(w http.ResponseWriter, _ *http.Request) {
		r := a.names.reg
		es := r.Select(func(names.Entry) bool { return true })
		slices.SortFunc(es, func(x, y names.Entry) int {
			if x.Key < y.Key {
				return -1
			}
			if x.Key > y.Key {
				return 1
			}
			return 0
		})
		st := NamesStatus{Complete: r.Complete(), Count: len(es), Entries: []NameEntry{}}
		for _, e := range es[:min(len(es), 1000)] {
			st.Entries = append(st.Entries, NameEntry{Key: e.Key, PID: e.PID.String(), Node: e.PID.Node})
		}
		writeJSON(w, st)
	})
	mux.HandleFunc("GET /v1/names/{key}", func(w http.ResponseWriter, req *http.Request) {
		key := req.PathValue("key")
		pid, err := a.names.reg.Resolve(key)
		if err != nil {
			namesError(w, http.StatusNotFound, err)
			return
		}
		writeJSON(w, NameEntry{Key: key, PID: pid.String(), Node: pid.Node})
	})
	mux.HandleFunc("PUT /v1/names/{key}", func(w http.ResponseWriter, req *http.Request) {
		key := req.PathValue("key")
		pid, err := a.rt.Spawn(&countingWorker{})
		if err != nil {
			namesError(w, http.StatusInternalServerError, err)
			return
		}
		if err := a.names.reg.Register(pid, key, nil); err != nil {
			a.rt.Exit(pid, proc.ErrKill)
			code := http.StatusBadRequest
			if errors.Is(err, names.ErrAlreadyRegistered) {
				code = http.StatusConflict
			}
			namesError(w, code, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(NameEntry{Key: key, PID: pid.String(), Node: pid.Node})
	})
	mux.HandleFunc("DELETE /v1/names/{key}", func(w http.ResponseWriter, req *http.Request) {
		key := req.PathValue("key")
		pid, ok := a.names.reg.WhereIs(key)
		if !ok || !a.rt.IsLocal(pid) {
			namesError(w, http.StatusNotFound, fmt.Errorf("names: %q is not held on this node", key))
			return
		}
		a.names.reg.Unregister(pid, key)
		a.rt.Exit(pid, proc.ErrShutdown)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/children", func(w http.ResponseWriter, req *http.Request) {
		s := a.names.sup
		c := s.CountChildren()
		st := ChildrenStatus{Complete: s.Complete(), Specs: c.Specs, Active: c.Active, Nodes: c.Nodes, Members: s.Nodes()}
		if n := req.URL.Query().Get("node"); n != "" {
			st.IDs = []string{}
			for _, ci := range s.WhichChildren() {
				if ci.Node == n {
					st.IDs = append(st.IDs, ci.ID)
				}
			}
		}
		writeJSON(w, st)
	})
	mux.HandleFunc("POST /v1/children", func(w http.ResponseWriter, req *http.Request) {
		n, err := strconv.Atoi(req.URL.Query().Get("count"))
		if err != nil || n < 1 || n > maxChildrenPerRequest {
			namesError(w, http.StatusBadRequest, fmt.Errorf("count must be 1 to %d", maxChildrenPerRequest))
			return
		}
		prefix := req.URL.Query().Get("prefix")
		if prefix == "" {
			prefix = "child-"
		}
		writeJSON(w, a.startChildren(req.Context(), prefix, n))
	})
	mux.HandleFunc("GET /v1/children/{id}", func(w http.ResponseWriter, req *http.Request) {
		a.callWorker(w, req, a.names.sup.Via(req.PathValue("id")))
	})
	mux.HandleFunc("DELETE /v1/children/{id}", func(w http.ResponseWriter, req *http.Request) {
		if err := a.names.sup.TerminateChild(req.Context(), req.PathValue("id")); err != nil {
			code := http.StatusInternalServerError
			if errors.Is(err, distsup.ErrNotFound) {
				code = http.StatusNotFound
			}
			namesError(w, code, err)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /v1/singleton", func(w http.ResponseWriter, req *http.Request) {
		a.callWorker(w, req, a.names.single.Via())
	})
	mux.HandleFunc("POST /v1/entities/{key}", func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 5*time.Second)
		defer cancel()
		v, err := a.names.ents.Entity(req.PathValue("key")).Call(ctx, "call")
		if err != nil {
			namesError(w, http.StatusServiceUnavailable, err)
			return
		}
		writeJSON(w, v)
	})
}

// startChildren starts n children of WorkerKind, a few at a time.
func (a *Agent) startChildren(ctx context.Context, prefix string, n int) StartedChildren {
	var (
		res  StartedChildren
		mu   sync.Mutex
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for range 32 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
				_, err := a.names.sup.StartChild(sctx, distsup.ChildSpec{ID: prefix + strconv.FormatInt(i, 10), Kind: WorkerKind})
				cancel()
				mu.Lock()
				switch {
				case err == nil:
					res.Started++
				case errors.Is(err, distsup.ErrAlreadyStarted):
					res.Running++
				default:
					res.Failed++
					if len(res.Errors) < 5 {
						res.Errors = append(res.Errors, err.Error())
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return res
}

func (a *Agent) callWorker(w http.ResponseWriter, req *http.Request, dest proc.Dest) {
	ctx, cancel := context.WithTimeout(req.Context(), 5*time.Second)
	defer cancel()
	v, err := proc.Call[WorkerReply](ctx, a.rt, dest, "call")
	if err != nil {
		code := http.StatusServiceUnavailable
		if errors.Is(err, proc.ErrNotRegistered) {
			code = http.StatusNotFound
		}
		namesError(w, code, err)
		return
	}
	writeJSON(w, v)
}

// namesMetrics exports the sizes of the registry and the supervisor.
type namesMetrics struct{ a *Agent }

var (
	namesEntriesDesc   = prometheus.NewDesc("grove_names_entries", "Entries of the cluster registry this node sees.", nil, nil)
	childrenDesc       = prometheus.NewDesc("grove_children", "Children of the distributed supervisor this node sees, by node.", []string{"node"}, nil)
	childrenEventsDesc = prometheus.NewDesc("grove_children_events_total", "What this node's supervisor did to children.", []string{"event"}, nil)
)

func (m *namesMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- namesEntriesDesc
	ch <- childrenDesc
	ch <- childrenEventsDesc
}

func (m *namesMetrics) Collect(ch chan<- prometheus.Metric) {
	cn := m.a.names
	if cn == nil {
		return
	}
	ch <- prometheus.MustNewConstMetric(namesEntriesDesc, prometheus.GaugeValue, float64(cn.reg.Count()))
	for n, c := range cn.sup.CountChildren().Nodes {
		ch <- prometheus.MustNewConstMetric(childrenDesc, prometheus.GaugeValue, float64(c), n)
	}
	st := cn.sup.Stats()
	for ev, v := range map[string]uint64{
		"started": st.Started.Load(), "restarted": st.Restarted.Load(), "adopted": st.Adopted.Load(),
		"handed_off": st.HandedOff.Load(), "received": st.Received.Load(), "given_up": st.GivenUp.Load(),
		"duplicates": st.Duplicates.Load(),
	} {
		ch <- prometheus.MustNewConstMetric(childrenEventsDesc, prometheus.CounterValue, float64(v), ev)
	}
}

// namesError answers an error as {"error": "..."}.
func namesError(w http.ResponseWriter, code int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
