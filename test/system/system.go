// Package system starts one whole sagaflow inside a test process: the three services
// over HTTP on private databases, each checking its callers' service tokens, every worker
// pool on the test binary's Temporal dev server, calling as its own identity, and the
// public API on a private Redis key space. Tests that exercise the system end to end
// share it instead of wiring the components each on their own.
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
	"go.temporal.io/sdk/converter"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
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
	"github.com/sagaflow/sagaflow/test/testkeys"
	"github.com/sagaflow/sagaflow/test/testtemporal"
	"github.com/sagaflow/sagaflow/workers"
)

// callTimeout bounds each call of the typed service clients.
const callTimeout = 10 * time.Second

// System is the running services and worker pools, with handles on what they write.
type System struct {
	OrderURL, PaymentURL, InventoryURL string
	OrderDB, PaymentDB, InventoryDB    *sqlx.DB

	// Keys are the system's service keys: each identity's private key and the public set
	// every service trusts. The services check each call against them, as in production.
	Keys *testkeys.Keys
	// Orders, Payments and Inventory call as admin, the operators' tools: they read
	// everything and keep the catalog, and make no saga step (ClientsAs gives those).
	Orders    *orderclient.Client
	Payments  *payclient.Client
	Inventory *invclient.Client

	Temporal client.Client
	// PayloadKeys encrypt every payload the system's clients write (TEMPORAL_PAYLOAD_KEYS).
	PayloadKeys payloadcodec.Config
	Redis       *redis.Client
	RedisPrefix string

	logger    func(component string) *slog.Logger
	unchecked bool
	issuer    apiIssuer // the public API's token issuer (auth.go)
	http      *http.Client
	// dataConverter encrypts with PayloadKeys, as every client of the system does.
	dataConverter converter.DataConverter
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

	s.Keys = testkeys.New(t)
	invLog, payLog, ordLog := logger("inventory"), logger("payment"), logger("order")
	s.InventoryURL = s.serve(t, "inventory", inventory.NewGuardedHandler(inventory.NewService(invDB, invLog),
		s.Keys.Guard(t, invclient.ServiceName, invLog), invLog, nil))
	s.PaymentURL = s.serve(t, "payment", payment.NewGuardedHandler(payment.NewService(payDB, payLog, payment.NewTestProcessor(0)),
		s.Keys.Guard(t, payclient.ServiceName, payLog), payLog, nil))
	s.OrderURL = s.serve(t, "order", order.NewGuardedHandler(order.NewService(ordDB, ordLog),
		s.Keys.Guard(t, orderclient.ServiceName, ordLog), ordLog, nil))

	// One transport under every identity's clients, as in a process that hosts them all.
	s.http = svcclient.NewHTTPClient()
	admin := s.ClientsAs(auth.IdentityAdmin)
	s.Orders, s.Payments, s.Inventory = admin.Orders, admin.Payments, admin.Inventory

	// Every payload the system writes to Temporal is encrypted, as in a deployment.
	key, err := payloadcodec.GenerateKey("system")
	if err != nil {
		t.Fatal(err)
	}
	s.PayloadKeys = payloadcodec.Config{Keys: payloadcodec.Secret(key), KeyID: "system"}
	if s.dataConverter, err = s.PayloadKeys.DataConverter(); err != nil {
		t.Fatal(err)
	}
	c, err := temporalclient.Dial(temporalclient.Config{Address: testtemporal.TemporalAddress(t), Namespace: "default", Config: s.PayloadKeys}, logger("temporal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s.Temporal = c

	// Each pool calls as its own identity, as its own process would.
	as := func(pool string) testkeys.Clients { return s.ClientsAs(workers.PoolIdentity(pool)) }
	group, err := workers.New(c, workers.Options{
		Pools:       []string{workers.PoolAll},
		Local:       workers.Clients(as(workers.PoolSagas)),
		Orders:      as(workers.PoolOrders).Orders,
		Payments:    as(workers.PoolPayments).Payments,
		Inventory:   as(workers.PoolInventory).Inventory,
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

// DataConverter reads and writes payloads the way the system's clients do (encrypted with
// PayloadKeys).
func (s *System) DataConverter() converter.DataConverter { return s.dataConverter }

// ClientsAs returns clients of the three services that call as identity.
func (s *System) ClientsAs(identity string) testkeys.Clients {
	return s.Keys.ClientsAs(identity, testkeys.URLs{Order: s.OrderURL, Payment: s.PaymentURL, Inventory: s.InventoryURL}, s.http, callTimeout)
}

// ServeAPI runs a public API with cfg until the test ends and returns its URL. It reads
// orders and the catalog as the api identity.
func (s *System) ServeAPI(t testing.TB, cfg api.Config) string {
	t.Helper()
	reader := s.ClientsAs(auth.IdentityAPI)
	srv := api.New(api.Deps{
		Temporal: s.Temporal, Redis: s.Redis, Orders: reader.Orders, Inventory: reader.Inventory,
		DataConverter: s.dataConverter,
	}, cfg, s.logger("api"))
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
