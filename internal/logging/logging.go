// Package logging builds the structured JSON logger every component uses.
package logging

import (
	"context"
	"io"
	"log/slog"
	"strings"

	"github.com/sagaflow/sagaflow/internal/requestid"
)

// New returns a JSON logger that stamps every record with the component name
// and, when the context carries one, the request id.
func New(w io.Writer, level, component string) *slog.Logger {
	h := slog.NewJSONHandler(w, &slog.HandlerOptions{Level: ParseLevel(level)})
	return slog.New(contextHandler{Handler: h}).With("component", component)
}

// ParseLevel maps debug/info/warn/error to a slog level; anything else is info.
func ParseLevel(level string) slog.Level {
	switch strings.ToLower(level) {
	case "debug":
		return slog.LevelDebug
	case "warn", "warning":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Discard returns a logger that writes nothing, for tests that do not read logs.
func Discard() *slog.Logger {
	return slog.New(slog.DiscardHandler)
}

type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestid.From(ctx); id != "" {
		r.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextHandler{Handler: h.Handler.WithAttrs(attrs)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{Handler: h.Handler.WithGroup(name)}
}
