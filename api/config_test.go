package api_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/api"
)

func TestConfigDefaultsMatchEnvironmentDefaults(t *testing.T) {
	t.Setenv("ORDER_SERVICE_URL", "http://127.0.0.1:8081")
	t.Setenv("INVENTORY_SERVICE_URL", "http://127.0.0.1:8083")
	cfg, err := api.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	want := api.DefaultConfig()
	want.OrderServiceURL, want.InventoryServiceURL = "http://127.0.0.1:8081", "http://127.0.0.1:8083"
	if cfg != want {
		t.Fatalf("LoadConfig() = %+v\nDefaultConfig() = %+v", cfg, want)
	}
}

func TestConfigRequiresServiceURLs(t *testing.T) {
	t.Setenv("ORDER_SERVICE_URL", "")
	t.Setenv("INVENTORY_SERVICE_URL", "")
	if _, err := api.LoadConfig(); err == nil || !strings.Contains(err.Error(), "ORDER_SERVICE_URL") {
		t.Fatalf("LoadConfig without service URLs: %v", err)
	}
}

func TestConfigValidateNamesTheVariable(t *testing.T) {
	valid := api.DefaultConfig()
	valid.OrderServiceURL, valid.InventoryServiceURL = "http://o:8081", "http://i:8083"
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	cases := map[string]func(*api.Config){
		"API_HTTP_ADDR":    func(c *api.Config) { c.HTTPAddr = " " },
		"TEMPORAL_ADDRESS": func(c *api.Config) { c.Address = "" },
		// The embedded Temporal config's own checks run too.
		"TEMPORAL_TLS_CLIENT_KEY_PATH": func(c *api.Config) { c.TLSClientCertPath = "/etc/temporal/client.pem" },
		"REDIS_URL":                    func(c *api.Config) { c.RedisURL = "http://x" },
		"REDIS_KEY_PREFIX":             func(c *api.Config) { c.RedisKeyPrefix = "" },
		"ORDER_SERVICE_URL":            func(c *api.Config) { c.OrderServiceURL = "order:8081" },
		"INVENTORY_SERVICE_URL":        func(c *api.Config) { c.InventoryServiceURL = "ftp://i" },
		"SAGA_TASK_QUEUE":              func(c *api.Config) { c.SagaTaskQueue = "" },
		"APPROVAL_THRESHOLD":           func(c *api.Config) { c.ApprovalThreshold = -1 },
		"APPROVAL_TIMEOUT":             func(c *api.Config) { c.ApprovalTimeout = 0 },
		"IDEMPOTENCY_TTL":              func(c *api.Config) { c.IdempotencyTTL = time.Second },
		"ORDER_WAIT_MAX":               func(c *api.Config) { c.OrderWaitMax = time.Minute },
		"RATE_LIMIT_PER_SECOND":        func(c *api.Config) { c.RateLimitPerSecond = -1 },
		"RATE_LIMIT_BURST":             func(c *api.Config) { c.RateLimitBurst = 0 },
		"SERVICE_CALL_TIMEOUT":         func(c *api.Config) { c.ServiceCallTimeout = 0 },
		"SAGA_ACTIVITY_TIMEOUT":        func(c *api.Config) { c.SagaActivityTimeout = 10 * time.Millisecond },
		"SAGA_RETRY_MAX_INTERVAL":      func(c *api.Config) { c.SagaRetryMaxInterval = time.Millisecond },
		"SHUTDOWN_TIMEOUT":             func(c *api.Config) { c.Timeout = 0 },
	}
	for name, mutate := range cases {
		cfg := valid
		mutate(&cfg)
		if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: Validate() = %v, want an error naming it", name, err)
		}
	}
	// A burst of 0 is fine when limiting is off.
	off := valid
	off.RateLimitPerSecond, off.RateLimitBurst = 0, 0
	if err := off.Validate(); err != nil {
		t.Fatalf("rate limiting off: %v", err)
	}
}

func TestSpecDescribesEveryOperation(t *testing.T) {
	spec := api.Spec()
	if spec.OpenAPI[:3] != "3.1" {
		t.Fatalf("OpenAPI version %s", spec.OpenAPI)
	}
	var ids []string
	for _, item := range spec.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op != nil {
				ids = append(ids, op.OperationID)
			}
		}
	}
	for _, want := range []string{"place-order", "get-order", "list-orders", "approve-order", "reject-order", "cancel-order", "list-products"} {
		if !slices.Contains(ids, want) {
			t.Errorf("operation %s missing from the spec (have %v)", want, ids)
		}
	}
	place := spec.Paths["/orders"].Post
	if place.Responses["202"] == nil || place.Responses["409"] == nil || place.Responses["429"] == nil {
		t.Fatalf("place-order responses: %v", keys(place.Responses))
	}
}

func TestServesOpenAPIAndDocs(t *testing.T) {
	h := newHarness(t)
	for _, path := range []string{"/openapi.json", "/docs", "/healthz", "/readyz"} {
		if r := h.do(http.MethodGet, path, nil, ""); r.status != http.StatusOK {
			t.Errorf("GET %s: %d", path, r.status)
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
