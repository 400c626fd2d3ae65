package order_test

import (
	"net/http"
	"testing"

	"github.com/sagaflow/sagaflow/services/order"
)

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
