package inventory_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/services/inventory"
	"github.com/sagaflow/sagaflow/test/testenv"
)

func TestLoadConfig(t *testing.T) {
	const dsn = "postgres://u@h/inventory"
	floor := idempotency.MinRetention
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // the variable the error must name; "" means the config loads
		check   func(inventory.Config) bool
	}{
		{name: "defaults", env: map[string]string{"INVENTORY_DATABASE_URL": dsn}, check: func(c inventory.Config) bool {
			return c.HTTPAddr == ":8083" && c.DatabaseMaxConns == 20 && c.MigrateOnStart &&
				c.DrainDelay == time.Second && c.Timeout == 20*time.Second &&
				c.IdempotencyRetention == idempotency.DefaultRetention &&
				c.IdempotencySweepInterval == idempotency.DefaultSweepInterval &&
				c.IdempotencySweepBatch == idempotency.DefaultSweepBatch
		}},
		{name: "missing database", env: map[string]string{}, wantErr: "INVENTORY_DATABASE_URL"},
		{name: "not a postgres url", env: map[string]string{"INVENTORY_DATABASE_URL": "mysql://u@h/db"}, wantErr: "INVENTORY_DATABASE_URL"},
		{name: "address without port", env: map[string]string{"INVENTORY_DATABASE_URL": dsn, "INVENTORY_HTTP_ADDR": "8083"}, wantErr: "INVENTORY_HTTP_ADDR"},
		{name: "no connections", env: map[string]string{"INVENTORY_DATABASE_URL": dsn, "INVENTORY_DATABASE_MAX_CONNS": "0"}, wantErr: "INVENTORY_DATABASE_MAX_CONNS"},
		{name: "unparsable connections", env: map[string]string{"INVENTORY_DATABASE_URL": dsn, "INVENTORY_DATABASE_MAX_CONNS": "many"}, wantErr: "INVENTORY_DATABASE_MAX_CONNS"},
		{name: "negative drain delay", env: map[string]string{"INVENTORY_DATABASE_URL": dsn, "SHUTDOWN_DRAIN_DELAY": "-1s"}, wantErr: "SHUTDOWN_DRAIN_DELAY"},
		{name: "no shutdown time", env: map[string]string{"INVENTORY_DATABASE_URL": dsn, "SHUTDOWN_TIMEOUT": "0s"}, wantErr: "SHUTDOWN_TIMEOUT"},
		{name: "retention at the floor", env: map[string]string{"INVENTORY_DATABASE_URL": dsn, "INVENTORY_IDEMPOTENCY_RETENTION": floor.String()},
			check: func(c inventory.Config) bool { return c.IdempotencyRetention == floor }},
		{name: "retention below the floor", env: map[string]string{"INVENTORY_DATABASE_URL": dsn, "INVENTORY_IDEMPOTENCY_RETENTION": (floor - time.Second).String()}, wantErr: "INVENTORY_IDEMPOTENCY_RETENTION"},
		{name: "retention of a day", env: map[string]string{"INVENTORY_DATABASE_URL": dsn, "INVENTORY_IDEMPOTENCY_RETENTION": "24h"}, wantErr: "INVENTORY_IDEMPOTENCY_RETENTION"},
		{name: "retention in days", env: map[string]string{"INVENTORY_DATABASE_URL": dsn, "INVENTORY_IDEMPOTENCY_RETENTION": "30d"}, wantErr: "INVENTORY_IDEMPOTENCY_RETENTION"},
		{name: "sweep every minute", env: map[string]string{"INVENTORY_DATABASE_URL": dsn, "INVENTORY_IDEMPOTENCY_SWEEP_INTERVAL": "1m", "INVENTORY_IDEMPOTENCY_SWEEP_BATCH": "1"},
			check: func(c inventory.Config) bool {
				return c.IdempotencySweepInterval == time.Minute && c.IdempotencySweepBatch == 1
			}},
		{name: "sweep too often", env: map[string]string{"INVENTORY_DATABASE_URL": dsn, "INVENTORY_IDEMPOTENCY_SWEEP_INTERVAL": "10s"}, wantErr: "INVENTORY_IDEMPOTENCY_SWEEP_INTERVAL"},
		{name: "sweep too rarely", env: map[string]string{"INVENTORY_DATABASE_URL": dsn, "INVENTORY_IDEMPOTENCY_SWEEP_INTERVAL": "48h"}, wantErr: "INVENTORY_IDEMPOTENCY_SWEEP_INTERVAL"},
		{name: "empty batch", env: map[string]string{"INVENTORY_DATABASE_URL": dsn, "INVENTORY_IDEMPOTENCY_SWEEP_BATCH": "0"}, wantErr: "INVENTORY_IDEMPOTENCY_SWEEP_BATCH"},
		{name: "huge batch", env: map[string]string{"INVENTORY_DATABASE_URL": dsn, "INVENTORY_IDEMPOTENCY_SWEEP_BATCH": "1000000"}, wantErr: "INVENTORY_IDEMPOTENCY_SWEEP_BATCH"},
	}
	vars := []string{
		"INVENTORY_HTTP_ADDR", "INVENTORY_DATABASE_URL", "INVENTORY_DATABASE_MAX_CONNS", "INVENTORY_MIGRATE_ON_START",
		"INVENTORY_IDEMPOTENCY_RETENTION", "INVENTORY_IDEMPOTENCY_SWEEP_INTERVAL", "INVENTORY_IDEMPOTENCY_SWEEP_BATCH",
		"SHUTDOWN_DRAIN_DELAY", "SHUTDOWN_TIMEOUT",
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, v := range vars {
				// Unset ones must be absent, not empty; either way the variable is restored
				// after the test.
				if val, ok := tc.env[v]; ok {
					t.Setenv(v, val)
				} else {
					testenv.Unsetenv(t, v)
				}
			}
			cfg, err := inventory.LoadConfig()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil && !tc.check(cfg) {
				t.Fatalf("config = %+v", cfg)
			}
		})
	}
}
