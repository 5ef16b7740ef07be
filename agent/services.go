package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/grovedev/grove/pg"
	"github.com/grovedev/grove/presence"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/pubsub"
)

// services are the cluster services every node runs under their default
// names: a PubSub, a process-group scope and a presence tracker, so that
// processes of any node of the cluster find them.
type services struct {
	ps *pubsub.PubSub
	pg *pg.Scope
	tr *presence.Tracker

	mu       sync.Mutex
	sessions map[[2]string]proc.PID // presences held for the admin API, by topic and key
}

// maxAdminBody bounds a broadcast or a presence's metadata sent to the
// admin API.
const maxAdminBody = 64 << 10

func (a *Agent) startServices() error {
	ps, err := pubsub.Start(a.node, pubsub.Config{Logger: a.log})
	if err != nil {
		return err
	}
	scope, err := pg.Start(a.node, pg.Config{Logger: a.log})
	if err != nil {
		ps.Close()
		return err
	}
	tr, err := presence.Start(a.node, ps, presence.Config{Logger: a.log})
	if err != nil {
		scope.Close()
		ps.Close()
		return err
	}
	a.svc = &services{ps: ps, pg: scope, tr: tr, sessions: make(map[[2]string]proc.PID)}
	return nil
}

func (a *Agent) closeServices() {
	if a.svc == nil {
		return
	}
	a.svc.tr.Close()
	a.svc.pg.Close()
	a.svc.ps.Close()
}

// PubSub returns the node's PubSub (pubsub.DefaultName).
func (a *Agent) PubSub() *pubsub.PubSub { return a.svc.ps }

// Groups returns the node's process-group scope (pg.DefaultScope).
func (a *Agent) Groups() *pg.Scope { return a.svc.pg }

// Presence returns the node's presence tracker, whose diffs go through
// PubSub.
func (a *Agent) Presence() *presence.Tracker { return a.svc.tr }

// PresenceEntry is one element of GET /v1/presence/{topic}.
type PresenceEntry struct {
	Key  string `json:"key"`
	Node string `json:"node"`
	PID  string `json:"pid"`
	Meta any    `json:"meta"`
}

// StreamEvent is the data of one server-sent event of
// GET /v1/pubsub/{topic}/stream.
type StreamEvent struct {
	Topic   string          `json:"topic"`
	Origin  string          `json:"origin"`
	Seq     uint64          `json:"seq,omitempty"`
	Dropped uint64          `json:"dropped,omitempty"` // messages this stream lost just before this one
	Missed  uint64          `json:"missed,omitempty"`
	Payload any             `json:"payload,omitempty"`
	Joins   []PresenceEntry `json:"joins,omitempty"` // for presence diffs (event: presence)
	Leaves  []PresenceEntry `json:"leaves,omitempty"`
}

func entries(ps []presence.Presence) []PresenceEntry {
	out := make([]PresenceEntry, len(ps))
	for i, p := range ps {
		out[i] = PresenceEntry{Key: p.Key, Node: p.PID.Node, PID: p.PID.String(), Meta: jsonMeta(p.Meta)}
	}
	slices.SortFunc(out, func(a, b PresenceEntry) int {
		if c := strings.Compare(a.Key, b.Key); c != 0 {
			return c
		}
		return strings.Compare(a.PID, b.PID)
	})
	return out
}

// jsonMeta shows metadata set through the admin API (JSON text) as JSON,
// anything else as text.
func jsonMeta(v any) any {
	if s, ok := v.(string); ok && json.Valid([]byte(s)) {
		return json.RawMessage(s)
	}
	if v == nil {
		return nil
	}
	return fmt.Sprint(v)
}

