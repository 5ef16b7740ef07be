package resilience

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Collector returns a Prometheus collector of nb's breakers, one series
// per remote node (label "peer"), all with the const label node, this
// node's name:
//
//	grove_breaker_state{peer}             0 closed, 1 open, 2 half-open
//	grove_breaker_open_until_seconds{peer} when an open breaker lets trials through (Unix time; 0 unless open)
//	grove_breaker_trials_in_flight{peer}
//	grove_breaker_calls_total{peer,outcome} outcome success, failure, ignored, rejected
//	grove_breaker_opened_total{peer}
//	grove_breaker_trials_expired_total{peer}
//
// Each scrape takes a snapshot of every breaker (NodeBreakers.Stats).
func (nb *NodeBreakers) Collector() prometheus.Collector {
	constLabels := prometheus.Labels{"node": nb.n.Name()}
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc("grove_breaker_"+name, help, append([]string{"peer"}, labels...), constLabels)
	}
	return &breakerMetrics{
		nb:        nb,
		state:     d("state", "State of the circuit breaker of a remote node: 0 closed, 1 open, 2 half-open."),
		openUntil: d("open_until_seconds", "When an open breaker lets trial calls through, as Unix time; 0 unless open."),
		probes:    d("trials_in_flight", "Trial calls in flight through a half-open breaker."),
		calls:     d("calls_total", "Calls through the breaker by outcome: success, failure, ignored, or rejected (failed fast).", "outcome"),
		opened:    d("opened_total", "Times the breaker opened."),
		expired:   d("trials_expired_total", "Trial calls that did not report within OpenTimeout and counted as failed."),
	}
}

type breakerMetrics struct {
	nb                                               *NodeBreakers
	state, openUntil, probes, calls, opened, expired *prometheus.Desc
}

var _ prometheus.Collector = (*breakerMetrics)(nil)

// Describe sends the descriptions of every series.
func (m *breakerMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.state, m.openUntil, m.probes, m.calls, m.opened, m.expired} {
		ch <- d
	}
}

// Collect sends a snapshot of every breaker.
func (m *breakerMetrics) Collect(ch chan<- prometheus.Metric) {
	for peer, st := range m.nb.Stats() {
		gauge := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, peer)
		}
		counter := func(d *prometheus.Desc, v uint64, labels ...string) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), append([]string{peer}, labels...)...)
		}
		gauge(m.state, float64(st.State))
		until := 0.0
		if !st.OpenUntil.IsZero() {
			until = float64(st.OpenUntil.UnixNano()) / 1e9
		}
		gauge(m.openUntil, until)
		gauge(m.probes, float64(st.Probes))
		counter(m.calls, st.Successes, "success")
		counter(m.calls, st.Failures, "failure")
		counter(m.calls, st.Ignored, "ignored")
		counter(m.calls, st.Rejected, "rejected")
		counter(m.opened, st.Opened)
		counter(m.expired, st.Expired)
	}
}
