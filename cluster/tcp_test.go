package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/grovedev/grove/internal/testutil"
	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport"
)

// TestRealTCP runs three members over loopback TCP sockets: the gossip
// transport works on a real network as on memnet.
func TestRealTCP(t *testing.T) {
	tr := transport.NewTCP(transport.TCPConfig{})
	defer tr.Close()
	type real struct {
		rt *proc.Runtime
		nd *node.Node
		c  *Cluster
	}
	var rs []*real
	stop := func(r *real) {
		r.c.Close()
		r.nd.Close()
		r.rt.Close(context.Background())
	}
	defer func() {
		for _, r := range rs {
			stop(r)
		}
	}()
	for i := range 3 {
		nm := fmt.Sprintf("tcp%d@127.0.0.1", i)
		rt, err := proc.New(proc.Config{Node: nm, Logger: slog.New(slog.DiscardHandler)})
		if err != nil {
			t.Fatal(err)
		}
		nd, err := node.Start(context.Background(), rt, node.Config{
			Name: nm, Listen: "127.0.0.1:0", Cookie: cookie, Transport: tr,
			Heartbeat: 100 * time.Millisecond, HeartbeatTimeout: 500 * time.Millisecond,
			Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		cfg := fastConfig()
		cfg.Bind, cfg.Logger, cfg.SecretKey = "127.0.0.1:0", testLogger(), KeyFromSecret(cookie)
		if i > 0 {
			cfg.Seeds = []string{rs[0].c.GossipAddr()}
		}
		c, err := Start(context.Background(), nd, cfg) // its own TCP transport
		if err != nil {
			t.Fatal(err)
		}
		rs = append(rs, &real{rt, nd, c})
	}
	testutil.Eventually(t, 5*time.Second, func() error {
		for _, r := range rs {
			if got := r.c.Reachable(); len(got) != 3 {
				return fmt.Errorf("%s reaches %v", r.c.Name(), got)
			}
		}
		return nil
	})
	stop(rs[2])
	rs = rs[:2]
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, r := range rs {
			if m, _ := r.c.Member("tcp2@127.0.0.1"); m.State != StateDead {
				return fmt.Errorf("%s sees tcp2 %v", r.c.Name(), m.State)
			}
		}
		return nil
	})
}

func TestConfigValidate(t *testing.T) {
	for _, c := range []Config{DefaultLANConfig(), DefaultWANConfig(), DefaultLocalConfig(), {}} {
		c.Bind = "10.0.0.1:7946"
		if err := c.Validate(); err != nil {
			t.Fatalf("%+v: %v", c, err)
		}
	}
	for name, mod := range map[string]func(*Config){
		"no bind":       func(c *Config) { c.Bind = "" },
		"key length":    func(c *Config) { c.SecretKey = []byte("short") },
		"negative":      func(c *Config) { c.ProbeInterval = -1 },
		"timeout":       func(c *Config) { c.ProbeTimeout = 2 * c.ProbeInterval },
		"small packets": func(c *Config) { c.MaxPacketSize = 100 },
		"suspicion":     func(c *Config) { c.SuspicionMult = 1 },
		"big meta":      func(c *Config) { c.Meta.Zone = string(make([]byte, 512)) },
		"negative int":  func(c *Config) { c.GossipNodes = -2 },
		"default timeout": func(c *Config) {
			c.ProbeInterval, c.ProbeTimeout = 100*time.Millisecond, 0 // default 500 ms
		},
	} {
		c := DefaultLANConfig()
		c.Bind = "10.0.0.1:7946"
		mod(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if len(KeyFromSecret([]byte("x"))) != 32 {
		t.Fatal("key length")
	}
}
