package badinput

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	"github.com/sagaflow/sagaflow/internal/temporalclient"
	"github.com/sagaflow/sagaflow/internal/testenv"
	"github.com/sagaflow/sagaflow/services/inventory"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	"github.com/sagaflow/sagaflow/services/order"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/services/payment"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/workers"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// approvalThreshold holds orders of $1,000.00 or more, so a test can catch one mid-saga.
const approvalThreshold = 100000

// system is one sagaflow running in-process: the three services, every worker pool and the
// public API, with direct handles on each database and on Redis to see what was written.
type system struct {
	apiURL, orderURL, paymentURL, inventoryURL string

	orderDB, paymentDB, inventoryDB *sqlx.DB
	redis                           *redis.Client
	redisPrefix                     string
	temporal                        client.Client

	orders    *orderclient.Client
	payments  *payclient.Client
	inventory *invclient.Client
}

func logger(component string) *slog.Logger {
	if os.Getenv("BADINPUT_LOGS") != "" {
		return logging.New(os.Stderr, "debug", component)
	}
	return logging.Discard()
}

func startSystem(t *testing.T) *system {
	t.Helper()
	_, invDB := testenv.ServiceDatabase(t, "inventory")
	_, payDB := testenv.ServiceDatabase(t, "payment")
	_, ordDB := testenv.ServiceDatabase(t, "order")
	invLog, payLog, ordLog := logger("inventory"), logger("payment"), logger("order")
	invSrv := httptest.NewServer(inventory.NewHandler(inventory.NewService(invDB, invLog), invLog, nil))
	t.Cleanup(invSrv.Close)
	paySrv := httptest.NewServer(payment.NewHandler(payment.NewService(payDB, payLog, payment.NewTestProcessor(0)), payLog, nil))
	t.Cleanup(paySrv.Close)
	ordSrv := httptest.NewServer(order.NewHandler(order.NewService(ordDB, ordLog), ordLog, nil))
	t.Cleanup(ordSrv.Close)

	httpClient := svcclient.NewHTTPClient()
	s := &system{
		orderURL: ordSrv.URL, paymentURL: paySrv.URL, inventoryURL: invSrv.URL,
		orderDB: ordDB, paymentDB: payDB, inventoryDB: invDB,
		orders:    orderclient.New(ordSrv.URL, httpClient, 10*time.Second),
		payments:  payclient.New(paySrv.URL, httpClient, 10*time.Second),
		inventory: invclient.New(invSrv.URL, httpClient, 10*time.Second),
	}
	c, err := temporalclient.Dial(temporalclient.Config{Address: testenv.TemporalAddress(t), Namespace: "default"}, logger("temporal"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s.temporal = c

	group, err := workers.New(c, workers.Options{
		Pools:       []string{workers.PoolAll},
		Orders:      s.orders,
		Payments:    s.payments,
		Inventory:   s.inventory,
		StopTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := group.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(group.Stop)

	s.redis, s.redisPrefix = testenv.Redis(t)
	cfg := api.DefaultConfig()
	cfg.RedisKeyPrefix = s.redisPrefix
	cfg.RateLimitPerSecond = 0
	cfg.ApprovalThreshold = approvalThreshold
	cfg.ApprovalTimeout = time.Hour
	srv := api.New(api.Deps{Temporal: c, Redis: s.redis, Orders: s.orders, Inventory: s.inventory}, cfg, logger("api"))
	apiSrv := httptest.NewServer(api.NewHandler(srv, nil))
	t.Cleanup(apiSrv.Close)
	s.apiURL = apiSrv.URL

	ctx := context.Background()
	for _, p := range catalog() {
		if _, err := s.inventory.UpsertProduct(ctx, p.sku, invclient.UpsertProductRequest{Name: p.name, UnitPrice: p.price, Currency: "USD"}); err != nil {
			t.Fatalf("upsert %s: %v", p.sku, err)
		}
		if _, err := s.inventory.Restock(ctx, p.sku, "seed/"+p.sku, invclient.RestockRequest{Quantity: p.stock}); err != nil {
			t.Fatalf("restock %s: %v", p.sku, err)
		}
	}
	return s
}

type product struct {
	sku   string
	name  string
	price int64
	stock int64
}

// Catalog SKUs the cases refer to.
const (
	skuBeans   = "BEANS"
	skuMachine = "MACHINE"
	skuHuge    = "HUGE" // priced so that two units overflow int64 minor units
)

func catalog() []product {
	return []product{
		{skuBeans, "Espresso beans", 2450, 1000},
		{skuMachine, "Espresso machine", 249000, 100},
		{skuHuge, "Priced past any total", 1 << 62, 100},
	}
}

func (s *system) url(target string) string {
	switch target {
	case targetAPI:
		return s.apiURL
	case targetOrder:
		return s.orderURL
	case targetPayment:
		return s.paymentURL
	case targetInventory:
		return s.inventoryURL
	}
	panic("unknown target " + target)
}

// recordPendingOrder records pendingOrder in the order service.
func (s *system) recordPendingOrder(t *testing.T) {
	t.Helper()
	_, err := s.orders.Create(context.Background(), "bi/"+pendingOrder, orderclient.CreateOrderRequest{
		OrderID: pendingOrder, CustomerID: "c-1", WorkflowID: "order-" + pendingOrder,
		Lines: []orderclient.NewLine{{SKU: skuBeans, Quantity: 2}, {SKU: "MUG", Quantity: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// requireNoSaga fails when a saga exists for the order.
func (s *system) requireNoSaga(t *testing.T, orderID string) {
	t.Helper()
	_, err := s.temporal.DescribeWorkflowExecution(context.Background(), "order-"+orderID, "")
	var nf *serviceerror.NotFound
	if !errors.As(err, &nf) {
		t.Errorf("a refused request started saga order-%s (describe: %v)", orderID, err)
	}
}
