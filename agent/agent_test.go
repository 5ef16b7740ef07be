package agent

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/spf13/pflag"
	"go.uber.org/goleak"
)

// memberlist's probe of a peer outlives its Shutdown by up to a probe
// interval (it waits for the probe's timer), as in the cluster's own tests.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}

func parse(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	var cfg Config
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	err := LoadEnv(fs, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return cfg, err
}

func TestFlagsAndEnvironment(t *testing.T) {
	cfg, err := parse(t, []string{"--name", "flag@h"}, map[string]string{
		"GROVE_NAME": "env@h", "GROVE_COOKIE": "s", "GROVE_JOIN": "a@h=127.0.0.1:1, 127.0.0.1:2",
		"GROVE_HEARTBEAT": "50ms", "GROVE_REGION": "eu",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Name != "flag@h" || cfg.Cookie != "s" || cfg.Region != "eu" || cfg.Heartbeat != 50*time.Millisecond {
		t.Fatalf("cfg %+v", cfg)
	}
	if len(cfg.Join) != 2 || cfg.Join[1] != "127.0.0.1:2" {
		t.Fatalf("join %q", cfg.Join)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := parse(t, nil, map[string]string{"GROVE_HEARTBEAT": "soon"}); err == nil || !strings.Contains(err.Error(), "GROVE_HEARTBEAT") {
		t.Fatalf("bad env value: %v", err)
	}
}

func TestValidate(t *testing.T) {
	ok := Config{Name: "a@h", Listen: "127.0.0.1:0", Cookie: "c", Admin: DefaultAdmin}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"no name":          func(c *Config) { c.Name = "" },
		"name without @":   func(c *Config) { c.Name = "a" },
		"bad listen":       func(c *Config) { c.Listen = "x" },
		"bad advertise":    func(c *Config) { c.Advertise = "x" },
		"bad admin":        func(c *Config) { c.Admin = "x" },
		"bad join":         func(c *Config) { c.Join = []string{"=1.2.3.4:5"} },
		"join without @":   func(c *Config) { c.Join = []string{"a=1.2.3.4:5"} },
		"no secret":        func(c *Config) { c.Cookie = "" },
		"both cookies":     func(c *Config) { c.CookieFile = "/x" },
		"partial TLS":      func(c *Config) { c.TLSCert = "c.pem" },
		"negative timeout": func(c *Config) { c.ShutdownTTL = -1 },
	} {
		c := ok
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestCookieFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "cookie")
	os.WriteFile(f, []byte("  s3cret\n"), 0o600)
	c := Config{CookieFile: f}
	if s, err := c.secret(); err != nil || string(s) != "s3cret" {
		t.Fatalf("secret %q %v", s, err)
	}
	os.WriteFile(f, []byte("\n"), 0o600)
	if _, err := c.secret(); err == nil {
		t.Fatal("empty cookie file accepted")
	}
}

func start(t *testing.T, name string, join ...string) *Agent {
	t.Helper()
	a, err := Start(context.Background(), Config{
		Name: name, Listen: "127.0.0.1:0", Admin: "127.0.0.1:0", Cookie: "c", Join: join,
		Heartbeat: 50 * time.Millisecond, ShutdownTTL: 5 * time.Second,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	return a
}

func TestAdminAPI(t *testing.T) {
	seed := start(t, "seed@127.0.0.1")
	joiner := start(t, "j@127.0.0.1", seed.Node().Addr())
	srv := httptest.NewServer(seed.Handler())
	defer srv.Close()
	testutil.Eventually(t, 5*time.Second, func() error {
		var ms []Member
		if err := getJSON(srv.URL+"/v1/members", &ms); err != nil {
			return err
		}
		if len(ms) != 2 || ms[0].Name != "j@127.0.0.1" || ms[0].State != "alive" {
			return errorf("members %+v", ms)
		}
		return nil
	})
	var st Status
	if err := getJSON(srv.URL+"/v1/status", &st); err != nil || st.Name != "seed@127.0.0.1" || !st.Ready || st.Connected != 1 {
		t.Fatalf("status %+v %v", st, err)
	}
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `grove_connected_nodes{node="seed@127.0.0.1"} 1`) {
		t.Fatalf("metrics:\n%s", body)
	}
	joiner.Close(context.Background())
	testutil.Eventually(t, 5*time.Second, func() error {
		var ms []Member
		if err := getJSON(srv.URL+"/v1/members", &ms); err != nil {
			return err
		}
		if ms[0].State != "left" {
			return errorf("after the joiner stopped: %+v", ms)
		}
		return nil
	})
	// A stopping node is unhealthy and unready.
	seed.Close(context.Background())
	for _, p := range []string{"/healthz", "/readyz"} {
		rec := httptest.NewRecorder()
		seed.Handler().ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		if rec.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s after close: %d", p, rec.Code)
		}
	}
}

func getJSON(url string, v any) error {
	resp, err := http.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return json.NewDecoder(resp.Body).Decode(v)
}

var errorf = testutil.Errorf

func TestDiscoveryJoinsPeersAndSkipsItself(t *testing.T) {
	seed := start(t, "seed@127.0.0.1")
	a, err := Start(context.Background(), Config{
		Name: "d@127.0.0.1", Listen: "127.0.0.1:0", Cookie: "c",
		Discovery: "static:" + seed.Node().Addr(), DiscoveryEvery: 50 * time.Millisecond,
		ShutdownTTL: 5 * time.Second,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	testutil.Eventually(t, 5*time.Second, func() error {
		if !a.ready.Load() || len(seed.Node().Nodes()) != 1 {
			return errorf("ready %v, seed linked to %v", a.ready.Load(), seed.Node().Nodes())
		}
		return nil
	})
	// A discovered address that is the node's own leads nowhere.
	if _, err := seed.Node().ConnectAddr(context.Background(), seed.Node().Addr()); err == nil {
		t.Fatal("a node connected to itself")
	}
}

func TestBadDiscoverySpec(t *testing.T) {
	c := Config{Name: "a@h", Listen: "127.0.0.1:0", Cookie: "c", Discovery: "carrier-pigeon:x"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "--discovery") {
		t.Fatalf("validate: %v", err)
	}
}

func TestResolveFillsHostParts(t *testing.T) {
	host := func() (string, error) { return "pod-7", nil }
	lookup := func(h string) ([]string, error) {
		if h != "pod-7" {
			t.Fatalf("looked up %q", h)
		}
		return []string{"10.1.2.3"}, nil
	}
	c := Config{Name: "grove@", Listen: "0.0.0.0:4370"}
	if err := c.Resolve(host, lookup); err != nil {
		t.Fatal(err)
	}
	if c.Name != "grove@pod-7" || c.Advertise != "10.1.2.3:4370" {
		t.Fatalf("resolved %+v", c)
	}
	// Given values are kept.
	c = Config{Name: "a@h", Listen: "0.0.0.0:4370", Advertise: "h:4370"}
	if err := c.Resolve(host, lookup); err != nil || c.Name != "a@h" || c.Advertise != "h:4370" {
		t.Fatalf("kept %+v %v", c, err)
	}
	// A loopback listener advertises itself.
	c = Config{Name: "a@h", Listen: "127.0.0.1:4370"}
	if err := c.Resolve(host, lookup); err != nil || c.Advertise != "" {
		t.Fatalf("loopback %+v %v", c, err)
	}
}
