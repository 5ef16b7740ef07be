package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/discovery"
	"github.com/grovedev/grove/internal/connlimit"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport"
)

// Agent is a running node: a process runtime, its node links and the admin
// API. It is what `grove node` runs, and what a user's own main can run in
// a few lines:
//
//	a, err := agent.Start(ctx, cfg, slog.Default())
//	if err != nil { ... }
//	<-ctx.Done()            // SIGTERM
//	a.Close(context.Background())
type Agent struct {
	cfg     Config
	log     *slog.Logger
	rt      *proc.Runtime
	node    *node.Node
	started time.Time

	admin    *http.Server
	adminLn  net.Listener
	adminLim *connlimit.Limiter
	adminSec adminCounters
	wg       sync.WaitGroup
	ready    atomic.Bool
	closing  atomic.Bool
	ctx      context.Context // cancelled by Close: ends joins in progress
	stop     context.CancelFunc
	cluster  *cluster.Cluster
	poller   *discovery.Poller
	kv       kvState       // --kv (kv.go)
	svc      *services     // pubsub, pg and presence (services.go)
	names    *clusterNames // registry, supervisor, singleton, keyed processes (names.go)
	faults   *faults       // --fault-injection (faultinject.go); nil without it
	gossipTr transport.Transport
}

// Start starts a node as cfg describes: it listens for node links, connects
// to the --join peers in the background (retrying with backoff), and serves
// the admin API.
func Start(ctx context.Context, cfg Config, log *slog.Logger) (*Agent, error) {
	if err := cfg.Resolve(os.Hostname, net.LookupHost); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	nodeCfg := node.Config{Name: cfg.Name, Listen: cfg.Listen, Advertise: cfg.Advertise, Heartbeat: cfg.Heartbeat, Logger: log}
	secret, err := cfg.secret()
	if err != nil {
		return nil, err
	}
	nodeCfg.Cookie = secret
	if cfg.TLSCert != "" {
		if nodeCfg.TLS, err = loadTLS(cfg); err != nil {
			return nil, err
		}
	}
	if err := kvCodec(cfg, &nodeCfg); err != nil {
		return nil, err
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
			return nil, fmt.Errorf("--data-dir: %w", err)
		}
	}
	var fl *faults
	if cfg.FaultInjection {
		log.Warn("fault injection is on: the admin API can cut this node off from its peers (--fault-injection)")
		fl = newFaults(log)
		nodeCfg.Transport = fl.wrap(transport.NewTCP(transport.TCPConfig{}))
	}
	rt, err := proc.New(proc.Config{Node: cfg.Name, Logger: log})
	if err != nil {
		return nil, err
	}
	n, err := node.Start(ctx, rt, nodeCfg)
	if err != nil {
		rt.Close(context.Background())
		return nil, err
	}
	a := &Agent{cfg: cfg, log: log, rt: rt, node: n, started: time.Now(), faults: fl}
	a.ctx, a.stop = context.WithCancel(context.Background())
	if err := a.startCluster(ctx); err != nil {
		n.Close()
		rt.Close(context.Background())
		return nil, err
	}
	if err := a.startKV(); err != nil {
		a.Close(context.Background())
		return nil, err
	}
	if err := a.startServices(); err != nil {
		a.Close(context.Background())
		return nil, err
	}
	if err := a.startNames(); err != nil { // names.go
		a.Close(context.Background())
		return nil, err
	}
	if cfg.Admin != "" {
		ln, err := net.Listen("tcp", cfg.Admin)
		if err != nil {
			a.Close(context.Background())
			return nil, fmt.Errorf("--admin: %w", err)
		}
		a.adminLn = ln
		srv, sln, err := a.adminServer(ln) // timeouts, limits, token or mutual TLS (adminserver.go)
		if err != nil {
			ln.Close()
			a.Close(context.Background())
			return nil, err
		}
		a.admin = srv
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			if err := a.admin.Serve(sln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("admin API stopped", slog.Any("err", err))
			}
		}()
	}
	if cfg.Discovery != "" {
		if err := a.startDiscovery(); err != nil {
			a.Close(context.Background())
			return nil, err
		}
	}
	a.wg.Add(1)
	go a.joinAll()
	log.Info("node started", slog.String("name", cfg.Name), slog.String("addr", n.Addr()), slog.String("admin", a.AdminAddr()),
		slog.String("gossip", a.cluster.GossipAddr()))
	return a, nil
}

