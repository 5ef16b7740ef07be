// Command bank is an event-sourced bank: accounts and transfers are
// aggregates, a process manager moves each transfer's money (debit, then
// credit, then complete; or fail when the debit is refused), and a
// projection keeps the balances. However the nodes crash, the bank's total
// never changes.
//
//	go run ./examples/bank                                   # one node on the embedded store
//	go run ./examples/bank --postgres postgres://u@h/db --nodes 3   # three node processes on PostgreSQL
//
// With --postgres and --nodes 3 it starts itself three times as node
// processes that form a Grove cluster (loopback TCP) and share one schema:
// each account and transfer aggregate runs on one node of the cluster at a
// time (eventsourcing.ClusterHost on the keyed processes of package
// entity), commands are routed to it from any node, and each node
// dispatches its share of the transfers; the process manager and the
// balances projection (into a PostgreSQL table, checkpoint in the same
// transaction) run on one node at a time through leases. It kills one node
// halfway (its aggregates move to the others, commands in flight are
// retried there and applied once), starts it again, and at the end checks
// the books against the events and the projection.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/grovedev/grove/cluster"
	"github.com/grovedev/grove/codec"
	"github.com/grovedev/grove/eventsourcing"
	"github.com/grovedev/grove/eventsourcing/pgprojection"
	"github.com/grovedev/grove/eventstore"
	"github.com/grovedev/grove/eventstore/pebblestore"
	"github.com/grovedev/grove/eventstore/pgstore"
	"github.com/grovedev/grove/examples/bank/bank"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
)

