package agent

import (
	"encoding/json"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Member is one entry of GET /v1/members.
type Member struct {
	Name        string `json:"name"`
	Address     string `json:"address"`
	State       string `json:"state"` // alive, suspect, dead or left
	Region      string `json:"region"`
	Incarnation uint64 `json:"incarnation"`
}

// Status is the body of GET /v1/status.
type Status struct {
	Name        string  `json:"name"`
	Address     string  `json:"address"`
	Region      string  `json:"region"`
	Incarnation uint64  `json:"incarnation"`
	Ready       bool    `json:"ready"`
	UptimeSec   float64 `json:"uptime_seconds"`
	Processes   int     `json:"processes"`
	Connected   int     `json:"connected_nodes"`
	Quorum      bool    `json:"quorum"`    // in a majority of the cluster's known members
	Reachable   int     `json:"reachable"` // members this node can reach, itself included
}

// Handler returns the admin API: /healthz, /readyz, /v1/status,
// /v1/members and /metrics.
func (a *Agent) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		if a.closing.Load() {
			http.Error(w, "stopping", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !a.ready.Load() {
			http.Error(w, "not ready: joining", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	mux.HandleFunc("GET /v1/status", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, a.Status())
	})
	mux.HandleFunc("GET /v1/members", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, a.Members())
	})
	reg := prometheus.NewRegistry()
	reg.MustRegister(a.collector())
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	a.kvRoutes(mux)
	a.serviceRoutes(mux, reg)
	for _, ext := range adminExtensions {
		ext(a, mux, reg)
	}
	return mux
}

// adminExtensions add endpoints (and metrics) to the admin API. A file
// admin_<name>.go adds its own with one line:
//
//	func init() { extendAdmin((*Agent).namesRoutes) }
//
// where namesRoutes(mux *http.ServeMux, reg *prometheus.Registry) registers
// its patterns on mux ("GET /v1/names", ...) and its collectors on reg.
// Every endpoint but /healthz and /readyz sits behind the admin API's
// authentication (adminserver.go).
var adminExtensions []func(a *Agent, mux *http.ServeMux, reg *prometheus.Registry)

// extendAdmin registers an admin API extension; call it from init.
func extendAdmin(f func(a *Agent, mux *http.ServeMux, reg *prometheus.Registry)) {
	adminExtensions = append(adminExtensions, f)
}

// Status describes this node.
func (a *Agent) Status() Status {
	return Status{
		Name: a.cfg.Name, Address: a.node.Addr(), Region: a.cfg.Region, Incarnation: a.rt.Creation(),
		Ready: a.ready.Load(), UptimeSec: time.Since(a.started).Seconds(),
		Processes: a.rt.NumProcesses(), Connected: len(a.node.Nodes()),
		Quorum: a.cluster.HasQuorum(), Reachable: len(a.cluster.Reachable()),
	}
}

