package badinput

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/logging"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/test/system"
	"github.com/sagaflow/sagaflow/test/testkeys"
	"github.com/sagaflow/sagaflow/test/testtemporal"
)

func TestMain(m *testing.M) { testtemporal.Main(m) }

// approvalThreshold holds orders of $1,000.00 or more, so a test can catch one mid-saga.
const approvalThreshold = 100000

// liveSystem is one sagaflow running in-process: the three services, every worker pool and the
// public API, with direct handles on each database and on Redis to see what was written.
type liveSystem struct {
	apiURL, orderURL, paymentURL, inventoryURL string

	orderDB, paymentDB, inventoryDB *sqlx.DB
	redis                           *redis.Client
	redisPrefix                     string
	temporal                        client.Client

	// orders, payments and inventory call as admin, which keeps the catalog and reads
	// everything; saga makes the saga's steps, as the saga pool.
	orders    *orderclient.Client
	payments  *payclient.Client
	inventory *invclient.Client

	sys *system.System
	// apiAuth is the Authorization of the suite's calls to the public API: customer cust-1,
	// who is also an operator, so that every refusal is the input's, never the caller's.
	apiAuth string
	saga    testkeys.Clients
	keys    *testkeys.Keys
}

// apiCustomer is the customer the suite's API calls are from.
const apiCustomer = "cust-1"

func logger(component string) *slog.Logger {
	if os.Getenv("BADINPUT_LOGS") != "" {
		return logging.New(os.Stderr, "debug", component)
	}
	return logging.Discard()
}

func startSystem(t *testing.T) *liveSystem {
	t.Helper()
	ts := system.Start(t, logger)
	s := &liveSystem{
		orderURL: ts.OrderURL, paymentURL: ts.PaymentURL, inventoryURL: ts.InventoryURL,
		orderDB: ts.OrderDB, paymentDB: ts.PaymentDB, inventoryDB: ts.InventoryDB,
		redis: ts.Redis, redisPrefix: ts.RedisPrefix, temporal: ts.Temporal,
		orders: ts.Orders, payments: ts.Payments, inventory: ts.Inventory,
		sys:  ts,
		saga: ts.ClientsAs(auth.IdentitySagaWorker), keys: ts.Keys,
	}
	cfg := ts.APIConfig(t, "")
	s.apiAuth = "Bearer " + ts.Token(t, apiCustomer,
		auth.ScopeOrdersRead, auth.ScopeOrdersWrite, auth.ScopeOrdersApprove, auth.ScopeOrdersReadAll)
	cfg.ApprovalThreshold = approvalThreshold
	cfg.ApprovalTimeout = time.Hour
	s.apiURL = ts.ServeAPI(t, cfg)
	ts.Seed(t, catalog())
	return s
}

// Catalog SKUs the cases refer to.
const (
	skuBeans   = "BEANS"
	skuMachine = "MACHINE"
	skuHuge    = "HUGE" // priced so that two units overflow int64 minor units
)

func catalog() []system.Product {
	return []system.Product{
		{SKU: skuBeans, Name: "Espresso beans", Price: 2450, Stock: 1000},
		{SKU: skuMachine, Name: "Espresso machine", Price: 249000, Stock: 100},
		{SKU: skuHuge, Name: "Priced past any total", Price: 1 << 62, Stock: 100},
	}
}

func (s *liveSystem) url(target string) string {
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
func (s *liveSystem) recordPendingOrder(t *testing.T) {
	t.Helper()
	_, err := s.saga.Orders.Create(context.Background(), "bi/"+pendingOrder, orderclient.CreateOrderRequest{
		OrderID: pendingOrder, CustomerID: "c-1", WorkflowID: "order-" + pendingOrder,
		Lines: []orderclient.NewLine{{SKU: skuBeans, Quantity: 2}, {SKU: "MUG", Quantity: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

// requireNoSaga fails when a saga exists for the order.
func (s *liveSystem) requireNoSaga(t *testing.T, orderID string) {
	t.Helper()
	_, err := s.temporal.DescribeWorkflowExecution(context.Background(), "order-"+orderID, "")
	var nf *serviceerror.NotFound
	if !errors.As(err, &nf) {
		t.Errorf("a refused request started saga order-%s (describe: %v)", orderID, err)
	}
}

// callerOf is the identity a well-behaved caller of a service operation has: the saga pool
// for the saga's steps, admin for the catalog and every read. The suite's bad requests
// come from allowed callers, so what they test is the input, not the caller.
func callerOf(target, method, path string) string {
	switch {
	case method == http.MethodGet || method == http.MethodHead:
		return auth.IdentityAdmin
	case target == targetInventory && strings.HasPrefix(path, "/products/"):
		return auth.IdentityAdmin
	}
	return auth.IdentitySagaWorker
}

// bearer is the Authorization value of a request to target ("" for the public API, whose
// callers this suite does not cover).
func (s *liveSystem) bearer(t *testing.T, target, method, path string) string {
	t.Helper()
	if target == targetAPI {
		return s.apiAuth
	}
	token, err := s.keys.Signer(callerOf(target, method, path)).Token(target)
	if err != nil {
		t.Fatal(err)
	}
	return "Bearer " + token
}