type options struct {
	postgres  string
	schema    string
	data      string
	nodes     int
	node      string // set in a node process
	join      string // gossip addresses to join, in a node process
	accounts  int
	transfers int
	seed      uint64
	self      string // this program, to start node processes
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err == nil {
		o.self, err = os.Executable()
	}
	if err == nil {
		ctx := context.Background()
		if o.node != "" {
			err = runNode(ctx, os.Stdout, os.Stdin, o)
		} else {
			err = run(ctx, os.Stdout, o)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bank:", err)
		os.Exit(1)
	}
}

func parseFlags(args []string) (options, error) {
	var o options
	f := flag.NewFlagSet("bank", flag.ContinueOnError)
	f.StringVar(&o.postgres, "postgres", "", "PostgreSQL URL (default: the embedded store)")
	f.StringVar(&o.schema, "schema", "", "schema for the bank's events (default a fresh one)")
	f.StringVar(&o.data, "data", "", "embedded store directory (default a temporary one)")
	f.IntVar(&o.nodes, "nodes", 1, "node processes to run (with --postgres)")
	f.StringVar(&o.node, "node", "", "run as the named node process")
	f.StringVar(&o.join, "join", "", "gossip addresses of the cluster to join (a node process)")
	f.IntVar(&o.accounts, "accounts", 8, "accounts")
	f.IntVar(&o.transfers, "transfers", 200, "transfers in all")
	f.Uint64Var(&o.seed, "seed", uint64(time.Now().UnixNano()), "seed of the transfers")
	return o, f.Parse(args)
}

var quiet = slog.New(slog.DiscardHandler)

func newApp(store eventstore.Store, rt *proc.Runtime) (*eventsourcing.App, error) {
	app, err := eventsourcing.New(eventsourcing.Config{Store: store, Types: bank.Types(), Runtime: rt, Logger: quiet})
	if err != nil {
		return nil, err
	}
	return app, bank.Routes(app)
}

func accountName(i int) string { return fmt.Sprintf("acc-%02d", i) }

const initial = 1000

// transfers dispatches n random transfers with ids prefix-0 ... and
// returns their ids.
func transfers(ctx context.Context, app *eventsourcing.App, r *rand.Rand, prefix string, accounts, n int) ([]string, error) {
	var ids []string
	for i := range n {
		from, to := r.IntN(accounts), r.IntN(accounts-1)
		if to >= from {
			to++
		}
		id := fmt.Sprintf("%s-%d", prefix, i)
		cmd := bank.RequestTransfer{Transfer: id, From: accountName(from), To: accountName(to), Amount: int64(1 + r.IntN(initial/3))}
		var err error
		for attempt := 0; attempt < 50; attempt++ {
			// The same command id on every attempt: an attempt whose
			// answer was lost is recognised, not applied again.
			if _, err = app.Dispatch(ctx, cmd, eventsourcing.WithMetadata(eventsourcing.Metadata{eventsourcing.MetaCommandID: "request-" + id})); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			return ids, err
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// waitSettled waits until every transfer has completed or failed.
func waitSettled(ctx context.Context, app *eventsourcing.App, ids []string, deadline time.Duration) (completed, failed int, err error) {
	end := time.Now().Add(deadline)
	for {
		completed, failed = 0, 0
		for _, id := range ids {
			agg, _, err := app.AggregateAt(ctx, bank.TransferKind, id, eventstore.End)
			if err != nil {
				return 0, 0, err
			}
			t := agg.(*bank.Transfer)
			if t.Completed {
				completed++
			} else if t.Failed {
				failed++
			}
		}
		if completed+failed == len(ids) {
			return completed, failed, nil
		}
		if time.Now().After(end) {
			return completed, failed, fmt.Errorf("%d of %d transfers still open after %v", len(ids)-completed-failed, len(ids), deadline)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// books sums the accounts' balances from their events.
func books(ctx context.Context, app *eventsourcing.App, accounts int) (map[string]int64, error) {
	out := map[string]int64{}
	for i := range accounts {
		agg, _, err := app.AggregateAt(ctx, bank.AccountKind, accountName(i), eventstore.End)
		if err != nil {
			return nil, err
		}
		out[accountName(i)] = agg.(*bank.Account).Balance
	}
	return out, nil
}

func run(ctx context.Context, w io.Writer, o options) error {
	if o.accounts < 2 || o.transfers < 0 || o.nodes < 1 {
		return errors.New("need at least 2 accounts, 1 node and no negative transfers")
	}
	var store eventstore.Store
	var pg *pgstore.Store
	if o.postgres != "" {
		if o.schema == "" {
			o.schema = fmt.Sprintf("bank_%d", time.Now().UnixNano()%1e9)
		}
		var err error
		if pg, err = pgstore.Open(ctx, pgstore.Config{URL: o.postgres, Schema: o.schema, Logger: quiet}); err != nil {
			return err
		}
		defer pg.Close()
		if _, err := pg.Pool().Exec(ctx, bank.PGTable(o.schema)); err != nil {
			return err
		}
		store = pg
		fmt.Fprintf(w, "bank on PostgreSQL, schema %s, %d node(s)\n", o.schema, o.nodes)
	} else {
		if o.nodes != 1 {
			return errors.New("several nodes need --postgres: the embedded store belongs to one process")
		}
		dir := o.data
		if dir == "" {
			d, err := os.MkdirTemp("", "grove-bank-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(d)
			dir = d
		}
		s, err := pebblestore.Open(pebblestore.Config{Dir: dir, Logger: quiet})
		if err != nil {
			return err
		}
		defer s.Close()
		store = s
		fmt.Fprintf(w, "bank on the embedded store in %s\n", dir)
	}
	rt, err := proc.New(proc.Config{Node: "bank@local", Logger: quiet})
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	app, err := newApp(store, rt)
	if err != nil {
		return err
	}
	for i := range o.accounts {
		if _, err := app.Dispatch(ctx, bank.Open{Account: accountName(i), Initial: initial}); err != nil && !errors.Is(err, bank.ErrOpen) {
			return err
		}
	}
	want := int64(o.accounts * initial)
	fmt.Fprintf(w, "opened %d accounts with %d each: the bank holds %d\n", o.accounts, initial, want)

	var ids []string
	if pg == nil {
		pm, err := app.StartProcess(ctx, bank.TransferProcess(eventsourcing.HandlerConfig{PollInterval: 100 * time.Millisecond}))
		if err != nil {
			return err
		}
		defer pm.Close()
		if ids, err = transfers(ctx, app, rand.New(rand.NewPCG(o.seed, 0)), "t", o.accounts, o.transfers); err != nil {
			return err
		}
	} else {
		if ids, err = runNodes(ctx, w, o); err != nil {
			return err
		}
	}
	completed, failed, err := waitSettled(ctx, app, ids, 2*time.Minute)
	if err != nil {
		return err
	}
	bal, err := books(ctx, app, o.accounts)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%d transfers: %d completed, %d refused for lack of funds\n", len(ids), completed, failed)
	for i := range o.accounts {
		fmt.Fprintf(w, "  %s %6d\n", accountName(i), bal[accountName(i)])
	}
	if got := bank.Total(bal); got != want {
		return fmt.Errorf("the books hold %d, the bank was given %d", got, want)
	}
	if pg != nil {
		if err := checkProjection(ctx, w, pg, o.schema, bal); err != nil {
			return err
		}
	}
	fmt.Fprintf(w, "total %d: nothing made, nothing lost\n", want)
	return nil
}

// runNodes starts the node processes, one after the other, each joining
// the cluster of those before it; kills the first halfway through its
// transfers and starts it again; and returns every transfer id dispatched.
func runNodes(ctx context.Context, w io.Writer, o options) ([]string, error) {
	type child struct {
		cmd    *exec.Cmd
		stdin  io.WriteCloser
		gossip chan string   // its gossip address, once it runs
		done   chan []string // the transfers it dispatched, once settled
		hosted chan int      // the aggregates it ran, when it stops
		third  chan struct{} // closed once a third of its transfers are dispatched
	}
	start := func(name string, part int, join []string) (*child, error) {
		args := []string{"--node", name, "--postgres", o.postgres, "--schema", o.schema, "--nodes", fmt.Sprint(o.nodes),
			"--accounts", fmt.Sprint(o.accounts), "--transfers", fmt.Sprint(part), "--seed", fmt.Sprint(o.seed)}
		if len(join) > 0 {
			args = append(args, "--join", strings.Join(join, ","))
		}
		cmd := exec.CommandContext(ctx, o.self, args...)
		cmd.Env = append(os.Environ(), childEnv+"=1")
		cmd.Stderr = os.Stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, err
		}
		in, err := cmd.StdinPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, err
		}
		c := &child{cmd: cmd, stdin: in, gossip: make(chan string, 1), done: make(chan []string, 1), hosted: make(chan int, 1),
			third: make(chan struct{})}
		go func() {
			var ids []string
			settled := false
			sc := bufio.NewScanner(out)
			for sc.Scan() {
				line := sc.Text()
				if id, ok := strings.CutPrefix(line, "dispatched "); ok {
					ids = append(ids, id)
					if len(ids) == max(part/3, 1) {
						close(c.third)
					}
				} else if addr, ok := strings.CutPrefix(line, "gossip "); ok {
					c.gossip <- addr
				} else if n, ok := strings.CutPrefix(line, "hosted "); ok {
					var k int
					fmt.Sscan(n, &k)
					c.hosted <- k
				} else if line == "done" && !settled {
					settled = true
					c.done <- ids
				} else {
					fmt.Fprintf(w, "  [%s] %s\n", name, line)
				}
			}
			if !settled {
				c.done <- ids
			}
			close(c.hosted)
		}()
		return c, nil
	}
	waitGossip := func(c *child) (string, error) {
		select {
		case addr := <-c.gossip:
			return addr, nil
		case <-time.After(30 * time.Second):
			return "", errors.New("a node process did not start within 30 s")
		}
	}
	part := o.transfers / o.nodes
	var all []string
	var children []*child
	var join []string
	for i := range o.nodes {
		c, err := start(fmt.Sprintf("node%d", i+1), part, join)
		if err != nil {
			return nil, err
		}
		addr, err := waitGossip(c)
		if err != nil {
			return nil, err
		}
		children = append(children, c)
		join = append(join, addr)
	}
	fmt.Fprintf(w, "started %d node processes in a cluster, %d transfers each\n", o.nodes, part)
	// Kill the first node while it works, then start it again.
	select {
	case <-children[0].third:
	case <-time.After(time.Minute):
	}
	_ = children[0].cmd.Process.Kill()
	all = append(all, <-children[0].done...)
	_ = children[0].cmd.Wait()
	fmt.Fprintf(w, "killed node1 (kill -9) after %d transfers; starting it again\n", len(all))
	again, err := start("node1", part, join[1:])
	if err != nil {
		return nil, err
	}
	if _, err := waitGossip(again); err != nil {
		return nil, err
	}
	children[0] = again
	for _, c := range children {
		all = append(all, <-c.done...)
	}
	ran := 0
	for _, c := range children {
		c.stdin.Close() // a node stops when its stdin closes
		if n := <-c.hosted; n > 0 {
			ran++
		}
		_ = c.cmd.Wait()
	}
	fmt.Fprintf(w, "aggregates ran on %d of %d nodes\n", ran, o.nodes)
	return all, nil
}

// childEnv marks a process started by runNodes.
const childEnv = "GROVE_BANK_NODE"

// cookie authenticates the bank's nodes to one another.
const cookie = "grove-bank-example"

// startGrove starts this process's Grove node and joins the cluster: node
// links and gossip on loopback TCP, a codec with the bank's commands.
func startGrove(ctx context.Context, o options) (*proc.Runtime, *node.Node, *cluster.Cluster, error) {
	name := o.node + "@127.0.0.1"
	rt, err := proc.New(proc.Config{Node: name, Logger: quiet})
	if err != nil {
		return nil, nil, nil, err
	}
	reg, err := codec.NewRegistry(codec.Config{})
	if err == nil {
		err = bank.RegisterTypes(reg)
	}
	if err != nil {
		rt.Close(ctx)
		return nil, nil, nil, err
	}
	nd, err := node.Start(ctx, rt, node.Config{Name: name, Listen: "127.0.0.1:0", Cookie: []byte(cookie), Codec: reg,
		Heartbeat: 100 * time.Millisecond, HeartbeatTimeout: time.Second, Logger: quiet})
	if err != nil {
		rt.Close(ctx)
		return nil, nil, nil, err
	}
	cc := cluster.DefaultLocalConfig()
	cc.Bind, cc.Logger, cc.RejoinInterval = "127.0.0.1:0", quiet, 200*time.Millisecond
	if o.join != "" {
		cc.Seeds = strings.Split(o.join, ",")
	}
	cl, err := cluster.Start(ctx, nd, cc)
	if err != nil {
		nd.Close()
		rt.Close(ctx)
		return nil, nil, nil, err
	}
	return rt, nd, cl, nil
}

// runNode is one node process: a Grove node in the bank's cluster, whose
// aggregates run on the keyed processes of the cluster (each account and
// transfer on one node at a time), on PostgreSQL, with the transfer process
// manager and the balances projection (each on one node at a time),
// dispatching its share of the transfers. It prints "gossip ADDR" once it
// runs, "dispatched ID" per transfer, "done" once they are settled and
// "hosted N" (the aggregates it ran) when its stdin closes; then it leaves.
func runNode(ctx context.Context, w io.Writer, stdin io.Reader, o options) error {
	pg, err := pgstore.Open(ctx, pgstore.Config{URL: o.postgres, Schema: o.schema, Logger: quiet, LeaseTTL: time.Second})
	if err != nil {
		return err
	}
	defer pg.Close()
	rt, nd, cl, err := startGrove(ctx, o)
	if err != nil {
		return err
	}
	defer rt.Close(ctx)
	defer nd.Close()
	defer cl.Close()
	fmt.Fprintln(w, "gossip", cl.GossipAddr())
	// Dispatch once every node is a member, so that the aggregates spread.
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		alive := 0
		for _, m := range cl.Members() {
			if m.State == cluster.StateAlive {
				alive++
			}
		}
		if alive >= o.nodes {
			break
		}
	}
	host, err := eventsourcing.NewClusterHost(cl, eventsourcing.ClusterHostConfig{Store: pg, Types: bank.Types(), Logger: quiet})
	if err != nil {
		return err
	}
	defer host.Close()
	app, err := eventsourcing.New(eventsourcing.Config{Store: pg, Types: bank.Types(), Host: host, Logger: quiet})
	if err != nil {
		return err
	}
	if err := bank.Routes(app); err != nil {
		return err
	}
	pm, err := app.StartProcess(ctx, bank.TransferProcess(eventsourcing.HandlerConfig{Locker: pg, PollInterval: 100 * time.Millisecond}))
	if err != nil {
		return err
	}
	defer pm.Close()
	proj, err := pgprojection.Start(ctx, app, pg, pgprojection.Config{Name: "balances", SingleNode: true, PollInterval: 100 * time.Millisecond},
		bank.PGApply(o.schema))
	if err != nil {
		return err
	}
	defer proj.Close()
	r := rand.New(rand.NewPCG(o.seed, uint64(len(o.node))*7919+uint64(o.node[len(o.node)-1])+uint64(time.Now().UnixNano())))
	prefix := fmt.Sprintf("%s-%d", o.node, time.Now().UnixNano()%1e6)
	var ids []string
	for i := range o.transfers {
		got, err := transfers(ctx, app, r, fmt.Sprintf("%s-%d", prefix, i), o.accounts, 1)
		if err != nil {
			return err
		}
		ids = append(ids, got...)
		fmt.Fprintln(w, "dispatched", got[0])
	}
	if _, _, err := waitSettled(ctx, app, ids, 2*time.Minute); err != nil {
		return err
	}
	fmt.Fprintln(w, "done")
	_, _ = io.Copy(io.Discard, stdin)
	var hosted uint64
	for _, k := range []eventsourcing.Kind{bank.AccountKind, bank.TransferKind} {
		hosted += host.Stats(k.Name).Activated.Load()
	}
	fmt.Fprintln(w, "hosted", hosted)
	leave, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_ = cl.Leave(leave)
	return nil
}

// checkProjection compares the PostgreSQL balances table with the books,
// once the projection has caught up with the store's head.
func checkProjection(ctx context.Context, w io.Writer, pg *pgstore.Store, schema string, books map[string]int64) error {
	head, err := pg.Head(ctx)
	if err != nil {
		return err
	}
	end := time.Now().Add(time.Minute)
	for {
		p, _, err := pg.LoadCheckpoint(ctx, eventsourcing.CheckpointName("balances"))
		if err != nil {
			return err
		}
		if p >= head {
			break
		}
		if time.Now().After(end) {
			return fmt.Errorf("the balances projection is at %d, the store at %d", p, head)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rows, err := pg.Pool().Query(ctx, `SELECT account, balance FROM `+schema+`.balances`)
	if err != nil {
		return err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var a string
		var b int64
		if err := rows.Scan(&a, &b); err != nil {
			return err
		}
		if books[a] != b {
			return fmt.Errorf("the projection has %s at %d, its events say %d", a, b, books[a])
		}
		n++
	}
	if n != len(books) {
		return fmt.Errorf("the projection has %d accounts, the books %d", n, len(books))
	}
	fmt.Fprintln(w, "the balances projection (PostgreSQL, one node at a time) agrees with the events")
	return rows.Err()
}
