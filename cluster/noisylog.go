package cluster

import (
	"log/slog"

	"github.com/grovedev/grove/internal/ratelog"
)

// limitedLogger logs lines that peers can cause at will (refused
// connections, the protocol library's warnings about bad input) at a rate
// that cannot flood; what it holds back is counted by the caller's Stats.
// Safe for concurrent use.
type limitedLogger interface {
	Log(level slog.Level, key, msg string, attrs ...slog.Attr)
}

var _ limitedLogger = (*ratelog.Limiter)(nil)