// Members lists the cluster's members as this node sees them, sorted by
// name.
func (a *Agent) Members() []Member {
	var out []Member
	for _, m := range a.cluster.Members() {
		out = append(out, Member{Name: m.Name, Address: m.Addr, State: m.State.String(), Region: m.Meta.Region, Incarnation: m.Incarnation})
	}
	slices.SortFunc(out, func(x, y Member) int {
		switch {
		case x.Name < y.Name:
			return -1
		case x.Name > y.Name:
			return 1
		}
		return 0
	})
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// metrics exports the runtime's and the links' counters.
type metrics struct {
	a     *Agent
	descs map[string]*prometheus.Desc
}

func (a *Agent) collector() prometheus.Collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("grove_"+name, help, nil, prometheus.Labels{"node": a.cfg.Name})
	}
	return &metrics{a: a, descs: map[string]*prometheus.Desc{
		"processes":   d("processes", "Live processes."),
		"nodes":       d("connected_nodes", "Nodes linked to this one."),
		"members":     d("cluster_members", "Members this node knows, in any state."),
		"quorum":      d("cluster_quorum", "1 when this node sits in a majority of the known members."),
		"connects":    d("node_connects_total", "Node links established."),
		"disconnects": d("node_disconnects_total", "Node links lost."),
		"refused": prometheus.NewDesc("grove_handshakes_refused_total",
			"Connections refused before becoming a link, either way, by kind (timeout, garbage, bad_cookie, limit_total, ...).",
			[]string{"kind"}, prometheus.Labels{"node": a.cfg.Name}),
		"dial_failures":    d("dial_failures_total", "Dials that failed before the handshake."),
		"malformed":        d("links_cut_malformed_total", "Links cut for a malformed message."),
		"undecodable":      d("messages_undecodable_total", "Messages this node could not decode."),
		"undecodable_peer": d("messages_undecodable_by_peer_total", "Messages peers reported they could not decode."),
		"delivery":         d("remote_delivery_failures_total", "Messages from other nodes for a process that was gone or full (reported back to their node)."),
		"g_refused":        d("gossip_auth_refused_total", "Gossip connections refused: wrong credentials, or bytes that are not a handshake."),
		"g_timeouts":       d("gossip_auth_timeouts_total", "Gossip connections closed without a complete handshake in time."),
		"g_hangups":        d("gossip_auth_hangups_total", "Gossip connections their peer closed before authenticating."),
		"g_host_full":      d("gossip_conns_refused_total", "Gossip connections refused at once: too many unauthenticated ones from their host."),
		"g_evicted":        d("gossip_conns_evicted_total", "Unauthenticated gossip connections closed to make room for newer ones."),
		"g_pending":        d("gossip_pending_conns", "Gossip connections waiting for their handshake."),
		"g_dropped":        d("gossip_packets_dropped_total", "Gossip packets dropped: queue full, dial or write failed."),
		"g_merges":         d("gossip_link_merges_total", "State exchanges run because a node link brought news."),
		"a_unauth":         d("admin_unauthorized_total", "Admin requests refused for want of the token or client certificate."),
		"a_refused":        d("admin_conns_refused_total", "Admin connections refused at once: too many open from their host, or in all."),
		"a_evicted":        d("admin_conns_evicted_total", "Admin connections closed to make room for newer ones."),
		"dropped_by_peer":  d("messages_dropped_by_peer_total", "Messages of this node that peers reported they could not queue."),
		"lost_link_down":   d("messages_lost_on_link_down_total", "Messages and signals queued on a link that broke before they were written."),
		"links_paused":     d("links_paused_total", "Times this node paused a peer's sends (MaxRemoteQueued reached)."),
		"sends_held":       d("sends_held_total", "Sends that waited because a peer paused the link."),
		"remote_queued":    d("remote_queued_bytes", "Bytes of messages from other nodes waiting in this node's mailboxes."),
	}}
}

func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range m.descs {
		ch <- d
	}
}

func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	s := m.a.node.Stats()
	gauge := func(k string, v float64) { ch <- prometheus.MustNewConstMetric(m.descs[k], prometheus.GaugeValue, v) }
	counter := func(k string, v uint64) {
		ch <- prometheus.MustNewConstMetric(m.descs[k], prometheus.CounterValue, float64(v))
	}
	gauge("processes", float64(m.a.rt.NumProcesses()))
	gauge("nodes", float64(len(m.a.node.Nodes())))
	gauge("members", float64(len(m.a.cluster.Members())))
	quorum := 0.0
	if m.a.cluster.HasQuorum() {
		quorum = 1
	}
	gauge("quorum", quorum)
	counter("connects", s.Connects.Load())
	counter("disconnects", s.Disconnects.Load())
	for kind, v := range s.Refusals() {
		ch <- prometheus.MustNewConstMetric(m.descs["refused"], prometheus.CounterValue, float64(v), kind)
	}
	counter("dial_failures", s.DialFailures.Load())
	counter("malformed", s.MalformedFrames.Load())
	counter("undecodable", s.Undecodable.Load())
	counter("undecodable_peer", s.UndecodableByPeer.Load())
	counter("delivery", s.DeliveryFailures.Load())
	g := m.a.cluster.Stats()
	counter("g_refused", g.AuthRefused.Load())
	counter("g_timeouts", g.AuthTimeouts.Load())
	counter("g_hangups", g.AuthHangups.Load())
	counter("g_host_full", g.ConnsRefused.Load())
	counter("g_evicted", g.ConnsEvicted.Load())
	gauge("g_pending", float64(m.a.cluster.PendingConns()))
	counter("g_dropped", g.PacketsDropped.Load())
	counter("g_merges", g.LinkMerges.Load())
	counter("a_unauth", m.a.adminSec.Unauthorized.Load())
	if l := m.a.adminLim; l != nil {
		counter("a_refused", l.Stats().Refused.Load())
		counter("a_evicted", l.Stats().Evicted.Load())
	} else {
		counter("a_refused", 0)
		counter("a_evicted", 0)
	}
	counter("dropped_by_peer", s.DroppedByPeer.Load())
	counter("lost_link_down", s.LostOnLinkDown.Load())
	counter("links_paused", s.LinksPaused.Load())
	counter("sends_held", s.SendsHeld.Load())
	gauge("remote_queued", float64(m.a.node.RemoteQueued()))
}
