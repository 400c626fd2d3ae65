// Package api is sagaflow's public edge: the REST API clients use to place orders, follow
// them, approve, reject or cancel them, and read the catalog. It starts and signals the
// order saga on Temporal, reads orders and products from their services, and keeps
// Idempotency-Key answers and rate limits in Redis.
package api

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	"github.com/sagaflow/sagaflow/internal/temporalclient"
	inventoryclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
)

// API identity in the OpenAPI document.
const (
	apiTitle       = "sagaflow API"
	apiVersion     = "1.0.0"
	apiDescription = "Place orders, follow them through the order saga, approve, reject or cancel them, and read the product catalog.\n\n" +
		"Every POST takes an `Idempotency-Key` header: repeating a request with the same key and body replays the first answer " +
		"(with `Idempotent-Replayed: true`); the same key with another body is refused with 422; a repeat while the first is still " +
		"running gets 409 with `Retry-After`. Requests are rate limited per authenticated subject; over the limit the answer is 429 " +
		"with `Retry-After` and `RateLimit-*` headers. Errors are RFC 9457 problem documents whose `type` (a reference such as `/problems/not-found`) ends with a stable code.\n\n" +
		"Request bodies are `application/json` (UTF-8; a body without that media type is refused with 415) whose member names are " +
		"spelled exactly as documented; lists are never null. A query parameter appears at most once (400 otherwise). " +
		"Every GET also answers HEAD, and a method a resource does not support gets 405 with `Allow`.\n\n" +
		"Every operation needs an OAuth 2 bearer token (`Authorization: Bearer <token>`) from the configured issuer, whose scopes " +
		"say what it may do (each operation names them): a customer's token (`orders:read`, `orders:write`) places, reads, lists " +
		"and cancels that customer's own orders, the token's subject being the customer; an operator's (`orders:approve`, " +
		"`orders:read_all`) reads every order, approves, rejects and cancels. Without a valid token the answer is 401, without the " +
		"scope 403, both with `WWW-Authenticate`; another customer's order is answered 404, as if it did not exist."
	tagOrders   = "orders"
	tagProducts = "products"
)

// Deps are the API's connections. Each may be nil only when no request will need it
// (building the OpenAPI document needs none).
type Deps struct {
	Temporal  client.Client
	Redis     redis.UniversalClient
	Orders    *orderclient.Client
	Inventory *inventoryclient.Client
	// DataConverter decodes what the API reads back from Temporal (the saga's memo): the
	// converter Temporal's client encodes with. nil is the SDK's default converter.
	DataConverter converter.DataConverter
}

// Server holds the API's handlers and their dependencies.
type Server struct {
	deps    Deps
	cfg     Config
	logger  *slog.Logger
	guard   *auth.Guard // nil until WithVerifier, unless cfg.Insecure
	gate    *redisGate
	idem    *idemStore
	limiter *rateLimiter
}

// New returns a Server over deps. cfg is expected to be valid (see Config.Validate). Unless
// cfg.Insecure, it serves requests only once WithVerifier gave it the token verifier.
func New(deps Deps, cfg Config, logger *slog.Logger) *Server {
	if deps.DataConverter == nil {
		deps.DataConverter = converter.GetDefaultDataConverter()
	}
	gate := newRedisGate(logger)
	var guard *auth.Guard
	if cfg.Insecure {
		guard = auth.Unprotected(logger)
	}
	return &Server{
		deps:   deps,
		cfg:    cfg,
		logger: logger,
		guard:  guard,
		gate:   gate,
		idem: &idemStore{
			rdb:    deps.Redis,
			gate:   gate,
			prefix: cfg.RedisKeyPrefix,
			ttl:    cfg.IdempotencyTTL,
			// A claim outlives the slowest first request (start + wait), and no more:
			// a crashed request must not block its key for a whole TTL.
			lockTTL: 2*cfg.ServiceCallTimeout + cfg.OrderWaitMax + 10*time.Second,
		},
		limiter: newRateLimiter(deps.Redis, gate, cfg, logger),
	}
}

// WithVerifier makes the server check every caller's bearer token with v and returns it.
func (s *Server) WithVerifier(v auth.TokenVerifier) *Server {
	s.guard = auth.NewGuard(v, s.logger)
	return s
}

// Register adds the API's operations to api. It touches no dependency. Without a guard
// (the OpenAPI document alone) the operations are declared but nothing checks callers.
func (s *Server) Register(api huma.API) {
	// The caller is known before anything else runs: rate limits are per subject.
	if s.guard != nil {
		s.guard.Install(api)
	}
	if s.limiter != nil {
		api.UseMiddleware(s.limiter.middleware)
	}
	auth.Declare(api, bearerDescription)
	s.registerOrders(api)
	s.registerSignals(api)
	s.registerProducts(api)
	declareRateLimitHeaders(api.OpenAPI())
}

