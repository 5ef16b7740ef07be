package resilience

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/grovedev/grove/node"
	"github.com/grovedev/grove/proc"
	"github.com/grovedev/grove/transport/memnet"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// cluster starts nodes on one memory network; the first is connected to
// the others. Each node registers the RPC function "whoami".
func cluster(t *testing.T, names ...string) ([]*node.Node, *memnet.Network) {
	t.Helper()
	nw := memnet.New(memnet.Config{})
	t.Cleanup(func() { nw.Close() })
	quiet := slog.New(slog.DiscardHandler)
	var out []*node.Node
	for _, name := range names {
		rt, err := proc.New(proc.Config{Node: name + "@mem", Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		n, err := node.Start(context.Background(), rt, node.Config{
			Name: name + "@mem", Listen: name + ":1", Cookie: []byte("cookie"), Transport: nw.Endpoint(name),
			Heartbeat: 100 * time.Millisecond, HeartbeatTimeout: time.Second, ConnectTimeout: time.Second,
			Logger: quiet,
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			n.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			rt.Close(ctx)
		})
		self := n.Name()
		n.Register("whoami", func(context.Context, any) (any, error) { return self, nil })
		out = append(out, n)
	}
	for _, o := range out[1:] {
		if err := out[0].Connect(context.Background(), o.Name(), o.Addr()); err != nil {
			t.Fatal(err)
		}
	}
	return out, nw
}

func ctxFor(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
