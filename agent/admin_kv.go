package agent

import (
	"net/http"

	"github.com/grovedev/grove/kv"
)

// kvRoutes mounts the key-value API (/v1/kv/{key}) and the store's Raft
// status (GET /v1/kv-status) when --kv is on.
func (a *Agent) kvRoutes(mux *http.ServeMux) {
	if !a.cfg.KV.Enabled {
		return
	}
	mux.Handle("/v1/kv/", kv.Handler(a.kv.store.Load, 0))
	mux.HandleFunc("GET /v1/kv-status", func(w http.ResponseWriter, _ *http.Request) {
		s := a.kv.store.Load()
		if s == nil {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			w.Write([]byte("{\"error\": \"kv: not started\"}\n"))
			return
		}
		st := s.Group().Status()
		writeJSON(w, map[string]any{
			"group": st.Name, "role": st.Role.String(), "leader": st.Leader, "term": st.Term,
			"commit": st.Commit, "applied": st.Applied, "voters": st.Voters, "learners": st.Learners,
		})
	})
}