// startCluster runs the membership protocol beside the node. Every gossip
// connection is authenticated and encrypted by the node's own handshake, as
// links are (TLS, or the cookie's session keys): nothing public, such as
// the CA certificate, serves as a key.
func (a *Agent) startCluster(ctx context.Context) error {
	bind, err := a.cfg.gossipBind()
	if err != nil {
		return fmt.Errorf("--gossip: %w", err)
	}
	ccfg := cluster.DefaultLANConfig()
	if a.cfg.Heartbeat > 0 && a.cfg.Heartbeat < 200*time.Millisecond {
		// A node tuned for fast detection gets fast membership too.
		ccfg = cluster.DefaultLocalConfig()
	}
	ccfg.Bind, ccfg.Meta, ccfg.Logger = bind, cluster.Meta{Region: a.cfg.Region}, a.log
	if a.faults != nil {
		a.gossipTr = a.faults.wrap(transport.NewTCP(transport.TCPConfig{}))
		ccfg.Transport = a.gossipTr
	}
	host, port, err := net.SplitHostPort(bind)
	if err != nil {
		return fmt.Errorf("--gossip: %w", err)
	}
	if host == "" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
		// memberlist needs a literal IP to advertise: the node's advertised
		// host, resolved.
		if port == "0" {
			return errors.New("--gossip: give a port when it listens on all interfaces")
		}
		adv, _, err := net.SplitHostPort(a.node.Addr())
		if err != nil {
			return fmt.Errorf("--gossip: no address to advertise: %w", err)
		}
		if net.ParseIP(adv) == nil {
			ips, err := net.LookupHost(adv)
			if err != nil || len(ips) == 0 {
				return fmt.Errorf("--gossip: host %q does not resolve: %v", adv, err)
			}
			adv = ips[0]
		}
		ccfg.Advertise = net.JoinHostPort(adv, port)
	}
	c, err := cluster.Start(ctx, a.node, ccfg)
	if err != nil {
		if a.gossipTr != nil {
			a.gossipTr.Close()
		}
		return fmt.Errorf("membership: %w", err)
	}
	a.cluster = c
	return nil
}

// startDiscovery polls the --discovery strategy and joins every peer it
// finds. Discovery only adds: a peer leaves through its link's failure, never
// because a poll failed or came back empty.
func (a *Agent) startDiscovery() error {
	strategy, err := discovery.Parse(a.cfg.Discovery)
	if err != nil {
		return fmt.Errorf("--discovery: %w", err)
	}
	pcfg := discovery.DefaultPollerConfig()
	pcfg.Logger = a.log
	if a.cfg.DiscoveryEvery > 0 {
		pcfg.Interval = a.cfg.DiscoveryEvery
	}
	a.poller, err = discovery.NewPoller(strategy, func(u discovery.Update) {
		for _, p := range append(u.Added, u.Refreshed...) {
			if p.Name == a.cfg.Name || p.Addr == a.node.Addr() {
				continue
			}
			a.wg.Add(1)
			go func() {
				defer a.wg.Done()
				a.join(Peer{Name: p.Name, Addr: p.Addr})
			}()
		}
	}, pcfg)
	return err
}

// joinAll connects to the --join peers, retrying each until it answers or
// the agent closes; the node is ready once the first one (or, with no
// peers, itself) is up.
func (a *Agent) joinAll() {
	defer a.wg.Done()
	peers := make([]Peer, 0, len(a.cfg.Join))
	for _, j := range a.cfg.Join {
		p, _ := ParseJoin(j) // validated
		peers = append(peers, p)
	}
	if len(peers) == 0 {
		// With discovery, readiness waits for the first peer it finds.
		if a.cfg.Discovery == "" {
			a.ready.Store(true)
		}
		return
	}
	var wg sync.WaitGroup
	for _, p := range peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.join(p)
		}()
	}
	wg.Wait()
}

func (a *Agent) join(p Peer) {
	wait := 100 * time.Millisecond
	for a.ctx.Err() == nil {
		ctx, cancel := context.WithTimeout(a.ctx, 5*time.Second)
		err := a.joinOnce(ctx, &p)
		cancel()
		if err == nil || errors.Is(err, node.ErrSelf) {
			a.ready.Store(true)
			return
		}
		a.log.Debug("join failed, retrying", slog.String("peer", p.Addr), slog.Any("err", err))
		select {
		case <-a.ctx.Done():
			return
		case <-time.After(wait):
		}
		wait = min(2*wait, 5*time.Second)
	}
}

