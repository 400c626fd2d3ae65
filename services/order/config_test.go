package order_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/services/order"
	"github.com/sagaflow/sagaflow/test/testenv"
)

func TestLoadConfig(t *testing.T) {
	const dsn = "postgres://u@h/order"
	floor := idempotency.MinRetention
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // the variable the error must name; "" means the config loads
		check   func(order.Config) bool
	}{
		{name: "defaults", env: map[string]string{"ORDER_DATABASE_URL": dsn}, check: func(c order.Config) bool {
			return c.HTTPAddr == ":8081" && c.DatabaseMaxConns == 20 && c.MigrateOnStart &&
				c.DrainDelay == time.Second && c.Timeout == 20*time.Second &&
				c.IdempotencyRetention == idempotency.DefaultRetention &&
				c.IdempotencySweepInterval == idempotency.DefaultSweepInterval &&
				c.IdempotencySweepBatch == idempotency.DefaultSweepBatch
		}},
		{name: "missing database", env: map[string]string{}, wantErr: "ORDER_DATABASE_URL"},
		{name: "not a postgres url", env: map[string]string{"ORDER_DATABASE_URL": "mysql://u@h/db"}, wantErr: "ORDER_DATABASE_URL"},
		{name: "address without port", env: map[string]string{"ORDER_DATABASE_URL": dsn, "ORDER_HTTP_ADDR": "8081"}, wantErr: "ORDER_HTTP_ADDR"},
		{name: "no connections", env: map[string]string{"ORDER_DATABASE_URL": dsn, "ORDER_DATABASE_MAX_CONNS": "0"}, wantErr: "ORDER_DATABASE_MAX_CONNS"},
		{name: "unparsable connections", env: map[string]string{"ORDER_DATABASE_URL": dsn, "ORDER_DATABASE_MAX_CONNS": "many"}, wantErr: "ORDER_DATABASE_MAX_CONNS"},
		{name: "negative drain delay", env: map[string]string{"ORDER_DATABASE_URL": dsn, "SHUTDOWN_DRAIN_DELAY": "-1s"}, wantErr: "SHUTDOWN_DRAIN_DELAY"},
		{name: "no shutdown time", env: map[string]string{"ORDER_DATABASE_URL": dsn, "SHUTDOWN_TIMEOUT": "0s"}, wantErr: "SHUTDOWN_TIMEOUT"},
		{name: "retention at the floor", env: map[string]string{"ORDER_DATABASE_URL": dsn, "ORDER_IDEMPOTENCY_RETENTION": floor.String()},
			check: func(c order.Config) bool { return c.IdempotencyRetention == floor }},
		{name: "retention below the floor", env: map[string]string{"ORDER_DATABASE_URL": dsn, "ORDER_IDEMPOTENCY_RETENTION": (floor - time.Second).String()}, wantErr: "ORDER_IDEMPOTENCY_RETENTION"},
		{name: "retention of a day", env: map[string]string{"ORDER_DATABASE_URL": dsn, "ORDER_IDEMPOTENCY_RETENTION": "24h"}, wantErr: "ORDER_IDEMPOTENCY_RETENTION"},
		{name: "retention in days", env: map[string]string{"ORDER_DATABASE_URL": dsn, "ORDER_IDEMPOTENCY_RETENTION": "30d"}, wantErr: "ORDER_IDEMPOTENCY_RETENTION"},
		{name: "sweep every minute", env: map[string]string{"ORDER_DATABASE_URL": dsn, "ORDER_IDEMPOTENCY_SWEEP_INTERVAL": "1m", "ORDER_IDEMPOTENCY_SWEEP_BATCH": "1"},
			check: func(c order.Config) bool {
				return c.IdempotencySweepInterval == time.Minute && c.IdempotencySweepBatch == 1
			}},
		{name: "sweep too often", env: map[string]string{"ORDER_DATABASE_URL": dsn, "ORDER_IDEMPOTENCY_SWEEP_INTERVAL": "10s"}, wantErr: "ORDER_IDEMPOTENCY_SWEEP_INTERVAL"},
		{name: "sweep too rarely", env: map[string]string{"ORDER_DATABASE_URL": dsn, "ORDER_IDEMPOTENCY_SWEEP_INTERVAL": "48h"}, wantErr: "ORDER_IDEMPOTENCY_SWEEP_INTERVAL"},
		{name: "empty batch", env: map[string]string{"ORDER_DATABASE_URL": dsn, "ORDER_IDEMPOTENCY_SWEEP_BATCH": "0"}, wantErr: "ORDER_IDEMPOTENCY_SWEEP_BATCH"},
		{name: "huge batch", env: map[string]string{"ORDER_DATABASE_URL": dsn, "ORDER_IDEMPOTENCY_SWEEP_BATCH": "1000000"}, wantErr: "ORDER_IDEMPOTENCY_SWEEP_BATCH"},
	}
	vars := []string{
		"ORDER_HTTP_ADDR", "ORDER_DATABASE_URL", "ORDER_DATABASE_MAX_CONNS", "ORDER_MIGRATE_ON_START",
		"ORDER_IDEMPOTENCY_RETENTION", "ORDER_IDEMPOTENCY_SWEEP_INTERVAL", "ORDER_IDEMPOTENCY_SWEEP_BATCH",
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
			cfg, err := order.LoadConfig()
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

func TestSpec(t *testing.T) {
	spec := order.Spec()
	ops := map[string]string{}
	for path, item := range spec.Paths {
		if item.Post != nil {
			ops[item.Post.OperationID] = "POST " + path
		}
		if item.Get != nil {
			ops[item.Get.OperationID] = "GET " + path
		}
	}
	want := map[string]string{
		"create-order":     "POST /orders",
		"transition-order": "POST /orders/{order_id}/transitions",
		"get-order":        "GET /orders/{order_id}",
		"list-orders":      "GET /orders",
	}
	for id, route := range want {
		if ops[id] != route {
			t.Errorf("operation %s = %q, want %q", id, ops[id], route)
		}
	}
	create := spec.Paths["/orders"].Post
	if create.Responses["201"] == nil {
		t.Error("create-order does not document 201")
	}
	var keyRequired bool
	for _, p := range create.Parameters {
		if p.Name == "Idempotency-Key" && p.In == "header" && p.Required {
			keyRequired = true
		}
	}
	if !keyRequired {
		t.Error("create-order does not require an Idempotency-Key header")
	}
}

func TestHealthEndpoints(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/healthz", "/readyz"} {
		if status, body := e.raw(http.MethodGet, path, "", ""); status != http.StatusOK {
			t.Fatalf("GET %s = %d %s", path, status, body)
		}
	}
	if status, _ := e.raw(http.MethodGet, "/openapi.json", "", ""); status != http.StatusOK {
		t.Fatalf("GET /openapi.json = %d", status)
	}
}
