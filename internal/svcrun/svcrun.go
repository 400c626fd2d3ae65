// Package svcrun is what every service process shares: the configuration each service
// reads under its own variable prefix, the HTTP handler around its operations with the
// guard of their callers, and Run, which opens and migrates its database, serves it,
// sweeps its old idempotency records and stops gracefully. A service's config.go, http.go
// and run.go are thin over it.
package svcrun

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"
	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/schema"
)

// Run serves a service until ctx is cancelled. It opens the service's database (applying
// its migrations first when MigrateOnStart is set), builds the HTTP handler over it with
// the guard of its callers (Config.Guard), sweeps old idempotency records in the
// background, and on cancellation drains the server, stops the sweep and closes the
// database, in that order.
func Run(ctx context.Context, s Config, logger *slog.Logger, handler func(db *sqlx.DB, ready *httpserver.Readiness, guard *auth.Guard) http.Handler) error {
	if err := s.Validate(); err != nil {
		return err
	}
	guard, err := s.Guard(logger)
	if err != nil {
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
	return httpserver.ListenAndServe(ctx, logger, s.HTTPAddr, handler(db, ready, guard), ready, s.ShutdownTiming)
}

// Info identifies a service's API in its OpenAPI document.
type Info struct {
	Title       string
	Version     string
	Description string
}

// SchemeDescription describes, in every service's OpenAPI document, the tokens the
// services accept.
const SchemeDescription = "Service token: a JWT the calling component signs with its own key (EdDSA or ES256), " +
	"valid at most 10 minutes. Its kid names the key as <identity>/<version>; iss and sub are that identity, " +
	"aud is this service's name (order, payment or inventory). Each operation lists the identities it accepts; " +
	"any other caller is refused with 401 (no valid token) or 403 (an identity the operation does not accept)."

// Handler returns a service's HTTP handler: the operations register adds, each checked by
// guard before anything else reads the request, the OpenAPI document and docs, and
// /healthz and /readyz. A nil guard refuses every call (ClosedGuard); a nil ready reports
// ready whenever the process answers.
func Handler(info Info, guard *auth.Guard, logger *slog.Logger, ready *httpserver.Readiness, register func(huma.API)) http.Handler {
	if guard == nil {
		guard = ClosedGuard(logger)
	}
	if ready == nil {
		ready = httpserver.NewReadiness(nil)
	}
	router := httpserver.NewRouter(logger)
	api := httpserver.NewGuardedAPI(router, info.Title, info.Version, info.Description, guard.Install)
	auth.Declare(api, SchemeDescription)
	register(api)
	httpserver.MountHealth(router, ready)
	return router
}

// ClosedGuard refuses every call with 401: the guard of a handler given no trusted keys.
func ClosedGuard(logger *slog.Logger) *auth.Guard {
	return auth.NewGuard(trustNobody{}, logger)
}

// trustNobody refuses every token.
type trustNobody struct{}

func (trustNobody) Verify(context.Context, string) (auth.Principal, error) {
	return auth.Principal{}, &auth.TokenError{Reason: auth.ReasonUnknownKey, Err: errors.New("this handler trusts no key")}
}

// Spec returns the OpenAPI document of the operations register adds.
func Spec(info Info, register func(huma.API)) *huma.OpenAPI {
	api := httpserver.NewAPI(chi.NewRouter(), info.Title, info.Version, info.Description)
	auth.Declare(api, SchemeDescription)
	register(api)
	return api.OpenAPI()
}
