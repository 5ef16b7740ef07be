package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
)

func do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The admin API of the services: a presence tracked on one node is listed
// on the other, a broadcast on one arrives in the other's event stream, and
// the counters show in /metrics.
func TestServicesAdminAPI(t *testing.T) {
	a := start(t, "a@127.0.0.1")
	b := start(t, "b@127.0.0.1", a.Node().Addr())
	sa, sb := httptest.NewServer(a.Handler()), httptest.NewServer(b.Handler())
	defer sa.Close()
	defer sb.Close()
	testutil.Eventually(t, 10*time.Second, func() error {
		if len(a.PubSub().Nodes()) != 1 || len(b.Presence().Nodes()) != 1 {
			return errorf("services not connected yet")
		}
		return nil
	})
	if code, body := do(t, "PUT", sa.URL+"/v1/presence/room/ann", `{"status":"online"}`); code != http.StatusCreated {
		t.Fatalf("put: %d %s", code, body)
	}
	if code, _ := do(t, "PUT", sa.URL+"/v1/presence/room/ann", `{"status":"away"}`); code != http.StatusOK {
		t.Fatalf("update: %d", code)
	}
	if code, _ := do(t, "PUT", sa.URL+"/v1/presence/room/bad", `{not json`); code != http.StatusBadRequest {
		t.Fatalf("bad metadata: %d", code)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		var es []PresenceEntry
		if err := getJSON(sb.URL+"/v1/presence/room", &es); err != nil {
			return err
		}
		if len(es) != 1 || es[0].Key != "ann" || es[0].Node != "a@127.0.0.1" {
			return errorf("b lists %+v", es)
		}
		if m, _ := json.Marshal(es[0].Meta); string(m) != `{"status":"away"}` {
			return errorf("meta %s", m)
		}
		return nil
	})

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", sb.URL+"/v1/pubsub/room/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events := make(chan string, 10)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				events <- d
			}
		}
		close(events)
	}()
	testutil.Eventually(t, 10*time.Second, func() error {
		if b.PubSub().Subscribers("room") != 1 {
			return errorf("stream not subscribed yet")
		}
		return nil
	})
	if code, body := do(t, "POST", sa.URL+"/v1/pubsub/room", "hello"); code != http.StatusOK || !strings.Contains(body, "b@127.0.0.1") {
		t.Fatalf("broadcast: %d %s", code, body)
	}
	var ev StreamEvent
	select {
	case d := <-events:
		json.Unmarshal([]byte(d), &ev)
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
	if ev.Payload != "hello" || ev.Origin != "a@127.0.0.1" {
		t.Fatalf("event %+v", ev)
	}
	if code, _ := do(t, "DELETE", sa.URL+"/v1/presence/room/ann", ""); code != http.StatusNoContent {
		t.Fatalf("delete: %d", code)
	}
	select { // the leave arrives in the stream as a presence diff
	case d := <-events:
		json.Unmarshal([]byte(d), &ev)
		if len(ev.Leaves) != 1 || ev.Leaves[0].Key != "ann" {
			t.Fatalf("diff %s", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no diff")
	}
	if code, _ := do(t, "DELETE", sa.URL+"/v1/presence/room/ann", ""); code != http.StatusNotFound {
		t.Fatalf("second delete: %d", code)
	}
	_, body := do(t, "GET", sa.URL+"/metrics", "")
	if !strings.Contains(body, `grove_pubsub_frames_sent_total{node="a@127.0.0.1"} 1`) {
		t.Fatalf("metrics:\n%s", body)
	}
	cancel()
}
