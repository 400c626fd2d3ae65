package payment_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/services/payment"
	"github.com/sagaflow/sagaflow/test/testenv"
)

func TestLoadConfig(t *testing.T) {
	const dsn = "postgres://u@h/payment"
	floor := idempotency.MinRetention
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // the variable the error must name; "" means the config loads
		check   func(payment.Config) bool
	}{
		{name: "defaults", env: map[string]string{"PAYMENT_DATABASE_URL": dsn}, check: func(c payment.Config) bool {
			return c.HTTPAddr == ":8082" && c.DatabaseMaxConns == 20 && c.MigrateOnStart &&
				c.DrainDelay == time.Second && c.Timeout == 20*time.Second &&
				c.IdempotencyRetention == idempotency.DefaultRetention &&
				c.IdempotencySweepInterval == idempotency.DefaultSweepInterval &&
				c.IdempotencySweepBatch == idempotency.DefaultSweepBatch && c.ProcessorLatency == 0
		}},
		{name: "missing database", env: map[string]string{}, wantErr: "PAYMENT_DATABASE_URL"},
		{name: "not a postgres url", env: map[string]string{"PAYMENT_DATABASE_URL": "mysql://u@h/db"}, wantErr: "PAYMENT_DATABASE_URL"},
		{name: "address without port", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_HTTP_ADDR": "8082"}, wantErr: "PAYMENT_HTTP_ADDR"},
		{name: "no connections", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_DATABASE_MAX_CONNS": "0"}, wantErr: "PAYMENT_DATABASE_MAX_CONNS"},
		{name: "unparsable connections", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_DATABASE_MAX_CONNS": "many"}, wantErr: "PAYMENT_DATABASE_MAX_CONNS"},
		{name: "negative drain delay", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "SHUTDOWN_DRAIN_DELAY": "-1s"}, wantErr: "SHUTDOWN_DRAIN_DELAY"},
		{name: "no shutdown time", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "SHUTDOWN_TIMEOUT": "0s"}, wantErr: "SHUTDOWN_TIMEOUT"},
		{name: "retention at the floor", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_IDEMPOTENCY_RETENTION": floor.String()},
			check: func(c payment.Config) bool { return c.IdempotencyRetention == floor }},
		{name: "retention below the floor", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_IDEMPOTENCY_RETENTION": (floor - time.Second).String()}, wantErr: "PAYMENT_IDEMPOTENCY_RETENTION"},
		{name: "retention of a day", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_IDEMPOTENCY_RETENTION": "24h"}, wantErr: "PAYMENT_IDEMPOTENCY_RETENTION"},
		{name: "retention in days", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_IDEMPOTENCY_RETENTION": "30d"}, wantErr: "PAYMENT_IDEMPOTENCY_RETENTION"},
		{name: "sweep every minute", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_IDEMPOTENCY_SWEEP_INTERVAL": "1m", "PAYMENT_IDEMPOTENCY_SWEEP_BATCH": "1"},
			check: func(c payment.Config) bool {
				return c.IdempotencySweepInterval == time.Minute && c.IdempotencySweepBatch == 1
			}},
		{name: "sweep too often", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_IDEMPOTENCY_SWEEP_INTERVAL": "10s"}, wantErr: "PAYMENT_IDEMPOTENCY_SWEEP_INTERVAL"},
		{name: "sweep too rarely", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_IDEMPOTENCY_SWEEP_INTERVAL": "48h"}, wantErr: "PAYMENT_IDEMPOTENCY_SWEEP_INTERVAL"},
		{name: "empty batch", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_IDEMPOTENCY_SWEEP_BATCH": "0"}, wantErr: "PAYMENT_IDEMPOTENCY_SWEEP_BATCH"},
		{name: "huge batch", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_IDEMPOTENCY_SWEEP_BATCH": "1000000"}, wantErr: "PAYMENT_IDEMPOTENCY_SWEEP_BATCH"},
		{name: "slow processor", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_PROCESSOR_LATENCY": "250ms"},
			check: func(c payment.Config) bool { return c.ProcessorLatency == 250*time.Millisecond }},
		{name: "negative processor latency", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_PROCESSOR_LATENCY": "-1s"}, wantErr: "PAYMENT_PROCESSOR_LATENCY"},
		{name: "processor slower than every caller", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_PROCESSOR_LATENCY": "1h"}, wantErr: "PAYMENT_PROCESSOR_LATENCY"},
		{name: "unparsable processor latency", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_PROCESSOR_LATENCY": "soon"}, wantErr: "PAYMENT_PROCESSOR_LATENCY"},
	}
	vars := []string{
		"PAYMENT_HTTP_ADDR", "PAYMENT_DATABASE_URL", "PAYMENT_DATABASE_MAX_CONNS", "PAYMENT_MIGRATE_ON_START",
		"PAYMENT_IDEMPOTENCY_RETENTION", "PAYMENT_IDEMPOTENCY_SWEEP_INTERVAL", "PAYMENT_IDEMPOTENCY_SWEEP_BATCH",
		"PAYMENT_PROCESSOR_LATENCY", "SHUTDOWN_DRAIN_DELAY", "SHUTDOWN_TIMEOUT",
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
			cfg, err := payment.LoadConfig()
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
