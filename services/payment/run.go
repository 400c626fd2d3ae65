package payment

import (
	"context"
	"log/slog"

	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/schema"
)

// Run serves the payment service until ctx is cancelled, then drains and closes the database.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	db, err := schema.Open(ctx, "payment", cfg.DatabaseURL, cfg.DatabaseMaxConns, cfg.MigrateOnStart)
	if err != nil {
		return err
	}
	defer db.Close()
	svc := NewService(db, logger, NewTestProcessor(cfg.ProcessorLatency))
	ready := httpserver.NewReadiness(map[string]httpserver.Check{"postgres": db.PingContext})
	return httpserver.ListenAndServe(ctx, logger, cfg.HTTPAddr, NewHandler(svc, logger, ready), ready, cfg.ShutdownTiming)
}