// joinOnce links to a peer's node, learns its membership address over that
// link and joins the cluster through it. A peer known by address only is
// named once its link is up, so that a retry (its membership was not
// running yet) reuses the link instead of dialing a second one, which the
// peer would refuse.
func (a *Agent) joinOnce(ctx context.Context, p *Peer) error {
	name := p.Name
	if name != "" {
		if err := a.node.Connect(ctx, name, p.Addr); err != nil {
			return err
		}
	} else {
		var err error
		if name, err = a.node.ConnectAddr(ctx, p.Addr); err != nil {
			return err
		}
		p.Name = name
	}
	v, err := a.node.RPC(ctx, name, cluster.GossipAddrFunc, nil)
	if err != nil {
		return fmt.Errorf("membership address of %s: %w", name, err)
	}
	addr, ok := v.(string)
	if !ok {
		return fmt.Errorf("membership address of %s: got %T", name, v)
	}
	_, err = a.cluster.Join(ctx, addr)
	return err
}

// Cluster returns the node's cluster membership.
func (a *Agent) Cluster() *cluster.Cluster { return a.cluster }

// Runtime returns the node's process runtime.
func (a *Agent) Runtime() *proc.Runtime { return a.rt }

// Node returns the node.
func (a *Agent) Node() *node.Node { return a.node }

// AdminAddr returns the admin API's address, empty when disabled.
func (a *Agent) AdminAddr() string {
	if a.adminLn == nil {
		return ""
	}
	return a.adminLn.Addr().String()
}

// Close shuts the node down gracefully: it stops being ready, closes its
// links (peers see it leave), stops every process in order and the admin
// API. Close is idempotent.
func (a *Agent) Close(ctx context.Context) error {
	if !a.closing.CompareAndSwap(false, true) {
		return nil
	}
	a.ready.Store(false)
	a.stop()
	a.closeKV()
	a.closeServices()
	if a.poller != nil {
		a.poller.Close()
	}
	if a.cfg.ShutdownTTL > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.cfg.ShutdownTTL)
		defer cancel()
	}
	a.closeNames(ctx) // hands the supervisor's children off first (names.go)
	if a.cluster != nil {
		// The leave notice gets a share of the shutdown time of its own, so
		// that peers which stop at the same moment (and will never confirm
		// it) cannot use up what the processes need to stop. It is a
		// courtesy: unheard, the peers declare this node dead instead.
		lctx, cancel := context.WithTimeout(ctx, leaveBudget(a.cfg.ShutdownTTL))
		if err := a.cluster.Leave(lctx); err != nil {
			a.log.Warn("leave notice not confirmed; peers will see this node dead rather than left", slog.Any("err", err))
		}
		cancel()
	}
	if a.cluster != nil {
		a.cluster.Close()
	}
	if a.gossipTr != nil {
		a.gossipTr.Close()
	}
	nodeErr := a.node.Close()
	rtErr := a.rt.Close(ctx)
	if a.admin != nil {
		// Requests in flight get a moment; streams (server-sent events)
		// and idle keep-alives are then cut.
		sctx, cancel := context.WithTimeout(ctx, adminDrain)
		if err := a.admin.Shutdown(sctx); err != nil {
			a.admin.Close()
		}
		cancel()
	}
	a.wg.Wait()
	a.log.Info("node stopped", slog.String("name", a.cfg.Name))
	return errors.Join(nodeErr, rtErr)
}

// adminDrain bounds how long a stopping node waits for admin requests.
const adminDrain = 2 * time.Second

// leaveBudget is the part of a graceful shutdown given to the leave
// notice: a third of it, at most 3 s.
func leaveBudget(ttl time.Duration) time.Duration {
	if ttl <= 0 {
		return 3 * time.Second
	}
	return min(ttl/3, 3*time.Second)
}

func loadTLS(cfg Config) (*node.TLSConfig, error) {
	cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
	if err != nil {
		return nil, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	pem, err := os.ReadFile(cfg.TLSCA)
	if err != nil {
		return nil, fmt.Errorf("--tls-ca: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("--tls-ca %s: no certificate found", cfg.TLSCA)
	}
	return &node.TLSConfig{Certificate: cert, Roots: roots}, nil
}
