package inventory_test

import (
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/services/inventory"
	"github.com/sagaflow/sagaflow/test/testenv"
)

// TestLoadConfig checks what is the inventory service's own: its prefix and default address
// (svcrun's TestLoad covers the variables every service shares).
func TestLoadConfig(t *testing.T) {
	const dsn = "postgres://u@h/inventory"
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // the variable the error must name; "" means the config loads
		check   func(inventory.Config) bool
	}{
		{name: "defaults", env: map[string]string{"INVENTORY_DATABASE_URL": dsn}, check: func(c inventory.Config) bool {
			return c.Service == "inventory" && c.HTTPAddr == ":8083" && c.DatabaseURL == dsn &&
				c.IdempotencyRetention == idempotency.DefaultRetention
		}},
		{name: "its own variables", env: map[string]string{"INVENTORY_DATABASE_URL": dsn, "INVENTORY_HTTP_ADDR": "127.0.0.1:1", "INVENTORY_IDEMPOTENCY_RETENTION": "1000h"},
			check: func(c inventory.Config) bool {
				return c.HTTPAddr == "127.0.0.1:1" && c.IdempotencyRetention == 1000*time.Hour
			}},
		{name: "missing database", env: map[string]string{}, wantErr: "INVENTORY_DATABASE_URL"},
		{name: "a bare DATABASE_URL is not its database", env: map[string]string{"DATABASE_URL": dsn}, wantErr: "INVENTORY_DATABASE_URL"},
		{name: "retention below the floor", env: map[string]string{"INVENTORY_DATABASE_URL": dsn, "INVENTORY_IDEMPOTENCY_RETENTION": "24h"}, wantErr: "INVENTORY_IDEMPOTENCY_RETENTION"},
	}
	vars := []string{"INVENTORY_DATABASE_URL", "INVENTORY_HTTP_ADDR", "INVENTORY_IDEMPOTENCY_RETENTION", "DATABASE_URL"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testenv.SetOnlyEnv(t, vars, tc.env)
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
			if !tc.check(cfg) {
				t.Fatalf("config = %+v", cfg)
			}
		})
	}
}