// declareRateLimitHeaders declares on every answer the headers the rate limiter sets on
// every answer while limiting is on; not on 401, which the guard gives before the limiter
// knows whose budget a request is.
func declareRateLimitHeaders(oapi *huma.OpenAPI) {
	headers := map[string]string{
		"RateLimit-Limit":     "Requests the client may make in a burst (while rate limiting is on)",
		"RateLimit-Remaining": "Requests left in the client's current burst",
		"RateLimit-Reset":     "Seconds until the client's burst is whole again",
	}
	for _, item := range oapi.Paths {
		for _, op := range []*huma.Operation{item.Get, item.Post, item.Put, item.Patch, item.Delete} {
			if op == nil {
				continue
			}
			for status, r := range op.Responses {
				if status == "401" {
					continue
				}
				if r.Headers == nil {
					r.Headers = map[string]*huma.Param{}
				}
				for name, description := range headers {
					r.Headers[name] = &huma.Param{Description: description, Schema: &huma.Schema{Type: huma.TypeInteger, Minimum: new(0.0)}}
				}
			}
		}
	}
}

// NewHandler builds the API's HTTP handler: operations, OpenAPI document and docs, and
// health endpoints. A nil ready reports ready whenever the process answers. The server
// must have its verifier (or run insecure): a handler that checks no caller is a wiring
// mistake, caught here rather than served.
func NewHandler(s *Server, ready *httpserver.Readiness) http.Handler {
	if s.guard == nil {
		panic("api: NewHandler without a token verifier: call WithVerifier, or set " + auth.InsecureVariable + "=true for local use")
	}
	if ready == nil {
		ready = httpserver.NewReadiness(nil)
	}
	router := httpserver.NewRouter(s.logger)
	api := httpserver.NewAPI(router, apiTitle, apiVersion, apiDescription)
	s.Register(api)
	httpserver.MountHealth(router, ready)
	return router
}

// Spec returns the API's OpenAPI document.
func Spec() *huma.OpenAPI {
	api := httpserver.NewAPI(chi.NewRouter(), apiTitle, apiVersion, apiDescription)
	New(Deps{}, DefaultConfig(), logging.Discard()).Register(api)
	return api.OpenAPI()
}

// Run serves the API until ctx is cancelled, then drains and closes its connections.
func Run(ctx context.Context, cfg Config, logger *slog.Logger) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Insecure {
		auth.WarnInsecure(logger, "api")
	}
	tc, err := temporalclient.Dial(cfg.Config, logger)
	if err != nil {
		return err
	}
	defer tc.Close()

	opts, err := redis.ParseURL(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("REDIS_URL: %w", err)
	}
	opts.DialTimeout = redisCallTimeout * 3
	opts.ReadTimeout = redisCallTimeout
	opts.WriteTimeout = redisCallTimeout
	rdb := redis.NewClient(opts)
	defer func() {
		if err := rdb.Close(); err != nil {
			logger.Warn("close the Redis client", "error", err)
		}
	}()

	httpClient := svcclient.NewHTTPClient()
	// Calls to the services carry the API's service token, addressed to each service.
	orderHTTP, inventoryHTTP := httpClient, httpClient
	if cfg.ServiceKey != "" {
		signer, err := cfg.signer()
		if err != nil {
			return err
		}
		orderHTTP, inventoryHTTP = signer.Client(httpClient, audienceOrder), signer.Client(httpClient, audienceInventory)
	}
	// The memo is read back with the converter the client writes it with.
	dc, err := cfg.DataConverter()
	if err != nil {
		return err
	}
	deps := Deps{
		Temporal:      tc,
		Redis:         rdb,
		Orders:        orderclient.New(cfg.OrderServiceURL, orderHTTP, cfg.ServiceCallTimeout),
		Inventory:     inventoryclient.New(cfg.InventoryServiceURL, inventoryHTTP, cfg.ServiceCallTimeout),
		DataConverter: dc,
	}
	checks := map[string]httpserver.Check{
		"temporal": func(ctx context.Context) error {
			_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
			return err
		},
		"order-service":     serviceReady(httpClient, cfg.OrderServiceURL),
		"inventory-service": serviceReady(httpClient, cfg.InventoryServiceURL),
	}
	srv := New(deps, cfg, logger)
	if !cfg.Insecure {
		verifier, err := auth.NewOIDCVerifier(ctx, cfg.OIDCConfig, nil, logger)
		if err != nil {
			return err
		}
		srv.WithVerifier(verifier)
		// Without the issuer's keys no token can be checked: every request would be 401.
		checks["auth-keys"] = verifier.Ready
	}
	// Without Redis the API keeps serving (idempotency falls back to Temporal, rate limits
	// to in-process limiters), so Redis only degrades readiness.
	ready := httpserver.NewReadiness(checks).WithDegraded(map[string]httpserver.Check{
		"redis": func(ctx context.Context) error { return rdb.Ping(ctx).Err() },
	})
	handler := NewHandler(srv, ready)
	return httpserver.ListenAndServe(ctx, logger, cfg.HTTPAddr, handler, ready, cfg.ShutdownTiming)
}

// The services' names are the audiences of the API's service tokens.
const (
	audienceOrder     = "order"
	audienceInventory = "inventory"
)

// serviceReady checks a service's own /readyz.
func serviceReady(httpClient *http.Client, baseURL string) httpserver.Check {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(baseURL, "/")+"/readyz", nil)
		if err != nil {
			return err
		}
		resp, err := httpClient.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close() // only the status is read
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s/readyz answered %d", baseURL, resp.StatusCode)
		}
		return nil
	}
}
