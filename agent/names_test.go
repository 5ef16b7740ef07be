package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
)

// The admin API of the name services across two nodes: a name registered
// on one is found on the other, children started from one are counted on
// the other, the singleton and a keyed process answer from either.
func TestNamesAdminAPI(t *testing.T) {
	a := start(t, "a@127.0.0.1")
	b := start(t, "b@127.0.0.1", a.Node().Addr())
	sa, sb := httptest.NewServer(a.Handler()), httptest.NewServer(b.Handler())
	defer sa.Close()
	defer sb.Close()
	testutil.Eventually(t, 20*time.Second, func() error {
		var st ChildrenStatus
		if err := getJSON(sb.URL+"/v1/children", &st); err != nil {
			return err
		}
		if !st.Complete || len(st.Members) != 2 {
			return fmt.Errorf("children status %+v", st)
		}
		return nil
	})
	if code, body := do(t, "PUT", sa.URL+"/v1/names/session:42", ""); code != http.StatusCreated {
		t.Fatalf("put: %d %s", code, body)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		var e NameEntry
		if err := getJSON(sb.URL+"/v1/names/session:42", &e); err != nil {
			return err
		}
		if e.Node != "a@127.0.0.1" {
			return fmt.Errorf("b finds %+v", e)
		}
		return nil
	})
	if code, body := do(t, "PUT", sb.URL+"/v1/names/session:42", ""); code != http.StatusConflict {
		t.Fatalf("second registration: %d %s", code, body)
	}
	code, body := do(t, "POST", sa.URL+"/v1/children?count=20&prefix=w", "")
	var sc StartedChildren
	if err := json.Unmarshal([]byte(body), &sc); code != http.StatusOK || err != nil || sc.Started != 20 {
		t.Fatalf("start children: %d %s", code, body)
	}
	if code, body := do(t, "POST", sa.URL+"/v1/children?count=0", ""); code != http.StatusBadRequest {
		t.Fatalf("count 0: %d %s", code, body)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		var st ChildrenStatus
		if err := getJSON(sb.URL+"/v1/children", &st); err != nil {
			return err
		}
		// The singleton is a child of its own supervisor, not of this one.
		if st.Active != 20 || st.Nodes["a@127.0.0.1"]+st.Nodes["b@127.0.0.1"] != 20 {
			return fmt.Errorf("b counts %+v", st)
		}
		return nil
	})
	for _, path := range []string{"/v1/children/w3", "/v1/singleton"} {
		testutil.Eventually(t, 10*time.Second, func() error {
			var r WorkerReply
			if err := getJSON(sb.URL+path, &r); err != nil {
				return err
			}
			if r.Calls < 1 || r.Node == "" {
				return fmt.Errorf("%s answered %+v", path, r)
			}
			return nil
		})
	}
	for range 2 {
		if code, body := do(t, "POST", sb.URL+"/v1/entities/device:9", ""); code != http.StatusOK {
			t.Fatalf("entity: %d %s", code, body)
		}
	}
	_, body = do(t, "POST", sa.URL+"/v1/entities/device:9", "")
	var r WorkerReply
	if err := json.Unmarshal([]byte(body), &r); err != nil || r.Calls != 3 {
		t.Fatalf("the keyed process answered %s", body)
	}
	if code, _ := do(t, "DELETE", sb.URL+"/v1/children/w3", ""); code != http.StatusNoContent {
		t.Fatalf("terminate: %d", code)
	}
	if code, _ := do(t, "GET", sa.URL+"/v1/children/nobody", ""); code != http.StatusNotFound {
		t.Fatalf("missing child: %d", code)
	}
}
