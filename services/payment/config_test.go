package payment_test

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/services/payment"
	"github.com/sagaflow/sagaflow/test/testenv"
)

// TestLoadConfig checks the payment service's own variable, the test processor's latency
// (cmd/sagaflow's TestServiceConfigs covers each service's prefix and default address,
// svcrun's TestLoad the variables every service shares).
func TestLoadConfig(t *testing.T) {
	const dsn = "postgres://u@h/payment"
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // the variable the error must name; "" means the config loads
		check   func(payment.Config) bool
	}{
		{name: "no latency by default", env: map[string]string{"PAYMENT_DATABASE_URL": dsn},
			check: func(c payment.Config) bool { return c.ProcessorLatency == 0 }},
		{name: "slow processor", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_PROCESSOR_LATENCY": "250ms"},
			check: func(c payment.Config) bool { return c.ProcessorLatency == 250*time.Millisecond }},
		{name: "negative processor latency", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_PROCESSOR_LATENCY": "-1s"}, wantErr: "PAYMENT_PROCESSOR_LATENCY"},
		{name: "processor slower than every caller", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_PROCESSOR_LATENCY": "1h"}, wantErr: "PAYMENT_PROCESSOR_LATENCY"},
		{name: "unparsable processor latency", env: map[string]string{"PAYMENT_DATABASE_URL": dsn, "PAYMENT_PROCESSOR_LATENCY": "soon"}, wantErr: "PAYMENT_PROCESSOR_LATENCY"},
	}
	vars := []string{"PAYMENT_DATABASE_URL", "PAYMENT_PROCESSOR_LATENCY", "SAGAFLOW_INSECURE"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The keys the service trusts are svcrun's to check (its TestLoad).
			env := map[string]string{"SAGAFLOW_INSECURE": "true"}
			maps.Copy(env, tc.env)
			testenv.SetOnlyEnv(t, vars, env)
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
