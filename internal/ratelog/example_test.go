package ratelog_test

import (
	"log/slog"
	"os"
	"time"

	"github.com/grovedev/grove/internal/ratelog"
)

func Example() {
	now := time.Unix(0, 0)
	log := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	lim := ratelog.New(log, ratelog.Config{Burst: 2, Interval: time.Second, Now: func() time.Time { return now }})
	for range 1000 { // a flood of junk connections
		lim.Warn("junk", "connection refused")
	}
	now = now.Add(time.Second)
	lim.Warn("junk", "connection refused")
	// Output:
	// level=WARN msg="connection refused"
	// level=WARN msg="connection refused"
	// level=WARN msg="connection refused" suppressed=998
}
