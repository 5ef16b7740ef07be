package demo

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/grovedev/grove/agent"
	"github.com/grovedev/grove/cmd/grove/internal/nodeproc"
)

// presence shows a chat room's presences and broadcasts across three node
// processes, through a real partition (each side's transport cuts the
// other off: --fault-injection) and a kill -9.
func (d *demo) presence(ctx context.Context, grove string) error {
	d.title("7. Presence and broadcasts across node processes survive a partition and a kill")
	key := make([]byte, 16)
	rand.Read(key)
	cookie := hex.EncodeToString(key)
	names := []string{"chat1@127.0.0.1", "chat2@127.0.0.1", "chat3@127.0.0.1"}
	users := []string{"ann", "bob", "cat"}
	nodes := make([]*nodeproc.Proc, 3)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.Kill()
			}
		}
	}()
	var err error
	if nodes[0], err = startNode(ctx, grove, names[0], cookie, faultInjection); err != nil {
		return err
	}
	for i := 1; i < 3; i++ {
		if nodes[i], err = startNode(ctx, grove, names[i], cookie, faultInjection, nodes[0].Addr); err != nil {
			return err
		}
	}
	if err := d.poll(ctx, func() bool {
		for _, n := range nodes {
			var st struct{ Nodes []string }
			if getJSON(n, "/v1/pubsub", &st) != nil || len(st.Nodes) != 2 {
				return false
			}
			for _, m := range names {
				if state(n, m) != "alive" {
					return false
				}
			}
		}
		return true
	}); err != nil {
		return fmt.Errorf("demo: the nodes did not find each other: %w", err)
	}
	for i, u := range users {
		if err := send(nodes[i], "PUT", "/v1/presence/room:lobby/"+u, `{"status":"online"}`); err != nil {
			return err
		}
	}
	tracked := time.Now()
	if err := d.poll(ctx, func() bool {
		return slices.Equal(present(nodes[0]), users) && slices.Equal(present(nodes[1]), users) && slices.Equal(present(nodes[2]), users)
	}); err != nil {
		return fmt.Errorf("demo: presences did not spread: %w", err)
	}
	d.say("ann is tracked on chat1, bob on chat2, cat on chat3; every node lists %v (%v)", users, time.Since(tracked).Round(time.Millisecond))

	streamCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
	on2, err := stream(streamCtx, nodes[1], "room:lobby")
	if err != nil {
		return err
	}
	on3, err := stream(streamCtx, nodes[2], "room:lobby")
	if err != nil {
		return err
	}
	sent := time.Now()
	if err := send(nodes[0], "POST", "/v1/pubsub/room:lobby", "hello from chat1"); err != nil {
		return err
	}
	if ev, err := next(ctx, on3, "message"); err != nil {
		return err
	} else {
		d.say("chat3's subscriber got %q %v after chat1 broadcast it (one frame per node, fanned out there)", ev.Payload, time.Since(sent).Round(time.Microsecond))
	}
	if _, err := next(ctx, on2, "message"); err != nil {
		return err
	}

	// A partition: chat2 on one side, chat1 and chat3 on the other. Each
	// node's transport drops its traffic with the other side (node links
	// and gossip); the processes keep running.
	cut := time.Now()
	for _, pair := range [][2]int{{1, 0}, {1, 2}, {0, 1}, {2, 1}} {
		if err := send(nodes[pair[0]], "PUT", "/v1/faults/block/"+names[pair[1]], ""); err != nil {
			return err
		}
	}
	if err := d.pollFor(ctx, 30*time.Second, func() bool {
		return slices.Equal(present(nodes[0]), []string{"ann", "cat"}) && slices.Equal(present(nodes[2]), []string{"ann", "cat"}) &&
			slices.Equal(present(nodes[1]), []string{"bob"})
	}); err != nil {
		return fmt.Errorf("demo: the partition did not show: %w (chat1 %v, chat2 %v)", err, present(nodes[0]), present(nodes[1]))
	}
	d.say("partition {chat1, chat3} | {chat2} (each side's transport drops the other's traffic): %v later chat1 and chat3 dropped bob, and chat2 lists only %v",
		time.Since(cut).Round(time.Millisecond), present(nodes[1]))
	if _, err := nextWith(ctx, on3, "presence", func(ev event) bool { return hasKey(ev.Leaves, "bob") }); err != nil {
		return err
	}
	for left := map[string]bool{}; !left["ann"] || !left["cat"]; {
		ev, err := nextWith(ctx, on2, "presence", func(ev event) bool { return len(ev.Leaves) > 0 })
		if err != nil {
			return fmt.Errorf("demo: chat2's subscriber did not get the leaves of ann and cat: %w", err)
		}
		for _, l := range ev.Leaves {
			left[l.Key] = true
		}
	}
	d.say("chat3's subscriber got bob's leave; chat2's got the leaves of ann and cat")

	// Changes on both sides while they cannot hear each other.
	if err := send(nodes[0], "PUT", "/v1/presence/room:lobby/dan", `{"status":"online"}`); err != nil {
		return err
	}
	if err := send(nodes[0], "PUT", "/v1/presence/room:lobby/ann", `{"status":"away"}`); err != nil {
		return err
	}
	if err := send(nodes[1], "PUT", "/v1/presence/room:lobby/bob", `{"status":"busy"}`); err != nil {
		return err
	}
	if err := send(nodes[0], "POST", "/v1/pubsub/room:lobby", "chat2 is cut off, we go on"); err != nil {
		return err
	}
	if ev, err := next(ctx, on3, "message"); err != nil {
		return err
	} else {
		d.say("while cut off: dan joins and ann goes away on chat1, bob goes busy on chat2; chat3 still gets chat1's broadcasts: %q", ev.Payload)
	}

	healed := time.Now()
	for i := range nodes {
		if err := send(nodes[i], "DELETE", "/v1/faults", ""); err != nil {
			return err
		}
	}
	all := []string{"ann", "bob", "cat", "dan"}
	if err := d.pollFor(ctx, 60*time.Second, func() bool {
		for _, n := range nodes {
			if !slices.Equal(present(n), all) || meta(n, "bob") != "busy" || meta(n, "ann") != "away" {
				return false
			}
		}
		return true
	}); err != nil {
		return fmt.Errorf("demo: the partition did not heal: %w (chat1 %v, chat2 %v)", err, present(nodes[0]), present(nodes[1]))
	}
	d.say("healed: %v later bob is listed everywhere again and every node lists %v with the metadata set on either side", time.Since(healed).Round(time.Millisecond), all)
	var missed []string
	annStatus := ""
	for len(missed) < 3 {
		ev, err := nextWith(ctx, on2, "presence", func(ev event) bool {
			return hasKey(ev.Joins, "ann") || hasKey(ev.Joins, "cat") || hasKey(ev.Joins, "dan")
		})
		if err != nil {
			return fmt.Errorf("demo: chat2's subscriber lacks the diffs it missed (got %v): %w", missed, err)
		}
		for _, j := range ev.Joins {
			if !slices.Contains(missed, j.Key) {
				missed = append(missed, j.Key)
			}
			if m, ok := j.Meta.(map[string]any); ok && j.Key == "ann" {
				annStatus, _ = m["status"].(string)
			}
		}
	}
	slices.Sort(missed)
	d.say("chat2's subscriber got the diffs it missed while cut off: joins of %v (ann as %s)", missed, annStatus)
	if _, err := nextWith(ctx, on3, "presence", func(ev event) bool { return hasKey(ev.Joins, "bob") }); err != nil {
		return err
	}
	if err := d.poll(ctx, func() bool {
		return send(nodes[0], "POST", "/v1/pubsub/room:lobby", "welcome back chat2") == nil
	}); err != nil {
		return err
	}
	if ev, err := next(ctx, on2, "message"); err != nil {
		return err
	} else {
		d.say("chat3's subscriber got bob's join (busy), and chat1's broadcasts reach chat2 again: %q", ev.Payload)
	}

	// A killed node, restarted under the same name.
	if err := nodes[2].Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-nodes[2].Exited()
	killed := time.Now()
	if err := d.pollFor(ctx, 30*time.Second, func() bool {
		return !slices.Contains(present(nodes[0]), "cat") && !slices.Contains(present(nodes[1]), "cat")
	}); err != nil {
		return fmt.Errorf("demo: cat stayed listed after chat3 died: %w", err)
	}
	d.say("kill -9 of chat3: chat1 and chat2 dropped cat %v later (the links died with the process)", time.Since(killed).Round(time.Millisecond))
	if _, err := nextWith(ctx, on2, "presence", func(ev event) bool { return hasKey(ev.Leaves, "cat") }); err != nil {
		return err
	}
	if nodes[2], err = startNode(ctx, grove, names[2], cookie, faultInjection, nodes[0].Addr); err != nil {
		return err
	}
	if err := send(nodes[2], "PUT", "/v1/presence/room:lobby/eve", `{"status":"online"}`); err != nil {
		return err
	}
	want := []string{"ann", "bob", "dan", "eve"}
	if err := d.pollFor(ctx, 30*time.Second, func() bool { return slices.Equal(present(nodes[0]), want) }); err != nil {
		return fmt.Errorf("demo: the restarted chat3 did not come back: %w (chat1 lists %v)", err, present(nodes[0]))
	}
	d.say("chat3 restarted under the same name with eve: chat1 lists %v, no zombie cat from chat3's earlier life", present(nodes[0]))
	on1, err := stream(streamCtx, nodes[0], "room:lobby")
	if err != nil {
		return err
	}
	if err := send(nodes[2], "POST", "/v1/pubsub/room:lobby", "chat3 is back"); err != nil {
		return err
	}
	if ev, err := next(ctx, on1, "message"); err != nil {
		return err
	} else {
		d.say("and its broadcasts reach chat1 again: %q", ev.Payload)
	}
	stopStreams()
	for _, n := range nodes {
		n.Signal(syscall.SIGTERM)
	}
	for _, n := range nodes {
		select {
		case <-n.Exited():
		case <-time.After(15 * time.Second):
			return fmt.Errorf("demo: a chat node did not stop on SIGTERM")
		}
	}
	return nil
}

