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

// TestLoadConfig checks what is the order service's own: its prefix and default address
// (svcrun's TestLoad covers the variables every service shares).
func TestLoadConfig(t *testing.T) {
	const dsn = "postgres://u@h/order"
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string // the variable the error must name; "" means the config loads
		check   func(order.Config) bool
	}{
		{name: "defaults", env: map[string]string{"ORDER_DATABASE_URL": dsn}, check: func(c order.Config) bool {
			return c.Service == "order" && c.HTTPAddr == ":8081" && c.DatabaseURL == dsn &&
				c.IdempotencyRetention == idempotency.DefaultRetention
		}},
		{name: "its own variables", env: map[string]string{"ORDER_DATABASE_URL": dsn, "ORDER_HTTP_ADDR": "127.0.0.1:1", "ORDER_IDEMPOTENCY_RETENTION": "1000h"},
			check: func(c order.Config) bool {
				return c.HTTPAddr == "127.0.0.1:1" && c.IdempotencyRetention == 1000*time.Hour
			}},
		{name: "missing database", env: map[string]string{}, wantErr: "ORDER_DATABASE_URL"},
		{name: "a bare DATABASE_URL is not its database", env: map[string]string{"DATABASE_URL": dsn}, wantErr: "ORDER_DATABASE_URL"},
		{name: "retention below the floor", env: map[string]string{"ORDER_DATABASE_URL": dsn, "ORDER_IDEMPOTENCY_RETENTION": "24h"}, wantErr: "ORDER_IDEMPOTENCY_RETENTION"},
	}
	vars := []string{"ORDER_DATABASE_URL", "ORDER_HTTP_ADDR", "ORDER_IDEMPOTENCY_RETENTION", "DATABASE_URL"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			testenv.SetOnlyEnv(t, vars, tc.env)
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
			if !tc.check(cfg) {
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
