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
// processes, through a frozen node and a killed one.
func (d *demo) presence(ctx context.Context, grove string) error {
	d.title("7. Presence and broadcasts across node processes survive a freeze and a kill")
	key := make([]byte, 16)
	rand.Read(key)
	cookie := hex.EncodeToString(key)
	names := []string{"chat1@127.0.0.1", "chat2@127.0.0.1", "chat3@127.0.0.1"}
	users := []string{"ann", "bob", "cat"}
	nodes := make([]*nodeproc.Proc, 3)
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.Signal(syscall.SIGCONT)
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
	if err := d.poll(ctx, func() bool {
		for _, n := range nodes {
			var st struct{ Nodes []string }
			if getJSON(n, "/v1/pubsub", &st) != nil || len(st.Nodes) != 2 {
				return false
			}
		}
		return true
	}); err != nil {
		return fmt.Errorf("demo: the PubSubs did not find each other: %w", err)
	}
	for i, u := range users {
		if err := send(nodes[i], "PUT", "/v1/presence/room:lobby/"+u, `{"status":"online"}`); err != nil {
			return err
		}
	}
	tracked := time.Now()
	if err := d.poll(ctx, func() bool { return slices.Equal(present(nodes[0]), users) && slices.Equal(present(nodes[2]), users) }); err != nil {
		return fmt.Errorf("demo: presences did not spread: %w", err)
	}
	d.say("ann is tracked on chat1, bob on chat2, cat on chat3; every node lists %v (%v)", users, time.Since(tracked).Round(time.Millisecond))

	streamCtx, stopStreams := context.WithCancel(ctx)
	defer stopStreams()
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

	// A frozen node: its links go silent until the heartbeat times out.
	if err := nodes[1].Signal(syscall.SIGSTOP); err != nil {
		return err
	}
	frozen := time.Now()
	if err := d.pollFor(ctx, 30*time.Second, func() bool {
		return !slices.Contains(present(nodes[0]), "bob") && !slices.Contains(present(nodes[2]), "bob")
	}); err != nil {
		return fmt.Errorf("demo: bob stayed listed while chat2 was frozen: %w", err)
	}
	d.say("chat2 frozen (SIGSTOP): chat1 and chat3 dropped bob %v later, and chat3's subscriber got the leave", time.Since(frozen).Round(time.Millisecond))
	if _, err := next(ctx, on3, "presence"); err != nil {
		return err
	}
	if err := send(nodes[0], "POST", "/v1/pubsub/room:lobby", "chat2 is gone, we go on"); err != nil {
		return err
	}
	if ev, err := next(ctx, on3, "message"); err != nil {
		return err
	} else {
		d.say("broadcasts between chat1 and chat3 go on: chat3 got %q", ev.Payload)
	}
	if err := nodes[1].Signal(syscall.SIGCONT); err != nil {
		return err
	}
	thawed := time.Now()
	if err := d.pollFor(ctx, 60*time.Second, func() bool {
		return slices.Equal(present(nodes[0]), users) && slices.Equal(present(nodes[2]), users)
	}); err != nil {
		return fmt.Errorf("demo: bob did not come back: %w", err)
	}
	d.say("chat2 thawed (SIGCONT): bob is listed everywhere again %v later, from chat2's full report", time.Since(thawed).Round(time.Millisecond))

	// A killed node, restarted under the same name.
	if err := nodes[2].Signal(syscall.SIGKILL); err != nil {
		return err
	}
	<-nodes[2].Exited()
	killed := time.Now()
	if err := d.pollFor(ctx, 30*time.Second, func() bool { return !slices.Contains(present(nodes[0]), "cat") }); err != nil {
		return fmt.Errorf("demo: cat stayed listed after chat3 died: %w", err)
	}
	d.say("kill -9 of chat3: chat1 dropped cat %v later (the link died with the process)", time.Since(killed).Round(time.Millisecond))
	if nodes[2], err = startNode(ctx, grove, names[2], cookie, nodes[0].Addr); err != nil {
		return err
	}
	if err := send(nodes[2], "PUT", "/v1/presence/room:lobby/dan", `{"status":"online"}`); err != nil {
		return err
	}
	want := []string{"ann", "bob", "dan"}
	if err := d.pollFor(ctx, 30*time.Second, func() bool { return slices.Equal(present(nodes[0]), want) }); err != nil {
		return fmt.Errorf("demo: the restarted chat3 did not come back: %w (chat1 lists %v)", err, present(nodes[0]))
	}
	d.say("chat3 restarted under the same name with dan: chat1 lists %v, no zombie cat from chat3's earlier life", present(nodes[0]))
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
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return ev, fmt.Errorf("demo: the stream ended before a %s event", kind)
			}
			if ev.kind == kind {
				return ev, nil
			}
		case <-timeout:
			return event{}, fmt.Errorf("demo: no %s event within 30s", kind)
		case <-ctx.Done():
			return event{}, ctx.Err()
		}
	}
}
