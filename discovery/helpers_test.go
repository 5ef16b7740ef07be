package discovery

import (
	"context"
	"io"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// quietLogger discards the poller's warnings, which tests provoke on purpose.
var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// recorder collects a poller's updates.
type recorder struct {
	mu      sync.Mutex
	updates []Update
}

func (r *recorder) report(u Update) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.updates = append(r.updates, u)
}

func (r *recorder) all() []Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.updates)
}

func (r *recorder) last() Update {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.updates) == 0 {
		return Update{}
	}
	return r.updates[len(r.updates)-1]
}

// ctxT returns a context that ends with the test or after a generous bound.
func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// addrs returns the peers' addresses.
func addrs(ps []Peer) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Addr
	}
	return out
}

func newTestPoller(t *testing.T, s Strategy, cfg PollerConfig) (*Poller, *recorder) {
	t.Helper()
	rec := &recorder{}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Hour // tests drive polls with Refresh or a manual clock
	}
	p, err := NewPoller(s, rec.report, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p, rec
}

func writeFile(name, content string) error { return os.WriteFile(name, []byte(content), 0o600) }
