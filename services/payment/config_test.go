package payment_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/services/payment"
	"github.com/sagaflow/sagaflow/test/testenv"
)

// TestLoadConfig checks what is the payment service's own: its prefix and default address
// (svcrun's TestLoad covers the variables every service shares).
func TestLoadConfig(t *testing.T) {
	const dsn = "postgres://u@h/payment"
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // the variable the error must name; "" means the config loads
		check   func(payment.Config) bool
	}{
		{name: "defaults", env: map[string]string{"PAYMENT_DATABASE_URL": dsn}, check: func(c payment.Config) bool {
			return c.Service == "payment" && c.HTTPAddr == ":8082" && c.DatabaseURL == dsn &&
				c.IdempotencyRetention == idempotency.DefaultRetention && c.ProcessorLatency == 0
		}},
		{name: "its own variables", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_HTTP_ADDR": "127.0.0.1:1", "PAYMENT_IDEMPOTENCY_RETENTION": "1000h"},
			check: func(c payment.Config) bool {
				return c.HTTPAddr == "127.0.0.1:1" && c.IdempotencyRetention == 1000*time.Hour
			}},
		{name: "missing database", env: map[string]string{}, wantErr: "PAYMENT_DATABASE_URL"},
		{name: "a bare DATABASE_URL is not its database", env: map[string]string{"DATABASE_URL": dsn}, wantErr: "PAYMENT_DATABASE_URL"},
		{name: "retention below the floor", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_IDEMPOTENCY_RETENTION": "24h"}, wantErr: "PAYMENT_IDEMPOTENCY_RETENTION"},
		{name: "slow processor", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_PROCESSOR_LATENCY": "250ms"},
			check: func(c payment.Config) bool { return c.ProcessorLatency == 250*time.Millisecond }},
		{name: "negative processor latency", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_PROCESSOR_LATENCY": "-1s"}, wantErr: "PAYMENT_PROCESSOR_LATENCY"},
		{name: "processor slower than every caller", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_PROCESSOR_LATENCY": "1h"}, wantErr: "PAYMENT_PROCESSOR_LATENCY"},
		{name: "unparsable processor latency", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_PROCESSOR_LATENCY": "soon"}, wantErr: "PAYMENT_PROCESSOR_LATENCY"},
	}
	vars := []string{"PAYMENT_DATABASE_URL", "PAYMENT_HTTP_ADDR", "PAYMENT_IDEMPOTENCY_RETENTION", "DATABASE_URL", "PAYMENT_PROCESSOR_LATENCY"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testenv.SetOnlyEnv(t, vars, tc.env)
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
			if !tc.check(cfg) {
				t.Fatalf("config = %+v", cfg)
			}
		})
	}
}
