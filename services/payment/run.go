package payment

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/postgres"
	"github.com/sagaflow/sagaflow/schema"
)

// Run serves the payment service until ctx is cancelled, then drains and closes the database.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	db, err := postgres.Open(ctx, cfg.DatabaseURL, cfg.DatabaseMaxConns)
	if err != nil {
		return fmt.Errorf("payment database %s: %w", postgres.DatabaseName(cfg.DatabaseURL), err)
	}
	defer db.Close()
	if cfg.MigrateOnStart {
		migrations, err := schema.For("payment")
		if err != nil {
			return err
		}
		if err := postgres.Migrate(ctx, db, migrations); err != nil {
			return fmt.Errorf("payment database: %w", err)
		}
	}
	svc := NewService(db, logger, NewTestProcessor(cfg.ProcessorLatency))
	ready := httpserver.NewReadiness(map[string]httpserver.Check{"postgres": db.PingContext})
	return httpserver.ListenAndServe(ctx, logger, cfg.HTTPAddr, NewHandler(svc, logger, ready), ready, cfg.ShutdownTiming)
}
