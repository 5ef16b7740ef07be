// Package agent runs a Grove node as a service: configuration from flags
// and GROVE_* environment variables, node links secured by a cookie or
// mutual TLS, peers to join, an admin HTTP API and graceful shutdown. It is
// what `grove node` runs, as a library a user's own main can call.
//
// # Usage
//
//	var cfg agent.Config
//	fs := pflag.NewFlagSet("app", pflag.ExitOnError)
//	cfg.RegisterFlags(fs)
//	fs.Parse(os.Args[1:])
//	if err := agent.LoadEnv(fs, os.LookupEnv); err != nil { ... }
//	a, err := agent.Start(ctx, cfg, slog.Default())
//	if err != nil { ... }
//	<-ctx.Done() // SIGTERM
//	a.Close(context.Background())
//
// # Admin API
//
// JSON over HTTP, on loopback (127.0.0.1:4371) unless --admin says
// otherwise:
//
//	GET /healthz     200 while the node runs, 503 while it stops
//	GET /readyz      200 once it has joined a peer (or has none to join)
//	GET /v1/status   name, address, region, incarnation, readiness, uptime, processes, connected nodes, quorum
//	GET /v1/members  [{name, address, state, region, incarnation}], state alive|suspect|dead|left
//	GET /metrics     Prometheus: the node's, membership's and services' counters, Go runtime and process
//
// and the services' endpoints (services.go) and the store's (--kv).
// /v1/members lists the members of the cluster as this node's membership
// sees them: those that proved their name to it, alive, suspect (its link
// to them is down), dead (declared failed by SWIM) or left; dead ones for
// as long as they count toward quorum and a while after (see package
// cluster).
//
// The server bounds every connection (ReadHeaderTimeout 5 s, ReadTimeout
// and WriteTimeout 30 s — event streams clear theirs —, IdleTimeout 60 s,
// 16 KiB of headers, 512 connections and 64 per client host). With a token
// (AdminAuthConfig: --admin-token, --admin-token-file, GROVE_ADMIN_TOKEN)
// or a client CA (--admin-client-ca, mutual TLS), every endpoint but
// /healthz and /readyz needs them; an admin address other than loopback is
// refused without one of them.
//
// A file admin_<name>.go adds endpoints with one line:
//
//	func init() { extendAdmin((*Agent).namesRoutes) } // namesRoutes(mux *http.ServeMux, reg *prometheus.Registry)
package agent
