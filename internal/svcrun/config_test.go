package svcrun_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/internal/svcrun"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testkeys"
)

// billingConfig is a fourth service's configuration, as a new service would declare it.
type billingConfig struct {
	svcrun.Config
}

// TestLoad covers the variables every service reads, for a service named billing: each
// service's LoadConfig is svcrun.Load with its name and default address.
func TestLoad(t *testing.T) {
	const dsn = "postgres://u@h/billing"
	floor := idempotency.MinRetention
	keys := testkeys.New(t)
	trusted := string(keys.Trusted)
	onlyAdmin, err := auth.PublicSet(keys.Private[auth.IdentityAdmin])
	if err != nil {
		t.Fatal(err)
	}
	withPrivate := `{"keys":[` + string(keys.Private[auth.IdentityAPI]) + `]}`
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // the variable the error must name; "" means the config loads
		check   func(svcrun.Config) bool
	}{
		{name: "defaults", env: map[string]string{"BILLING_DATABASE_URL": dsn}, check: func(c svcrun.Config) bool {
			return c.Service == "billing" && c.HTTPAddr == ":9090" && c.DatabaseURL == dsn &&
				c.DatabaseMaxConns == 20 && c.MigrateOnStart &&
				c.DrainDelay == time.Second && c.Timeout == 20*time.Second &&
				c.IdempotencyRetention == idempotency.DefaultRetention &&
				c.IdempotencySweepInterval == idempotency.DefaultSweepInterval &&
				c.IdempotencySweepBatch == idempotency.DefaultSweepBatch
		}},
		{name: "every variable under the prefix", env: map[string]string{
			"BILLING_DATABASE_URL": dsn, "BILLING_HTTP_ADDR": "127.0.0.1:9999", "BILLING_DATABASE_MAX_CONNS": "7",
			"BILLING_MIGRATE_ON_START": "false",
		}, check: func(c svcrun.Config) bool {
			return c.HTTPAddr == "127.0.0.1:9999" && c.DatabaseMaxConns == 7 && !c.MigrateOnStart
		}},
		{name: "missing database", env: map[string]string{}, wantErr: "BILLING_DATABASE_URL"},
		// A bare or another service's DATABASE_URL must never become this service's database.
		{name: "a bare DATABASE_URL is not read", env: map[string]string{"DATABASE_URL": dsn}, wantErr: "BILLING_DATABASE_URL"},
		{name: "another service's database is not read", env: map[string]string{"ORDER_DATABASE_URL": dsn}, wantErr: "BILLING_DATABASE_URL"},
		{name: "a bare HTTP_ADDR is not read", env: map[string]string{"BILLING_DATABASE_URL": dsn, "HTTP_ADDR": ":1"},
			check: func(c svcrun.Config) bool { return c.HTTPAddr == ":9090" }},
		{name: "not a postgres url", env: map[string]string{"BILLING_DATABASE_URL": "mysql://u@h/db"}, wantErr: "BILLING_DATABASE_URL"},
		{name: "postgresql scheme", env: map[string]string{"BILLING_DATABASE_URL": "postgresql://u@h/db"},
			check: func(c svcrun.Config) bool { return c.DatabaseURL == "postgresql://u@h/db" }},
		{name: "address without port", env: map[string]string{"BILLING_DATABASE_URL": dsn, "BILLING_HTTP_ADDR": "9090"}, wantErr: "BILLING_HTTP_ADDR"},
		{name: "no connections", env: map[string]string{"BILLING_DATABASE_URL": dsn, "BILLING_DATABASE_MAX_CONNS": "0"}, wantErr: "BILLING_DATABASE_MAX_CONNS"},
		{name: "too many connections", env: map[string]string{"BILLING_DATABASE_URL": dsn, "BILLING_DATABASE_MAX_CONNS": "1001"}, wantErr: "BILLING_DATABASE_MAX_CONNS"},
		{name: "unparsable connections", env: map[string]string{"BILLING_DATABASE_URL": dsn, "BILLING_DATABASE_MAX_CONNS": "many"}, wantErr: "BILLING_DATABASE_MAX_CONNS"},
		{name: "negative drain delay", env: map[string]string{"BILLING_DATABASE_URL": dsn, "SHUTDOWN_DRAIN_DELAY": "-1s"}, wantErr: "SHUTDOWN_DRAIN_DELAY"},
		{name: "no shutdown time", env: map[string]string{"BILLING_DATABASE_URL": dsn, "SHUTDOWN_TIMEOUT": "0s"}, wantErr: "SHUTDOWN_TIMEOUT"},
		{name: "shared shutdown time", env: map[string]string{"BILLING_DATABASE_URL": dsn, "SHUTDOWN_TIMEOUT": "45s"},
			check: func(c svcrun.Config) bool { return c.Timeout == 45*time.Second }},
		{name: "one service's shutdown time wins over the shared one", env: map[string]string{
			"BILLING_DATABASE_URL": dsn, "SHUTDOWN_TIMEOUT": "45s", "BILLING_SHUTDOWN_TIMEOUT": "50s",
		}, check: func(c svcrun.Config) bool { return c.Timeout == 50*time.Second }},
		{name: "retention at the floor", env: map[string]string{"BILLING_DATABASE_URL": dsn, "BILLING_IDEMPOTENCY_RETENTION": floor.String()},
			check: func(c svcrun.Config) bool { return c.IdempotencyRetention == floor }},
		{name: "retention below the floor", env: map[string]string{"BILLING_DATABASE_URL": dsn, "BILLING_IDEMPOTENCY_RETENTION": (floor - time.Second).String()}, wantErr: "BILLING_IDEMPOTENCY_RETENTION"},
		{name: "retention of a day", env: map[string]string{"BILLING_DATABASE_URL": dsn, "BILLING_IDEMPOTENCY_RETENTION": "24h"}, wantErr: "BILLING_IDEMPOTENCY_RETENTION"},
		{name: "retention in days", env: map[string]string{"BILLING_DATABASE_URL": dsn, "BILLING_IDEMPOTENCY_RETENTION": "30d"}, wantErr: "BILLING_IDEMPOTENCY_RETENTION"},
		{name: "sweep every minute", env: map[string]string{"BILLING_DATABASE_URL": dsn, "BILLING_IDEMPOTENCY_SWEEP_INTERVAL": "1m", "BILLING_IDEMPOTENCY_SWEEP_BATCH": "1"},
			check: func(c svcrun.Config) bool {
				return c.IdempotencySweepInterval == time.Minute && c.IdempotencySweepBatch == 1
			}},
		{name: "sweep too often", env: map[string]string{"BILLING_DATABASE_URL": dsn, "BILLING_IDEMPOTENCY_SWEEP_INTERVAL": "10s"}, wantErr: "BILLING_IDEMPOTENCY_SWEEP_INTERVAL"},
		{name: "sweep too rarely", env: map[string]string{"BILLING_DATABASE_URL": dsn, "BILLING_IDEMPOTENCY_SWEEP_INTERVAL": "48h"}, wantErr: "BILLING_IDEMPOTENCY_SWEEP_INTERVAL"},
		{name: "empty batch", env: map[string]string{"BILLING_DATABASE_URL": dsn, "BILLING_IDEMPOTENCY_SWEEP_BATCH": "0"}, wantErr: "BILLING_IDEMPOTENCY_SWEEP_BATCH"},
		{name: "huge batch", env: map[string]string{"BILLING_DATABASE_URL": dsn, "BILLING_IDEMPOTENCY_SWEEP_BATCH": "1000000"}, wantErr: "BILLING_IDEMPOTENCY_SWEEP_BATCH"},
		// One set of trusted keys serves every service; a service's own wins over it.
		{name: "the shared trusted keys", env: map[string]string{"BILLING_DATABASE_URL": dsn, "SERVICE_AUTH_TRUSTED_KEYS": trusted},
			check: func(c svcrun.Config) bool { return c.TrustedKeys == trusted && !c.Insecure }},
		{name: "the service's own trusted keys win", env: map[string]string{
			"BILLING_DATABASE_URL": dsn, "SERVICE_AUTH_TRUSTED_KEYS": trusted, "BILLING_SERVICE_AUTH_TRUSTED_KEYS": string(onlyAdmin),
		}, check: func(c svcrun.Config) bool { return c.TrustedKeys == string(onlyAdmin) }},
		{name: "no trusted keys", env: map[string]string{"BILLING_DATABASE_URL": dsn, "SERVICE_AUTH_TRUSTED_KEYS": ""}, wantErr: "SERVICE_AUTH_TRUSTED_KEYS"},
		{name: "trusted keys that are not a key set", env: map[string]string{"BILLING_DATABASE_URL": dsn, "SERVICE_AUTH_TRUSTED_KEYS": "secret"},
			wantErr: "SERVICE_AUTH_TRUSTED_KEYS"},
		{name: "a private key among the trusted", env: map[string]string{"BILLING_DATABASE_URL": dsn, "SERVICE_AUTH_TRUSTED_KEYS": withPrivate},
			wantErr: "SERVICE_AUTH_TRUSTED_KEYS"},
		{name: "insecure needs no keys", env: map[string]string{"BILLING_DATABASE_URL": dsn, "SERVICE_AUTH_TRUSTED_KEYS": "", "SAGAFLOW_INSECURE": "true"},
			check: func(c svcrun.Config) bool { return c.Insecure }},
	}
	vars := []string{
		"BILLING_HTTP_ADDR", "BILLING_DATABASE_URL", "BILLING_DATABASE_MAX_CONNS", "BILLING_MIGRATE_ON_START",
		"BILLING_IDEMPOTENCY_RETENTION", "BILLING_IDEMPOTENCY_SWEEP_INTERVAL", "BILLING_IDEMPOTENCY_SWEEP_BATCH",
		"BILLING_SHUTDOWN_DRAIN_DELAY", "BILLING_SHUTDOWN_TIMEOUT", "SHUTDOWN_DRAIN_DELAY", "SHUTDOWN_TIMEOUT",
		"DATABASE_URL", "HTTP_ADDR", "ORDER_DATABASE_URL",
		"SERVICE_AUTH_TRUSTED_KEYS", "BILLING_SERVICE_AUTH_TRUSTED_KEYS", "SAGAFLOW_INSECURE", "BILLING_SAGAFLOW_INSECURE",
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"SERVICE_AUTH_TRUSTED_KEYS": trusted} // unless the case says otherwise
			maps.Copy(env, tc.env)
			testenv.SetOnlyEnv(t, vars, env)
			var cfg billingConfig
			err := svcrun.Load("billing", ":9090", &cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil && !tc.check(cfg.Config) {
				t.Fatalf("config = %+v", cfg.Config)
			}
		})
	}
}
