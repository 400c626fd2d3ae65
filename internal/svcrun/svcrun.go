// Package svcrun is what every service process shares: the configuration each service
// reads under its own variable prefix, the HTTP handler around its operations, and Run, which
// opens and migrates its database, serves it, sweeps its old idempotency records and
// stops gracefully. A service's config.go, http.go and run.go are thin over it.
package svcrun

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"
	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/schema"
)

// Run serves a service until ctx is cancelled. It opens the service's database (applying
// its migrations first when MigrateOnStart is set), builds the HTTP handler over it,
// sweeps old idempotency records in the background, and on cancellation drains the
// server, stops the sweep and closes the database, in that order.
func Run(ctx context.Context, s Config, logger *slog.Logger, handler func(db *sqlx.DB, ready *httpserver.Readiness) http.Handler) error {
	if err := s.Validate(); err != nil {
		return err
	}
	db, err := schema.Open(ctx, s.Service, s.DatabaseURL, s.DatabaseMaxConns, s.MigrateOnStart)
	if err != nil {
		return err
	}
	defer func() {
		if err := db.Close(); err != nil {
			logger.Warn("close the database pool", "error", err)
		}
	}()

	sweepCtx, stopSweep := context.WithCancel(ctx)
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		idempotency.RunSweeper(sweepCtx, db, s.retention(), logger)
	}()
	// Runs before db.Close: the sweep must not outlive the pool.
	defer func() {
		stopSweep()
		<-swept
	}()

	ready := httpserver.NewReadiness(map[string]httpserver.Check{"postgres": db.PingContext})
	return httpserver.ListenAndServe(ctx, logger, s.HTTPAddr, handler(db, ready), ready, s.ShutdownTiming)
}

// Info identifies a service's API in its OpenAPI document.
type Info struct {
	Title       string
	Version     string
	Description string
}

// Handler returns a service's HTTP handler: the operations register adds, the OpenAPI
// document and docs, and /healthz and /readyz. A nil ready reports ready whenever the
// process answers.
func Handler(info Info, logger *slog.Logger, ready *httpserver.Readiness, register func(huma.API)) http.Handler {
	if ready == nil {
		ready = httpserver.NewReadiness(nil)
	}
	router := httpserver.NewRouter(logger)
	register(httpserver.NewAPI(router, info.Title, info.Version, info.Description))
	httpserver.MountHealth(router, ready)
	return router
}

// Spec returns the OpenAPI document of the operations register adds.
func Spec(info Info, register func(huma.API)) *huma.OpenAPI {
	api := httpserver.NewAPI(chi.NewRouter(), info.Title, info.Version, info.Description)
	register(api)
	return api.OpenAPI()
}
