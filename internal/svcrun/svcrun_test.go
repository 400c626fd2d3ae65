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

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/svcrun"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testkeys"
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
// readiness with the guard of its callers, and returns cleanly once its context is cancelled.
func TestRun(t *testing.T) {
	keys := testkeys.New(t)
	adminToken, err := keys.Signer(auth.IdentityAdmin).Token("order")
	if err != nil {
		t.Fatal(err)
	}
	apiToken, err := keys.Signer(auth.IdentityAPI).Token("order")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		mutate  func(*svcrun.Config)
		wantErr string // "" means the service serves until cancelled
		// Status of GET /admin-only (accepting the admin identity) by token; "" is none.
		want    map[string]int
		warning bool // the log warns that authentication is off
	}{
		{name: "serves its callers and stops", mutate: func(*svcrun.Config) {},
			want: map[string]int{"": http.StatusUnauthorized, "garbage.in.token": http.StatusUnauthorized,
				apiToken: http.StatusForbidden, adminToken: http.StatusNoContent}},
		{name: "insecure serves anyone and says so", mutate: func(s *svcrun.Config) { s.TrustedKeys, s.Insecure = "", true },
			want: map[string]int{"": http.StatusNoContent, apiToken: http.StatusNoContent}, warning: true},
		{name: "invalid settings stop it before the database", mutate: func(s *svcrun.Config) { s.DatabaseURL = "" }, wantErr: "ORDER_DATABASE_URL"},
		{name: "no trusted keys stop it", mutate: func(s *svcrun.Config) { s.TrustedKeys = "" }, wantErr: "SERVICE_AUTH_TRUSTED_KEYS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := validConfig()
			s.DatabaseURL = testenv.Database(t)
			s.HTTPAddr = freeAddr(t)
			s.TrustedKeys = string(keys.Trusted)
			tc.mutate(&s)
			logs := &testenv.LogBuffer{}
			logger := logging.New(logs, "info", "order")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			served := make(chan *sqlx.DB, 1)
			errc := make(chan error, 1)
			go func() {
				errc <- svcrun.Run(ctx, s, logger, func(db *sqlx.DB, ready *httpserver.Readiness, guard *auth.Guard) http.Handler {
					served <- db
					return svcrun.Handler(svcrun.Info{Title: "test", Version: "1"}, guard, logger, ready, func(api huma.API) {
						huma.Register(api, auth.Protect(huma.Operation{OperationID: "admin-only", Method: http.MethodGet, Path: "/admin-only"},
							auth.Requirement{Callers: []string{auth.IdentityAdmin}}),
							func(context.Context, *struct{}) (*struct{}, error) { return nil, nil })
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
			if status := waitFor(t, "http://"+s.HTTPAddr+"/readyz"); status != http.StatusOK {
				t.Fatalf("GET /readyz = %d", status)
			}
			for token, want := range tc.want {
				if got := getWith(t, "http://"+s.HTTPAddr+"/admin-only", token); got != want {
					t.Errorf("GET /admin-only with token %.12q = %d, want %d", token, got, want)
				}
			}
			if warned := strings.Contains(logs.String(), "AUTHENTICATION IS OFF"); warned != tc.warning {
				t.Errorf("warned that authentication is off: %v, want %v", warned, tc.warning)
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

// getWith sends GET url with token as the bearer (none when empty) and returns the status.
func getWith(t *testing.T, url, token string) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close() // only the status is read
	return resp.StatusCode
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
