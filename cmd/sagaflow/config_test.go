package main

import (
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/internal/svcrun"
	"github.com/sagaflow/sagaflow/services/inventory"
	"github.com/sagaflow/sagaflow/services/order"
	"github.com/sagaflow/sagaflow/services/payment"
	"github.com/sagaflow/sagaflow/test/testenv"
)

// TestServiceConfigs checks what is each service's own in its configuration, the way
// `sagaflow service NAME` loads it: its prefix and default address (svcrun's TestLoad
// covers the variables every service shares; payment's own variables are tested there).
func TestServiceConfigs(t *testing.T) {
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
		}
		vars := []string{p + "DATABASE_URL", p + "HTTP_ADDR", p + "IDEMPOTENCY_RETENTION", "DATABASE_URL"}
		for _, tc := range tests {
			t.Run(svc.name+"/"+tc.name, func(t *testing.T) {
				testenv.SetOnlyEnv(t, vars, tc.env)
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