// serviceRoutes adds the services' admin API to mux and their counters to
// reg:
//
//	GET    /v1/pubsub                    topics with local subscribers, nodes, counters
//	POST   /v1/pubsub/{topic}            broadcast the body (text) on topic
//	GET    /v1/pubsub/{topic}/stream     server-sent events of what arrives on topic
//	GET    /v1/pg                        groups
//	GET    /v1/pg/{group}                members of group
//	GET    /v1/presence/{topic}          presences of topic
//	PUT    /v1/presence/{topic}/{key}    track (or update) a presence held by the node, metadata the body (JSON)
//	DELETE /v1/presence/{topic}/{key}    untrack it
func (a *Agent) serviceRoutes(mux *http.ServeMux, reg *prometheus.Registry) {
	reg.MustRegister(&serviceMetrics{a: a})
	mux.HandleFunc("GET /v1/pubsub", func(w http.ResponseWriter, _ *http.Request) {
		topics := map[string]int{}
		for _, t := range a.svc.ps.Topics() {
			topics[t] = a.svc.ps.Subscribers(t)
		}
		st := a.svc.ps.Stats()
		writeJSON(w, map[string]any{
			"name": a.svc.ps.Name(), "nodes": a.svc.ps.Nodes(), "topics": topics,
			"broadcasts": st.Broadcasts.Load(), "delivered": st.Delivered.Load(),
			"dropped": st.DroppedNewest.Load() + st.DroppedOldest.Load(), "disconnects": st.Disconnects.Load(),
		})
	})
	mux.HandleFunc("POST /v1/pubsub/{topic}", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
		if err != nil || len(body) > maxAdminBody {
			http.Error(w, fmt.Sprintf("body: at most %d bytes", maxAdminBody), http.StatusRequestEntityTooLarge)
			return
		}
		err = a.svc.ps.Broadcast(r.Context(), r.PathValue("topic"), string(body))
		var be *pubsub.BroadcastError
		switch {
		case errors.As(err, &be):
			failed := map[string]string{}
			for n, e := range be.Nodes {
				failed[n] = e.Error()
			}
			writeJSON(w, map[string]any{"nodes": a.svc.ps.Nodes(), "failed": failed})
		case err != nil:
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			writeJSON(w, map[string]any{"nodes": a.svc.ps.Nodes()})
		}
	})
	mux.HandleFunc("GET /v1/pubsub/{topic}/stream", a.stream)
	mux.HandleFunc("GET /v1/pg", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, a.svc.pg.Groups())
	})
	mux.HandleFunc("GET /v1/pg/{group}", func(w http.ResponseWriter, r *http.Request) {
		g := r.PathValue("group")
		members := a.svc.pg.Members(g)
		out := make([]string, len(members))
		for i, p := range members {
			out[i] = p.String()
		}
		writeJSON(w, map[string]any{"members": out, "local": len(a.svc.pg.LocalMembers(g))})
	})
	mux.HandleFunc("GET /v1/presence/{topic}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, entries(a.svc.tr.List(r.PathValue("topic"))))
	})
	mux.HandleFunc("PUT /v1/presence/{topic}/{key}", a.putPresence)
	mux.HandleFunc("DELETE /v1/presence/{topic}/{key}", func(w http.ResponseWriter, r *http.Request) {
		k := [2]string{r.PathValue("topic"), r.PathValue("key")}
		a.svc.mu.Lock()
		pid, ok := a.svc.sessions[k]
		delete(a.svc.sessions, k)
		a.svc.mu.Unlock()
		if !ok {
			http.Error(w, "no such presence held by this node", http.StatusNotFound)
			return
		}
		a.rt.Exit(pid, proc.ErrShutdown) // its presence leaves with it
		w.WriteHeader(http.StatusNoContent)
	})
}

// putPresence tracks a presence for (topic, key), held by a process of its
// own that lives until DELETE or the node's end.
func (a *Agent) putPresence(w http.ResponseWriter, r *http.Request) {
	topic, key := r.PathValue("topic"), r.PathValue("key")
	body, err := io.ReadAll(io.LimitReader(r.Body, maxAdminBody+1))
	if err != nil || len(body) > maxAdminBody {
		http.Error(w, fmt.Sprintf("body: at most %d bytes", maxAdminBody), http.StatusRequestEntityTooLarge)
		return
	}
	meta := "null"
	if len(body) > 0 {
		if !json.Valid(body) {
			http.Error(w, "body: the metadata must be JSON", http.StatusBadRequest)
			return
		}
		meta = string(body)
	}
	k := [2]string{topic, key}
	a.svc.mu.Lock()
	defer a.svc.mu.Unlock()
	if pid, ok := a.svc.sessions[k]; ok && a.rt.Alive(pid) {
		if err := a.svc.tr.Update(pid, topic, key, meta); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		writeJSON(w, map[string]string{"pid": pid.String()})
		return
	}
	pid, err := a.rt.Spawn(proc.HandlerFunc(func(*proc.Process, any) {}))
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if err := a.svc.tr.Track(pid, topic, key, meta); err != nil {
		a.rt.Exit(pid, proc.ErrShutdown)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	a.svc.sessions[k] = pid
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	json.NewEncoder(w).Encode(map[string]string{"pid": pid.String()})
}

// stream sends what arrives on a topic as server-sent events until the
// client goes or the node stops. A client that reads too slowly loses the
// oldest messages; the next event says how many (dropped).
func (a *Agent) stream(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming not supported", http.StatusInternalServerError)
		return
	}
	sub, err := a.svc.ps.SubscribeChan(r.PathValue("topic"), pubsub.WithBuffer(256, pubsub.DropOldest))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	defer sub.Cancel()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": subscribed\n\n")
	fl.Flush()
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.ctx.Done():
			return
		case <-keepAlive.C:
			fmt.Fprint(w, ": keep-alive\n\n")
			fl.Flush()
		case m, ok := <-sub.C():
			if !ok {
				return
			}
			ev := StreamEvent{Topic: m.Topic, Origin: m.Origin, Seq: m.Seq, Dropped: m.Dropped, Missed: m.Missed}
			kind := "message"
			if d, ok := m.Payload.(presence.Diff); ok {
				kind, ev.Joins, ev.Leaves = "presence", entries(d.Joins), entries(d.Leaves)
			} else {
				ev.Payload = jsonMeta(m.Payload)
			}
			b, _ := json.Marshal(ev)
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", kind, b)
			fl.Flush()
		}
	}
}

