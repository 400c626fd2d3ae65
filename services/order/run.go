package order

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/svcrun"
)

// Run serves the order service until ctx is cancelled: it migrates its database, serves
// the API to the callers its trusted keys sign for, sweeps old idempotency records, then
// drains and closes (svcrun.Run).
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	return svcrun.Run(ctx, cfg.Config, logger, func(db *sqlx.DB, ready *httpserver.Readiness, guard *auth.Guard) http.Handler {
		return NewGuardedHandler(NewService(db, logger), guard, logger, ready)
	})
}
