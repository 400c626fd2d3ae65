package svcrun_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/svcrun"
	"github.com/sagaflow/sagaflow/test/testenv"
)

func validConfig() svcrun.Config {
	return svcrun.Config{
		Service:                  "order",
		HTTPAddr:                 "127.0.0.1:0",
		DatabaseURL:              "postgres://u@h/db",
		DatabaseMaxConns:         20,
		MigrateOnStart:           true,
		IdempotencyRetention:     idempotency.DefaultRetention,
		IdempotencySweepInterval: idempotency.DefaultSweepInterval,
		IdempotencySweepBatch:    idempotency.DefaultSweepBatch,
		ShutdownTiming:           httpserver.ShutdownTiming{DrainDelay: 0, Timeout: 5 * time.Second},
	}
}

// freeAddr returns a loopback address nothing listens on (for a moment).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	// The address must be free again for the caller.
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// TestRun starts a service on an empty database: Run migrates it, serves the handler and
// readiness, and returns cleanly once its context is cancelled.
func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(*svcrun.Config)
		wantErr string // "" means the service serves until cancelled
	}{
		{name: "serves and stops", mutate: func(*svcrun.Config) {}},
		{name: "invalid settings stop it before the database", mutate: func(s *svcrun.Config) { s.DatabaseURL = "" }, wantErr: "ORDER_DATABASE_URL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validConfig()
			s.DatabaseURL = testenv.Database(t)
			s.HTTPAddr = freeAddr(t)
			tc.mutate(&s)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			served := make(chan *sqlx.DB, 1)
			errc := make(chan error, 1)
			go func() {
				errc <- svcrun.Run(ctx, s, logging.Discard(), func(db *sqlx.DB, ready *httpserver.Readiness) http.Handler {
					served <- db
					return svcrun.Handler(svcrun.Info{Title: "test", Version: "1"}, logging.Discard(), ready, func(api huma.API) {
						huma.Get(api, "/ping", func(context.Context, *struct{}) (*struct{}, error) { return nil, nil })
					})
				})
			}()
			if tc.wantErr != "" {
				if err := <-errc; err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Run = %v, want an error naming %s", err, tc.wantErr)
				}
				return
			}

			var db *sqlx.DB
			select {
			case db = <-served:
			case err := <-errc:
				t.Fatalf("Run ended before serving: %v", err)
			case <-time.After(30 * time.Second):
				t.Fatal("Run did not build its handler")
			}
			var column bool
			if err := db.Get(&column, `SELECT EXISTS (SELECT 1 FROM information_schema.columns
				WHERE table_name = 'idempotency_keys' AND column_name = 'replayed_at')`); err != nil || !column {
				t.Fatalf("the database was not migrated: %v, %v", column, err)
			}
			for _, path := range []string{"/readyz", "/ping"} {
				if status := waitFor(t, "http://"+s.HTTPAddr+path); status/100 != 2 {
					t.Fatalf("GET %s = %d", path, status)
				}
			}

			cancel()
			select {
			case err := <-errc:
				if err != nil && !errors.Is(err, context.Canceled) {
					t.Fatalf("Run = %v after cancel", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("Run did not stop after cancel")
			}
			if err := db.Ping(); err == nil {
				t.Fatal("Run left its database pool open")
			}
		})
	}
}

// waitFor polls url until it answers and returns its status.
func waitFor(t *testing.T, url string) int {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := http.Get(url)
		if err == nil {
			_ = resp.Body.Close() // only the status is read
			return resp.StatusCode
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
