package api_test

import (
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
)

func TestConfigDefaultsMatchEnvironmentDefaults(t *testing.T) {
	key := serviceKey(t, auth.IdentityAPI)
	t.Setenv("ORDER_SERVICE_URL", "http://127.0.0.1:8081")
	t.Setenv("INVENTORY_SERVICE_URL", "http://127.0.0.1:8083")
	t.Setenv("AUTH_ISSUER", "https://login.example.com/")
	t.Setenv("AUTH_AUDIENCE", "sagaflow-api")
	t.Setenv("API_SERVICE_KEY", key)
	keys := payloadKeys(t)
	t.Setenv("TEMPORAL_PAYLOAD_KEYS", string(keys.Keys))
	t.Setenv("TEMPORAL_PAYLOAD_KEY_ID", keys.KeyID)
	cfg, err := api.LoadConfig()
	if err != nil {
		t.Fatal(err)
	}
	want := api.DefaultConfig()
	want.OrderServiceURL, want.InventoryServiceURL = "http://127.0.0.1:8081", "http://127.0.0.1:8083"
	want.Issuer, want.Audience, want.ServiceKey = "https://login.example.com/", "sagaflow-api", key
	want.Config.Config = keys
	if !reflect.DeepEqual(cfg, want) {
		t.Fatalf("LoadConfig() = %+v\nDefaultConfig() = %+v", cfg, want)
	}
}

// payloadKeys is a fresh payload keyring.
func payloadKeys(t *testing.T) payloadcodec.Config {
	t.Helper()
	key, err := payloadcodec.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	return payloadcodec.Config{Keys: payloadcodec.Secret(key), KeyID: "k1"}
}

// serviceKey is a fresh private service key of identity, as a JWK document.
func serviceKey(t *testing.T, identity string) string {
	t.Helper()
	k, err := auth.GenerateServiceKey(identity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return string(k.Private)
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
	valid.Issuer, valid.Audience = "https://login.example.com/", "sagaflow-api"
	valid.ServiceKey = serviceKey(t, auth.IdentityAPI)
	valid.Config.Config = payloadKeys(t)
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	apiKey := serviceKey(t, auth.IdentityAPI)
	publicOnly, err := auth.GenerateServiceKey(auth.IdentityAPI, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	otherIdentity := serviceKey(t, auth.IdentitySagaWorker)
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
		"AUTH_ISSUER":                  func(c *api.Config) { c.Issuer = "" },
		"AUTH_AUDIENCE":                func(c *api.Config) { c.Audience = " " },
		"AUTH_JWKS_URL":                func(c *api.Config) { c.JWKSURL = "file:///keys.json" },
		"AUTH_ALGORITHMS":              func(c *api.Config) { c.Algorithms = []string{"HS256"} },
		"AUTH_CLOCK_SKEW":              func(c *api.Config) { c.ClockSkew = time.Hour },
		"API_SERVICE_KEY":              func(c *api.Config) { c.ServiceKey = "" },
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

	// The service key must be the API's own private key, outside insecure mode or in it.
	keys := []struct {
		name     string
		key      string
		insecure bool
		valid    bool
	}{
		{name: "the API's key", key: apiKey, valid: true},
		{name: "not JSON", key: "not a key"},
		{name: "a public key", key: string(publicOnly.Public)},
		{name: "another identity's key", key: otherIdentity},
		{name: "insecure without a key", insecure: true, valid: true},
		{name: "insecure with the API's key", key: apiKey, insecure: true, valid: true},
		{name: "insecure with another identity's key", key: otherIdentity, insecure: true},
	}
	for _, tc := range keys {
		t.Run(tc.name, func(t *testing.T) {
			cfg := valid
			cfg.ServiceKey, cfg.Insecure = tc.key, tc.insecure
			if tc.insecure {
				// Insecure mode needs no issuer.
				cfg.OIDCConfig = api.DefaultConfig().OIDCConfig
			}
			err := cfg.Validate()
			if tc.valid != (err == nil) {
				t.Fatalf("Validate() = %v, want valid: %v", err, tc.valid)
			}
			if err != nil && !strings.Contains(err.Error(), "API_SERVICE_KEY") {
				t.Fatalf("Validate() = %v, want an error naming API_SERVICE_KEY", err)
			}
			if err != nil && tc.key != "" && strings.Contains(err.Error(), tc.key) {
				t.Fatal("the error quotes the key")
			}
		})
	}
}

// TestSpecDeclaresTheBearerScheme: every operation asks for the bearer token and declares
// the 401 (and, where it needs a scope, the 403) it answers without one, with the challenge
// header; generated clients send the token because of it.
func TestSpecDeclaresTheBearerScheme(t *testing.T) {
	spec := api.Spec()
	scheme := spec.Components.SecuritySchemes[auth.SchemeName]
	if scheme == nil || scheme.Type != "http" || scheme.Scheme != "bearer" || scheme.BearerFormat != "JWT" {
		t.Fatalf("security scheme %q = %+v", auth.SchemeName, scheme)
	}
	// Only the catalog takes any valid token, so it alone cannot be refused 403.
	scoped := map[string]bool{
		"place-order": true, "get-order": true, "list-orders": true, "approve-order": true,
		"reject-order": true, "cancel-order": true, "list-products": false,
	}
	seen := 0
	for path, item := range spec.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op == nil {
				continue
			}
			seen++
			want, known := scoped[op.OperationID]
			if !known {
				t.Errorf("%s %s: operation %s is not in this test's list", op.Method, path, op.OperationID)
			}
			if len(op.Security) != 1 || op.Security[0][auth.SchemeName] == nil {
				t.Errorf("%s: security %v, want the bearer scheme", op.OperationID, op.Security)
			}
			statuses := []string{"401"}
			if want {
				statuses = append(statuses, "403")
			} else if op.Responses["403"] != nil {
				t.Errorf("%s declares a 403 it never answers", op.OperationID)
			}
			for _, status := range statuses {
				r := op.Responses[status]
				if r == nil || r.Headers["WWW-Authenticate"] == nil || !r.Headers["WWW-Authenticate"].Required {
					t.Errorf("%s: %s without a required WWW-Authenticate header", op.OperationID, status)
				}
			}
		}
	}
	if seen != len(scoped) {
		t.Errorf("%d operations, want %d", seen, len(scoped))
	}
	if props := spec.Components.Schemas.Map()["DecisionRequest"].Properties; props["by"] != nil {
		t.Error("DecisionRequest still takes by: who decided is the token's subject")
	}
	if req := spec.Components.Schemas.Map()["PlaceOrderRequest"].Required; slices.Contains(req, "customer_id") {
		t.Error("customer_id is required: the token's subject is the customer")
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
	// The documents and health endpoints need no token.
	for _, path := range []string{"/openapi.json", "/docs", "/healthz", "/readyz"} {
		if r := h.do(http.MethodGet, path, map[string]string{"Authorization": ""}, ""); r.status != http.StatusOK {
			t.Errorf("GET %s: %d", path, r.status)
		}
	}
}

// TestHandlerNeedsAVerifier: a server wired without its verifier (and not insecure) is a
// mistake NewHandler refuses, rather than a handler that checks no caller.
func TestHandlerNeedsAVerifier(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("NewHandler accepted a server without a verifier")
		}
	}()
	api.NewHandler(api.New(api.Deps{}, api.DefaultConfig(), logging.Discard()), nil)
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