// faultInjection is the flag that lets the demo partition its nodes.
const faultInjection = "--fault-injection"

func hasKey(es []agent.PresenceEntry, key string) bool {
	return slices.ContainsFunc(es, func(e agent.PresenceEntry) bool { return e.Key == key })
}

// meta returns the status in key's metadata as n lists it.
func meta(n *nodeproc.Proc, key string) string {
	var es []agent.PresenceEntry
	if getJSON(n, "/v1/presence/room:lobby", &es) != nil {
		return ""
	}
	for _, e := range es {
		if e.Key == key {
			if m, ok := e.Meta.(map[string]any); ok {
				s, _ := m["status"].(string)
				return s
			}
		}
	}
	return ""
}

var adminClient = http.Client{Timeout: 2 * time.Second}

func getJSON(n *nodeproc.Proc, path string, v any) error {
	resp, err := adminClient.Get("http://" + n.Admin + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

func send(n *nodeproc.Proc, method, path, body string) error {
	req, err := http.NewRequest(method, "http://"+n.Admin+path, strings.NewReader(body))
	if err != nil {
		return err
	}
	resp, err := adminClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("demo: %s %s: %s %s", method, path, resp.Status, b)
	}
	return nil
}

// present returns the keys a node lists in the room, sorted.
func present(n *nodeproc.Proc) []string {
	var es []agent.PresenceEntry
	if getJSON(n, "/v1/presence/room:lobby", &es) != nil {
		return nil
	}
	var out []string
	for _, e := range es {
		out = append(out, e.Key)
	}
	slices.Sort(out)
	return out
}

type event struct {
	kind string
	agent.StreamEvent
}

// stream subscribes to a topic through a node's admin API; events arrive
// on the channel until ctx ends.
func stream(ctx context.Context, n *nodeproc.Proc, topic string) (<-chan event, error) {
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+n.Admin+"/v1/pubsub/"+topic+"/stream", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	out := make(chan event, 64)
	ready := make(chan struct{})
	go func() {
		defer resp.Body.Close()
		defer close(out)
		sc := bufio.NewScanner(resp.Body)
		var kind string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == ": subscribed":
				close(ready)
			case strings.HasPrefix(line, "event: "):
				kind = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				ev := event{kind: kind}
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &ev.StreamEvent) == nil {
					select {
					case out <- ev:
					case <-ctx.Done():
						return
					}
				}
			}
		}
	}()
	select {
	case <-ready:
		return out, nil
	case <-time.After(10 * time.Second):
		return nil, fmt.Errorf("demo: the stream of %s did not start", n.Addr)
	}
}

// next returns the next event of kind, skipping others.
func next(ctx context.Context, ch <-chan event, kind string) (event, error) {
	return nextWith(ctx, ch, kind, func(event) bool { return true })
}

// nextWith returns the next event of kind that accept takes, skipping others.
func nextWith(ctx context.Context, ch <-chan event, kind string, accept func(event) bool) (event, error) {
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return ev, fmt.Errorf("demo: the stream ended before a %s event", kind)
			}
			if ev.kind == kind && accept(ev) {
				return ev, nil
			}
		case <-timeout:
			return event{}, fmt.Errorf("demo: no %s event within 30s", kind)
		case <-ctx.Done():
			return event{}, ctx.Err()
		}
	}
}
