package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/grovedev/grove/agent"
	"github.com/grovedev/grove/cmd/grove/internal/nodeproc"
)

// names shows the cluster-wide registry, the distributed supervisor, a
// singleton and keyed processes across three node processes, through a
// kill -9 and a graceful stop.
func (d *demo) names(ctx context.Context, grove string) error {
	d.title("8. Names, children and a singleton outlive their node; keyed processes start on demand")
	key := make([]byte, 16)
	rand.Read(key)
	cookie := hex.EncodeToString(key)
	names := []string{"sup1@127.0.0.1", "sup2@127.0.0.1", "sup3@127.0.0.1"}
	nodes := make([]*nodeproc.Proc, 3)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.Kill()
			}
		}
	}()
	var err error
	if nodes[0], err = startNode(ctx, grove, names[0], cookie); err != nil {
		return err
	}
	for i := 1; i < 3; i++ {
		if nodes[i], err = startNode(ctx, grove, names[i], cookie, nodes[0].Addr); err != nil {
			return err
		}
	}
	byName := map[string]*nodeproc.Proc{}
	for i, n := range nodes {
		byName[names[i]] = n
	}
	if err := d.pollFor(ctx, 30*time.Second, func() bool {
		for _, n := range nodes {
			var st agent.ChildrenStatus
			if getJSON(n, "/v1/children", &st) != nil || !st.Complete || len(st.Members) != 3 {
				return false
			}
		}
		return true
	}); err != nil {
		return fmt.Errorf("demo: the supervisors did not find each other: %w", err)
	}

	// A name registered on one node is a destination on every node.
	t0 := time.Now()
	if err := send(nodes[0], "PUT", "/v1/names/session:42", ""); err != nil {
		return err
	}
	if err := d.poll(ctx, func() bool {
		var e agent.NameEntry
		return getJSON(nodes[2], "/v1/names/session:42", &e) == nil && e.Node == names[0]
	}); err != nil {
		return fmt.Errorf("demo: the name did not spread: %w", err)
	}
	d.say("session:42, registered on sup1 (no lock, no round trip), resolves on sup3 %v later", time.Since(t0).Round(time.Microsecond))
	if err := send(nodes[1], "PUT", "/v1/names/session:42", ""); err != nil && strings.Contains(err.Error(), "409") {
		d.say("registering it again on sup2: refused (409 Conflict), the name is taken cluster-wide")
	}

	// A thousand children, spread by consistent hashing with bounded load.
	t0 = time.Now()
	var started agent.StartedChildren
	if err := postJSON(nodes[0], "/v1/children?count=1000&prefix=job-", &started); err != nil {
		return err
	}
	if started.Started != 1000 {
		return fmt.Errorf("demo: %d of 1000 children started: %v", started.Started, started.Errors)
	}
	var st agent.ChildrenStatus
	if err := getJSON(nodes[2], "/v1/children", &st); err != nil {
		return err
	}
	d.say("1000 children started from sup1 in %v, each acknowledged once a majority had its record: %s",
		time.Since(t0).Round(time.Millisecond), perNode(st.Nodes, names))

	// The singleton, and a keyed process reached from two nodes.
	var single agent.WorkerReply
	for range 3 {
		if err := getJSON(nodes[1], "/v1/singleton", &single); err != nil {
			return err
		}
	}
	d.say("the singleton runs on %s (called %d times from sup2)", single.Node, single.Calls)
	var ent agent.WorkerReply
	for _, n := range []*nodeproc.Proc{nodes[1], nodes[2], nodes[0]} {
		if err := postJSON(n, "/v1/entities/user:7", &ent); err != nil {
			return err
		}
	}
	d.say("user:7's keyed process started on its first message, on %s; three calls from three nodes reached it (count %d)", ent.Node, ent.Calls)

	// kill -9 the singleton's node.
	victimName := single.Node
	victim := byName[victimName]
	var survivors []*nodeproc.Proc
	for _, n := range nodes {
		if n != victim {
			survivors = append(survivors, n)
		}
	}
	lost := st.Nodes[victimName]
	killed := time.Now()
	if err := victim.Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-victim.Exited()
	obs := survivors[0]
	if err := d.pollFor(ctx, 30*time.Second, func() bool { return state(obs, victimName) == "dead" }); err != nil {
		return fmt.Errorf("demo: the kill was not declared: %w", err)
	}
	dead := time.Since(killed)
	if err := d.pollFor(ctx, 30*time.Second, func() bool {
		var s agent.ChildrenStatus
		return getJSON(obs, "/v1/children", &s) == nil && s.Active == 1000 && s.Nodes[victimName] == 0
	}); err != nil {
		return fmt.Errorf("demo: the children did not come back: %w", err)
	}
	back := time.Since(killed)
	if err := d.pollFor(ctx, 30*time.Second, func() bool {
		var r agent.WorkerReply
		return getJSON(obs, "/v1/singleton", &r) == nil && r.Node != victimName
	}); err != nil {
		return fmt.Errorf("demo: the singleton did not move: %w", err)
	}
	var moved agent.WorkerReply
	getJSON(obs, "/v1/singleton", &moved)
	var now agent.ChildrenStatus
	getJSON(obs, "/v1/children", &now)
	d.say("kill -9 of %s: declared dead %v after the kill; its %d children ran again on the survivors %v after that verdict (%s); the singleton now runs on %s",
		victimName, dead.Round(time.Millisecond), lost, (back - dead).Round(time.Millisecond), perNode(now.Nodes, names), moved.Node)
	if victimName == names[0] {
		var e agent.NameEntry
		if getJSON(obs, "/v1/names/session:42", &e) != nil || e.Node == "" {
			d.say("session:42 lived on %s: its name vanished with it", victimName)
		}
	}

	// A graceful stop hands everything off, with state.
	leaver, last := survivors[0], survivors[1]
	if moved.Node != nameOf(leaver, byName) {
		leaver, last = survivors[1], survivors[0]
	}
	for range 2 {
		getJSON(last, "/v1/singleton", &moved)
	}
	before := moved.Calls
	t0 = time.Now()
	leaver.Signal(syscall.SIGTERM)
	select {
	case <-leaver.Exited():
	case <-time.After(30 * time.Second):
		return errors.New("demo: a node did not stop on SIGTERM")
	}
	stopped := time.Since(t0)
	var after agent.WorkerReply
	if err := d.pollFor(ctx, 30*time.Second, func() bool {
		return getJSON(last, "/v1/singleton", &after) == nil && after.Node == nameOf(last, byName)
	}); err != nil {
		return fmt.Errorf("demo: the singleton was not handed off: %w", err)
	}
	if err := d.pollFor(ctx, 30*time.Second, func() bool {
		var s agent.ChildrenStatus
		return getJSON(last, "/v1/children", &s) == nil && s.Active == 1000 && len(s.Nodes) == 1
	}); err != nil {
		return fmt.Errorf("demo: the children were not handed off: %w", err)
	}
	d.say("SIGTERM of %s (stopped in %v): its children and the singleton were handed off to %s first; the singleton's count went on from %d to %d",
		nameOf(leaver, byName), stopped.Round(time.Millisecond), nameOf(last, byName), before, after.Calls)
	return nil
}

func nameOf(p *nodeproc.Proc, byName map[string]*nodeproc.Proc) string {
	for n, q := range byName {
		if q == p {
			return n
		}
	}
	return ""
}

func perNode(counts map[string]int, names []string) string {
	var parts []string
	for _, n := range names {
		if c, ok := counts[n]; ok {
			parts = append(parts, fmt.Sprintf("%s %d", strings.SplitN(n, "@", 2)[0], c))
		}
	}
	slices.Sort(parts)
	return strings.Join(parts, ", ")
}

func postJSON(n *nodeproc.Proc, path string, v any) error {
	req, err := http.NewRequest("POST", "http://"+n.Admin+path, nil)
	if err != nil {
		return err
	}
	c := http.Client{Timeout: 2 * time.Minute}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("demo: POST %s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}
