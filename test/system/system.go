// Package system starts one whole sagaflow inside a test process: the three services
// over HTTP on private databases, every worker pool on the test binary's Temporal dev
// server, and the public API on a private Redis key space. Tests that exercise the system
// end to end share it instead of wiring the components each on their own.
package system

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	"github.com/sagaflow/sagaflow/internal/temporalclient"
	"github.com/sagaflow/sagaflow/services/inventory"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	"github.com/sagaflow/sagaflow/services/order"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/services/payment"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/test/contract"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testtemporal"
	"github.com/sagaflow/sagaflow/workers"
)

// callTimeout bounds each call of the typed service clients.
const callTimeout = 10 * time.Second

// System is the running services and worker pools, with handles on what they write.
type System struct {
	OrderURL, PaymentURL, InventoryURL string
	OrderDB, PaymentDB, InventoryDB    *sqlx.DB

	Orders    *orderclient.Client
	Payments  *payclient.Client
	Inventory *invclient.Client

	Temporal    client.Client
	Redis       *redis.Client
	RedisPrefix string

	logger    func(component string) *slog.Logger
	unchecked bool
	issuer    apiIssuer // the public API's token issuer (auth.go)
}

// Option changes how Start runs the system.
type Option func(*System)

// WithoutContract serves the components without holding their exchanges to the OpenAPI
// documents: for a profile of our own code, which the validator's work would blur.
func WithoutContract() Option { return func(s *System) { s.unchecked = true } }

// Start runs the services and every worker pool (one process-wide "all" group) until the
// test ends. logger gives each component its logger.
func Start(t testing.TB, logger func(component string) *slog.Logger, opts ...Option) *System {
	t.Helper()
	s := &System{logger: logger}
	for _, opt := range opts {
		opt(s)
	}
	var invDB, payDB, ordDB *sqlx.DB
	_, invDB = testenv.ServiceDatabase(t, "inventory")
	_, payDB = testenv.ServiceDatabase(t, "payment")
	_, ordDB = testenv.ServiceDatabase(t, "order")
	s.InventoryDB, s.PaymentDB, s.OrderDB = invDB, payDB, ordDB

	invLog, payLog, ordLog := logger("inventory"), logger("payment"), logger("order")
	s.InventoryURL = s.serve(t, "inventory", inventory.NewHandler(inventory.NewService(invDB, invLog), invLog, nil))
	s.PaymentURL = s.serve(t, "payment", payment.NewHandler(payment.NewService(payDB, payLog, payment.NewTestProcessor(0)), payLog, nil))
	s.OrderURL = s.serve(t, "order", order.NewHandler(order.NewService(ordDB, ordLog), ordLog, nil))

	httpClient := svcclient.NewHTTPClient()
	s.Orders = orderclient.New(s.OrderURL, httpClient, callTimeout)
	s.Payments = payclient.New(s.PaymentURL, httpClient, callTimeout)
	s.Inventory = invclient.New(s.InventoryURL, httpClient, callTimeout)

	c, err := temporalclient.Dial(temporalclient.Config{Address: testtemporal.TemporalAddress(t), Namespace: "default"}, logger("temporal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s.Temporal = c

	group, err := workers.New(c, workers.Options{
		Pools:  []string{workers.PoolAll},
		Orders: s.Orders, Payments: s.Payments, Inventory: s.Inventory,
		StopTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := group.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(group.Stop)

	s.Redis, s.RedisPrefix = testenv.Redis(t)
	return s
}

// APIConfig is the API's default configuration on this system's Redis key space (under
// keySpace, so several APIs can share it) with rate limiting off, checking the tokens of
// the system's issuer (Token), which t's end stops.
func (s *System) APIConfig(t testing.TB, keySpace string) api.Config {
	t.Helper()
	cfg := api.DefaultConfig()
	cfg.RedisKeyPrefix = s.RedisPrefix + keySpace
	cfg.RateLimitPerSecond = 0
	s.apiAuth(t, &cfg)
	return cfg
}

// ServeAPI runs a public API with cfg until the test ends and returns its URL.
func (s *System) ServeAPI(t testing.TB, cfg api.Config) string {
	t.Helper()
	srv := api.New(api.Deps{Temporal: s.Temporal, Redis: s.Redis, Orders: s.Orders, Inventory: s.Inventory}, cfg, s.logger("api"))
	s.authenticate(t, srv, cfg)
	return s.servePublic(t, cfg, api.NewHandler(srv, nil))
}

// Product is one catalog entry with its starting stock.
type Product struct {
	SKU, Name string
	Price     int64 // minor units of USD
	Stock     int64
}

// Seed puts the products in the catalog and restocks each once.
func (s *System) Seed(t testing.TB, products []Product) {
	t.Helper()
	ctx := context.Background()
	for _, p := range products {
		if _, err := s.Inventory.UpsertProduct(ctx, p.SKU, invclient.UpsertProductRequest{Name: p.Name, UnitPrice: p.Price, Currency: "USD"}); err != nil {
			t.Fatalf("upsert %s: %v", p.SKU, err)
		}
		if _, err := s.Inventory.Restock(ctx, p.SKU, "seed/"+p.SKU, invclient.RestockRequest{Quantity: p.Stock}); err != nil {
			t.Fatalf("restock %s: %v", p.SKU, err)
		}
	}
}

// serve runs a component's handler until the test ends. Every request that reaches it,
// from the test or from another component, and every answer it gives are held to the
// component's committed OpenAPI document (unless WithoutContract): a mismatch fails the test.
func (s *System) serve(t testing.TB, component string, h http.Handler) string {
	if !s.unchecked {
		h = contract.MustFor(t, component).Handler(t, h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}