// serviceMetrics exports the services' counters.
type serviceMetrics struct{ a *Agent }

var serviceDescs = map[string]*prometheus.Desc{}

func serviceDesc(name, help string) *prometheus.Desc {
	if d, ok := serviceDescs[name]; ok {
		return d
	}
	d := prometheus.NewDesc("grove_"+name, help, []string{"node"}, nil)
	serviceDescs[name] = d
	return d
}

var serviceCounters = []struct {
	name, help string
	get        func(s *services) uint64
}{
	{"pubsub_broadcasts_total", "Broadcasts published on this node.", func(s *services) uint64 { return s.ps.Stats().Broadcasts.Load() }},
	{"pubsub_frames_sent_total", "Broadcast frames handed to the node for other nodes.", func(s *services) uint64 { return s.ps.Stats().FramesSent.Load() }},
	{"pubsub_send_failures_total", "Broadcast frames that could not be queued for a node.", func(s *services) uint64 { return s.ps.Stats().SendFailures.Load() }},
	{"pubsub_frames_received_total", "Broadcast frames from other nodes.", func(s *services) uint64 { return s.ps.Stats().FramesReceived.Load() }},
	{"pubsub_delivered_total", "Messages handed to local subscribers.", func(s *services) uint64 { return s.ps.Stats().Delivered.Load() }},
	{"pubsub_dropped_newest_total", "Messages dropped under drop-newest, and at disconnections.", func(s *services) uint64 { return s.ps.Stats().DroppedNewest.Load() }},
	{"pubsub_dropped_oldest_total", "Messages dropped under drop-oldest.", func(s *services) uint64 { return s.ps.Stats().DroppedOldest.Load() }},
	{"pubsub_disconnects_total", "Subscriptions ended for being too slow.", func(s *services) uint64 { return s.ps.Stats().Disconnects.Load() }},
	{"pubsub_missed_total", "Gaps in sequence numbers seen by subscribers.", func(s *services) uint64 { return s.ps.Stats().Missed.Load() }},
	{"pubsub_malformed_total", "Broadcast frames from other nodes that did not decode.", func(s *services) uint64 { return s.ps.Stats().Malformed.Load() }},
	{"pg_joins_total", "Local group memberships added.", func(s *services) uint64 { return s.pg.Stats().Joins.Load() }},
	{"pg_leaves_total", "Local group memberships removed.", func(s *services) uint64 { return s.pg.Stats().Leaves.Load() }},
	{"pg_resyncs_total", "Gaps in another node's group changes, repaired.", func(s *services) uint64 { return s.pg.Stats().Resyncs.Load() }},
	{"presence_tracks_total", "Local presences tracked.", func(s *services) uint64 { return s.tr.Stats().Tracks.Load() }},
	{"presence_untracks_total", "Local presences untracked (exits included).", func(s *services) uint64 { return s.tr.Stats().Untracks.Load() }},
	{"presence_replicas_dropped_total", "Nodes whose presences were removed (link down, restart).", func(s *services) uint64 { return s.tr.Stats().ReplicasDropped.Load() }},
	{"presence_resyncs_total", "Gaps in another node's presence changes, repaired.", func(s *services) uint64 { return s.tr.Stats().Resyncs.Load() }},
}

func init() {
	for _, c := range serviceCounters {
		serviceDesc(c.name, c.help)
	}
}

func (m *serviceMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range serviceCounters {
		ch <- serviceDescs[c.name]
	}
}

func (m *serviceMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range serviceCounters {
		ch <- prometheus.MustNewConstMetric(serviceDescs[c.name], prometheus.CounterValue, float64(c.get(m.a.svc)), m.a.cfg.Name)
	}
}
