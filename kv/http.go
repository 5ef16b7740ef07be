package kv

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/grovedev/grove/raft"
)

// Handler serves the store over HTTP:
//
//	PUT    /v1/kv/{key}         body: the value    → 200 {"version": N}
//	PUT    /v1/kv/{key}?cas=V   write if version V → 200, or 409 {"error": ..., "version": current}
//	DELETE /v1/kv/{key}[?cas=V]                    → 200 {"version": previous}, or 409
//	GET    /v1/kv/{key}[?stale=1]                  → 200 {"value": "...", "version": N}, or 404
//
// 503 {"error": ...} means the request was certainly not applied (no
// leader, no quorum, not started, timed out before it was proposed); 504
// means its outcome is unknown (it may have been applied); 413 a key or
// value beyond the limits; 400 a bad request. Each request is bounded by
// timeout (default 10 s).
func Handler(s func() *Store, timeout time.Duration) http.Handler {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	h := &handler{store: s, timeout: timeout}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/kv/{key...}", h.get)
	mux.HandleFunc("PUT /v1/kv/{key...}", h.put)
	mux.HandleFunc("DELETE /v1/kv/{key...}", h.del)
	return mux
}

type handler struct {
	store   func() *Store
	timeout time.Duration
}

type errorBody struct {
	Error   string  `json:"error"`
	Version *uint64 `json:"version,omitempty"`
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// Status maps an error of the store to its HTTP status.
func Status(err error) int {
	var ce *ConflictError
	switch {
	case errors.As(err, &ce):
		return http.StatusConflict
	case errors.Is(err, ErrNotFound):
		return http.StatusNotFound
	case errors.Is(err, ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrInvalidKey):
		return http.StatusBadRequest
	case errors.Is(err, raft.ErrUnknownOutcome):
		return http.StatusGatewayTimeout
	case errors.Is(err, raft.ErrNoLeader), errors.Is(err, raft.ErrNoQuorum), errors.Is(err, raft.ErrTimeout),
		errors.Is(err, raft.ErrStopped), errors.Is(err, raft.ErrStorage), errors.Is(err, raft.ErrNotLeader),
		errors.Is(err, ErrNotStarted), errors.Is(err, raft.ErrRejected), errors.Is(err, raft.ErrOverloaded):
		return http.StatusServiceUnavailable
	}
	// Anything else went wrong before or without a proposal, except a
	// transport failure while forwarding, which is mapped by the caller.
	return http.StatusInternalServerError
}

// ErrNotStarted: the store is not running on this node yet (waiting for
// --bootstrap-expect members, say).
var ErrNotStarted = errors.New("kv: not started")

func (h *handler) fail(w http.ResponseWriter, err error) {
	body := errorBody{Error: err.Error()}
	var ce *ConflictError
	if errors.As(err, &ce) {
		body.Version = &ce.Version
	}
	writeJSON(w, Status(err), body)
}

func (h *handler) ctx(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), h.timeout)
}

func casOf(r *http.Request) (uint64, bool, error) {
	v := r.URL.Query().Get("cas")
	if v == "" {
		return 0, false, nil
	}
	n, err := strconv.ParseUint(v, 10, 64)
	return n, true, err
}

func (h *handler) get(w http.ResponseWriter, r *http.Request) {
	s := h.store()
	if s == nil {
		h.fail(w, ErrNotStarted)
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	c := Linearizable
	if st := r.URL.Query().Get("stale"); st == "1" || st == "true" {
		c = Stale
	}
	it, err := s.Get(ctx, r.PathValue("key"), c)
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": string(it.Value), "version": it.Version})
}

func (h *handler) put(w http.ResponseWriter, r *http.Request) {
	s := h.store()
	if s == nil {
		h.fail(w, ErrNotStarted)
		return
	}
	cas, hasCas, err := casOf(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "kv: cas must be a version number"})
		return
	}
	_, maxValue := s.Limits()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, int64(maxValue)+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			h.fail(w, ErrTooLarge)
			return
		}
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "kv: reading the body: " + err.Error()})
		return
	}
	if len(body) > maxValue {
		h.fail(w, ErrTooLarge)
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	var v uint64
	if hasCas {
		v, err = s.CompareAndPut(ctx, r.PathValue("key"), body, cas)
	} else {
		v, err = s.Put(ctx, r.PathValue("key"), body)
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": v})
}

func (h *handler) del(w http.ResponseWriter, r *http.Request) {
	s := h.store()
	if s == nil {
		h.fail(w, ErrNotStarted)
		return
	}
	cas, hasCas, err := casOf(r)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "kv: cas must be a version number"})
		return
	}
	ctx, cancel := h.ctx(r)
	defer cancel()
	var v uint64
	if hasCas {
		v, err = s.CompareAndDelete(ctx, r.PathValue("key"), cas)
	} else {
		v, err = s.Delete(ctx, r.PathValue("key"))
	}
	if err != nil {
		h.fail(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"version": v})
}
