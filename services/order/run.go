package order

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/svcrun"
)

// Run serves the order service until ctx is cancelled: it migrates its database, serves
// the API, sweeps old idempotency records, then drains and closes (svcrun.Run).
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	return svcrun.Run(ctx, cfg.Config, logger, func(db *sqlx.DB, ready *httpserver.Readiness) http.Handler {
		return NewHandler(NewService(db, logger), logger, ready)
	})
}
