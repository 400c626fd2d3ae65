package main

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/internal/svcrun"
	"github.com/sagaflow/sagaflow/services/inventory"
	"github.com/sagaflow/sagaflow/services/order"
	"github.com/sagaflow/sagaflow/services/payment"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testkeys"
)

// TestServiceConfigs checks what is each service's own in its configuration, the way
// `sagaflow service NAME` loads it: its prefix and default address, and the keys it trusts,
// shared by every service or its own (svcrun's TestLoad covers the variables every service
// shares; payment's own variables are tested there).
func TestServiceConfigs(t *testing.T) {
	keys := testkeys.New(t)
	trusted := string(keys.Trusted)
	adminOnly, err := auth.PublicSet(keys.Private[auth.IdentityAdmin])
	if err != nil {
		t.Fatal(err)
	}
	services := []struct {
		name, port string
		load       func() (svcrun.Config, error)
	}{
		{name: "order", port: ":8081", load: func() (svcrun.Config, error) { c, err := order.LoadConfig(); return c.Config, err }},
		{name: "payment", port: ":8082", load: func() (svcrun.Config, error) { c, err := payment.LoadConfig(); return c.Config, err }},
		{name: "inventory", port: ":8083", load: func() (svcrun.Config, error) { c, err := inventory.LoadConfig(); return c.Config, err }},
	}
	for _, svc := range services {
		p := strings.ToUpper(svc.name) + "_"
		other := map[string]string{"order": "PAYMENT_", "payment": "INVENTORY_", "inventory": "ORDER_"}[svc.name]
		dsn := "postgres://u@h/" + svc.name
		tests := []struct {
			name    string
			env     map[string]string
			wantErr string // the variable the error must name; "" means the config loads
			check   func(svcrun.Config) bool
		}{
			{name: "defaults", env: map[string]string{p + "DATABASE_URL": dsn}, check: func(c svcrun.Config) bool {
				return c.Service == svc.name && c.HTTPAddr == svc.port && c.DatabaseURL == dsn &&
					c.IdempotencyRetention == idempotency.DefaultRetention
			}},
			{name: "its own variables", env: map[string]string{p + "DATABASE_URL": dsn, p + "HTTP_ADDR": "127.0.0.1:1", p + "IDEMPOTENCY_RETENTION": "1000h"},
				check: func(c svcrun.Config) bool {
					return c.HTTPAddr == "127.0.0.1:1" && c.IdempotencyRetention == 1000*time.Hour
				}},
			{name: "missing database", env: map[string]string{}, wantErr: p + "DATABASE_URL"},
			{name: "a bare DATABASE_URL is not its database", env: map[string]string{"DATABASE_URL": dsn}, wantErr: p + "DATABASE_URL"},
			{name: "retention below the floor", env: map[string]string{p + "DATABASE_URL": dsn, p + "IDEMPOTENCY_RETENTION": "24h"}, wantErr: p + "IDEMPOTENCY_RETENTION"},
			{name: "the keys every service trusts", env: map[string]string{p + "DATABASE_URL": dsn, "SERVICE_AUTH_TRUSTED_KEYS": trusted},
				check: func(c svcrun.Config) bool { return c.TrustedKeys == trusted }},
			{name: "its own trusted keys win", env: map[string]string{p + "DATABASE_URL": dsn, "SERVICE_AUTH_TRUSTED_KEYS": trusted, p + "SERVICE_AUTH_TRUSTED_KEYS": string(adminOnly)},
				check: func(c svcrun.Config) bool { return c.TrustedKeys == string(adminOnly) }},
			{name: "no trusted keys", env: map[string]string{p + "DATABASE_URL": dsn, "SERVICE_AUTH_TRUSTED_KEYS": ""}, wantErr: p + "SERVICE_AUTH_TRUSTED_KEYS"},
			{name: "another service's trusted keys are not its", env: map[string]string{p + "DATABASE_URL": dsn, "SERVICE_AUTH_TRUSTED_KEYS": "", other + "SERVICE_AUTH_TRUSTED_KEYS": trusted},
				wantErr: p + "SERVICE_AUTH_TRUSTED_KEYS"},
		}
		vars := []string{p + "DATABASE_URL", p + "HTTP_ADDR", p + "IDEMPOTENCY_RETENTION", "DATABASE_URL",
			"SERVICE_AUTH_TRUSTED_KEYS", "ORDER_SERVICE_AUTH_TRUSTED_KEYS", "PAYMENT_SERVICE_AUTH_TRUSTED_KEYS", "INVENTORY_SERVICE_AUTH_TRUSTED_KEYS", "SAGAFLOW_INSECURE"}
		for _, tc := range tests {
			t.Run(svc.name+"/"+tc.name, func(t *testing.T) {
				env := map[string]string{"SERVICE_AUTH_TRUSTED_KEYS": trusted} // unless the case says otherwise
				maps.Copy(env, tc.env)
				testenv.SetOnlyEnv(t, vars, env)
				cfg, err := svc.load()
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
}
