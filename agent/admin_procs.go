package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/grovedev/grove/proc"
)

func init() { extendAdmin((*Agent).procRoutes) }

// The read-only view of the node's processes: GET /v1/procs lists them,
// GET /v1/procs/{id} describes one, GET /v1/procs/{id}/trace shows its
// trace. {id} is the serial number of a local PID (the middle number of
// <node.42.creation>) or a registered name.

const (
	procsDefaultLimit = 1000
	procsMaxLimit     = 100_000
	// procAskTimeout bounds the questions put to a process (its state,
	// statistics and trace): a busy or suspended process does not hold the
	// request.
	procAskTimeout = time.Second
	procStateLen   = 4096
)

// ProcSummary is one process of GET /v1/procs.
type ProcSummary struct {
	PID        string `json:"pid"`
	ID         uint64 `json:"id"`
	Name       string `json:"name,omitempty"`
	Label      string `json:"label,omitempty"`
	Behavior   string `json:"behavior"`
	Status     string `json:"status"` // idle, waiting, running or dead
	MailboxLen int    `json:"mailbox_len"`
	Parent     string `json:"parent,omitempty"`
}

// ProcList is the body of GET /v1/procs.
type ProcList struct {
	Total     int           `json:"total"` // live processes
	Processes []ProcSummary `json:"processes"`
	Next      uint64        `json:"next,omitempty"` // pass as ?after= for the next page
}

// ProcDetail is the body of GET /v1/procs/{id}.
type ProcDetail struct {
	ProcSummary
	TrapExit             bool            `json:"trap_exit"`
	Links                []string        `json:"links"`
	Monitors             []string        `json:"monitors"`
	MonitoredBy          []string        `json:"monitored_by"`
	Watchers             int             `json:"watchers"`
	Timers               int             `json:"timers"`
	DroppedTimerMessages uint64          `json:"dropped_timer_messages"`
	Statistics           *ProcStatistics `json:"statistics,omitempty"` // when collected
	State                string          `json:"state,omitempty"`      // with ?state=1: the behaviour's Inspect, printed, cut at 4 KiB
	StateError           string          `json:"state_error,omitempty"`
}

// ProcStatistics are the figures of a process whose statistics are on.
type ProcStatistics struct {
	Since       time.Time `json:"since"`
	MessagesIn  uint64    `json:"messages_in"`
	CallsIn     uint64    `json:"calls_in"`
	MessagesOut uint64    `json:"messages_out"`
}

// procRoutes mounts the process endpoints.
func (a *Agent) procRoutes(mux *http.ServeMux, _ *prometheus.Registry) {
	mux.HandleFunc("GET /v1/procs", a.listProcs)
	mux.HandleFunc("GET /v1/procs/{id}", a.describeProc)
	mux.HandleFunc("GET /v1/procs/{id}/trace", a.traceProc)
}

func (a *Agent) listProcs(w http.ResponseWriter, r *http.Request) {
	limit, after := procsDefaultLimit, uint64(0)
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > procsMaxLimit {
			writeProcError(w, http.StatusBadRequest, fmt.Errorf("limit %q: want 1 to %d", v, procsMaxLimit))
			return
		}
		limit = n
	}
	if v := r.URL.Query().Get("after"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			writeProcError(w, http.StatusBadRequest, fmt.Errorf("after %q: want a process ID", v))
			return
		}
		after = n
	}
	pids := a.rt.Processes()
	out := ProcList{Total: len(pids), Processes: []ProcSummary{}}
	for _, pid := range pids {
		if pid.ID <= after {
			continue
		}
		if len(out.Processes) == limit {
			out.Next = out.Processes[limit-1].ID
			break
		}
		in, err := a.rt.Info(pid)
		if err != nil {
			continue // exited meanwhile
		}
		out.Processes = append(out.Processes, summary(in))
	}
	writeJSON(w, out)
}

func (a *Agent) describeProc(w http.ResponseWriter, r *http.Request) {
	pid, ok := a.procOf(w, r)
	if !ok {
		return
	}
	in, err := a.rt.Info(pid)
	if err != nil {
		writeProcError(w, http.StatusNotFound, err)
		return
	}
	d := ProcDetail{
		ProcSummary: summary(in), TrapExit: in.TrapExit, Links: pidStrings(in.Links), Monitors: pidStrings(in.Monitors),
		MonitoredBy: pidStrings(in.MonitoredBy), Watchers: in.Watchers, Timers: in.Timers,
		DroppedTimerMessages: in.DroppedTimerMessages,
	}
	ctx, cancel := context.WithTimeout(r.Context(), procAskTimeout)
	defer cancel()
	if st, err := a.rt.Statistics(ctx, pid); err == nil {
		d.Statistics = &ProcStatistics{Since: st.Since, MessagesIn: st.MessagesIn, CallsIn: st.CallsIn, MessagesOut: st.MessagesOut}
	}
	if r.URL.Query().Get("state") == "1" {
		if v, err := a.rt.Inspect(ctx, pid); err != nil {
			d.StateError = err.Error()
		} else {
			d.State = fmt.Sprintf("%v", v)
			if len(d.State) > procStateLen {
				d.State = d.State[:procStateLen]
			}
		}
	}
	writeJSON(w, d)
}

func (a *Agent) traceProc(w http.ResponseWriter, r *http.Request) {
	pid, ok := a.procOf(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), procAskTimeout)
	defer cancel()
	evs, err := a.rt.TraceLog(ctx, pid)
	switch {
	case errors.Is(err, proc.ErrNoTrace):
		writeProcError(w, http.StatusNotFound, err)
	case errors.Is(err, proc.ErrNotAlive), errors.As(err, new(*proc.ExitError)):
		writeProcError(w, http.StatusNotFound, err)
	case err != nil:
		writeProcError(w, http.StatusServiceUnavailable, err)
	default:
		if evs == nil {
			evs = []proc.TraceEvent{}
		}
		writeJSON(w, evs)
	}
}

// procOf reads the {id} of a request: a local process's serial number or a
// registered name.
func (a *Agent) procOf(w http.ResponseWriter, r *http.Request) (proc.PID, bool) {
	id := r.PathValue("id")
	if n, err := strconv.ParseUint(id, 10, 64); err == nil && n > 0 {
		return proc.PID{Node: a.rt.Node(), Creation: a.rt.Creation(), ID: n}, true
	}
	if pid, ok := a.rt.WhereIs(id); ok {
		return pid, true
	}
	writeProcError(w, http.StatusNotFound, fmt.Errorf("no process %q: give a process ID or a registered name", id))
	return proc.PID{}, false
}

func summary(in proc.Info) ProcSummary {
	s := ProcSummary{
		PID: in.PID.String(), ID: in.PID.ID, Name: in.Name, Label: in.Label, Behavior: in.Behavior,
		Status: string(in.Status), MailboxLen: in.MailboxLen,
	}
	if !in.Parent.IsZero() {
		s.Parent = in.Parent.String()
	}
	return s
}

func pidStrings(pids []proc.PID) []string {
	out := make([]string, len(pids))
	for i, p := range pids {
		out[i] = p.String()
	}
	return out
}

// writeProcError answers {"error": "..."} with status.
func writeProcError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
}
