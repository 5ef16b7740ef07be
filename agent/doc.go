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
//	GET /v1/status   name, address, region, incarnation, readiness, uptime, processes, connected nodes
//	GET /v1/members  [{name, address, state, region, incarnation}], state alive|suspect|dead|left
//	GET /metrics     Prometheus metrics: processes, links, refusals, decode failures
//
// Until cluster membership runs on the node, /v1/members reports what the
// node's links see: a linked node is alive, one whose link went down is
// dead until it comes back.
package agent
