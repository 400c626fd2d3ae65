package audit_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/services/inventory"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	"github.com/sagaflow/sagaflow/services/order"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/services/payment"
	paymentclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testkeys"
	"github.com/sagaflow/sagaflow/tools/audit"
)

// world is the three real services, each over its own fresh database, served over HTTP
// and driven through their typed clients the way the saga drives them: orders, payments
// and inventory call as the saga pool, admin as the operators' tools (the catalog, the
// auditor).
type world struct {
	t           *testing.T
	ctx         context.Context
	keys        *testkeys.Keys
	orders      *orderclient.Client
	payments    *paymentclient.Client
	inventory   *invclient.Client
	admin       testkeys.Clients
	orderDB     *sqlx.DB
	paymentDB   *sqlx.DB
	inventoryDB *sqlx.DB
	orderURL    string
	paymentSrv  *httptest.Server
}

// The catalog every world starts with.
const (
	skuA = "SKU-A" // 1500 USD, 10 in stock
	skuB = "SKU-B" // 250 USD, 5 in stock
	skuC = "SKU-C" // 999 USD, the last unit
)

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	logger := logging.Discard()
	ready := httpserver.NewReadiness(nil)
	serve := func(h http.Handler) *httptest.Server {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv
	}
	_, orderDB := testenv.ServiceDatabase(t, "order")
	_, paymentDB := testenv.ServiceDatabase(t, "payment")
	_, inventoryDB := testenv.ServiceDatabase(t, "inventory")
	keys := testkeys.New(t)
	guard := func(service string) *auth.Guard { return keys.Guard(t, service, logger) }
	orderSrv := serve(order.NewGuardedHandler(order.NewService(orderDB, logger), guard(orderclient.ServiceName), logger, ready))
	paymentSrv := serve(payment.NewGuardedHandler(payment.NewService(paymentDB, logger, payment.NewTestProcessor(0)), guard(paymentclient.ServiceName), logger, ready))
	inventorySrv := serve(inventory.NewGuardedHandler(inventory.NewService(inventoryDB, logger), guard(invclient.ServiceName), logger, ready))
	urls := testkeys.URLs{Order: orderSrv.URL, Payment: paymentSrv.URL, Inventory: inventorySrv.URL}
	saga := keys.ClientsAs(auth.IdentitySagaWorker, urls, nil, 10*time.Second)
	w := &world{
		t:           t,
		ctx:         ctx,
		keys:        keys,
		orders:      saga.Orders,
		payments:    saga.Payments,
		inventory:   saga.Inventory,
		admin:       keys.ClientsAs(auth.IdentityAdmin, urls, nil, 10*time.Second),
		orderDB:     orderDB,
		paymentDB:   paymentDB,
		inventoryDB: inventoryDB,
		orderURL:    orderSrv.URL,
		paymentSrv:  paymentSrv,
	}
	w.product(skuA, 1500, 10)
	w.product(skuB, 250, 5)
	w.product(skuC, 999, 1)
	return w
}

func (w *world) must(err error, step string) {
	w.t.Helper()
	if err != nil {
		w.t.Fatalf("%s: %v", step, err)
	}
}

func (w *world) product(sku string, price, stock int64) {
	w.t.Helper()
	_, err := w.admin.Inventory.UpsertProduct(w.ctx, sku, invclient.UpsertProductRequest{Name: "Product " + sku, UnitPrice: price, Currency: "USD"})
	w.must(err, "upsert "+sku)
	_, err = w.admin.Inventory.Restock(w.ctx, sku, "seed/"+sku, invclient.RestockRequest{Quantity: stock})
	w.must(err, "restock "+sku)
}

func (w *world) auditor() *audit.Auditor {
	return audit.New(w.admin.Orders, w.admin.Payments, w.admin.Inventory)
}

// audit runs the auditor with a one-hour in-flight bound unless opts say otherwise.
func (w *world) audit(opts audit.Options) audit.Report {
	w.t.Helper()
	if opts.InFlightBound == 0 && opts.Now == nil {
		opts.InFlightBound = time.Hour
	}
	report, err := w.auditor().Run(w.ctx, opts)
	w.must(err, "audit")
	return report
}

// line is one requested order line.
func line(sku string, qty int64) orderclient.NewLine {
	return orderclient.NewLine{SKU: sku, Quantity: qty}
}

// key is the saga's idempotency key for a step of an order.
func key(orderID, step string) string { return "order-" + orderID + "/" + step }

// Saga steps, each one call to one service.

func (w *world) create(id string, lines ...orderclient.NewLine) {
	w.t.Helper()
	_, err := w.orders.Create(w.ctx, key(id, "create"), orderclient.CreateOrderRequest{
		OrderID: id, CustomerID: "cust-1", WorkflowID: "order-" + id, Lines: lines,
	})
	w.must(err, "create "+id)
}

func (w *world) order(id string) orderclient.Order {
	w.t.Helper()
	o, err := w.admin.Orders.Get(w.ctx, id)
	w.must(err, "get order "+id)
	return o
}

// reserve reserves the order's lines and prices the order from the reservation, moving
// it to RESERVED.
func (w *world) reserve(id string) {
	w.t.Helper()
	r := w.reserveOnly(id)
	w.price(id, r, 0)
}

func (w *world) reserveOnly(id string) invclient.Reservation {
	w.t.Helper()
	o := w.order(id)
	req := invclient.ReserveRequest{OrderID: id}
	for _, l := range o.Lines {
		req.Lines = append(req.Lines, invclient.ReserveLine{SKU: l.SKU, Quantity: l.Quantity})
	}
	r, err := w.inventory.Reserve(w.ctx, key(id, "reserve"), req)
	w.must(err, "reserve "+id)
	return r
}

// price moves the order to RESERVED priced from the reservation's lines, each unit price
// changed by skew.
func (w *world) price(id string, r invclient.Reservation, skew int64) {
	w.t.Helper()
	req := orderclient.TransitionRequest{Status: orderclient.StatusReserved, Currency: "USD"}
	for _, l := range r.Lines {
		req.Lines = append(req.Lines, orderclient.PricedLine{SKU: l.SKU, Name: l.Name, Quantity: l.Quantity, UnitPrice: l.UnitPrice + skew})
	}
	_, err := w.orders.Transition(w.ctx, id, key(id, "price"), req)
	w.must(err, "price "+id)
}

func (w *world) move(id string, status orderclient.Status) {
	w.t.Helper()
	_, err := w.orders.Transition(w.ctx, id, key(id, "to-"+string(status)), orderclient.TransitionRequest{Status: status, Reason: "test"})
	w.must(err, "move "+id+" to "+string(status))
}

// authorizeAmount authorizes amount of the order's currency with a card token.
func (w *world) authorizeAmount(id, token string, amount int64) error {
	_, err := w.payments.Authorize(w.ctx, key(id, "authorize"), paymentclient.AuthorizeRequest{
		OrderID: id, Amount: amount, Currency: "USD", PaymentToken: token,
	})
	return err
}

// authorize authorizes the order's total and moves it to AUTHORIZED.
func (w *world) authorize(id string) {
	w.t.Helper()
	w.must(w.authorizeAmount(id, paymentclient.TokenVisa, w.order(id).Total), "authorize "+id)
	w.move(id, orderclient.StatusAuthorized)
}

func (w *world) capture(id string) {
	w.t.Helper()
	_, err := w.payments.Capture(w.ctx, id, key(id, "capture"))
	w.must(err, "capture "+id)
}

func (w *world) void(id string) {
	w.t.Helper()
	_, err := w.payments.Void(w.ctx, id, key(id, "void"))
	w.must(err, "void "+id)
}

func (w *world) refund(id string, amount int64) {
	w.t.Helper()
	_, err := w.payments.Refund(w.ctx, id, key(id, "refund"), paymentclient.RefundRequest{Amount: amount})
	w.must(err, "refund "+id)
}

func (w *world) commit(id string) {
	w.t.Helper()
	_, err := w.inventory.Commit(w.ctx, id, key(id, "commit"))
	w.must(err, "commit "+id)
}

func (w *world) release(id string) {
	w.t.Helper()
	_, err := w.inventory.Release(w.ctx, id, key(id, "release"))
	w.must(err, "release "+id)
}

func (w *world) exec(db *sqlx.DB, query string, args ...any) {
	w.t.Helper()
	res, err := db.ExecContext(w.ctx, query, args...)
	w.must(err, query)
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		w.t.Fatalf("%s changed no row (%v)", query, err)
	}
}

// Whole sagas.

// confirmed runs the happy path: reserve, authorize, capture (the pivot), commit, confirm.
func (w *world) confirmed(id string, lines ...orderclient.NewLine) {
	w.t.Helper()
	w.create(id, lines...)
	w.reserve(id)
	w.authorize(id)
	w.capture(id)
	w.move(id, orderclient.StatusCaptured)
	w.commit(id)
	w.move(id, orderclient.StatusConfirmed)
}

// failedAfterReserve: stock reserved, then the saga failed and released it.
func (w *world) failedAfterReserve(id string) {
	w.t.Helper()
	w.create(id, line(skuA, 2))
	w.reserve(id)
	w.move(id, orderclient.StatusCompensating)
	w.release(id)
	w.move(id, orderclient.StatusFailed)
}

// cancelledWithVoid: reserved and authorized, then cancelled; the hold is voided and
// the stock released, newest first.
func (w *world) cancelledWithVoid(id string) {
	w.t.Helper()
	w.create(id, line(skuA, 1), line(skuB, 2))
	w.reserve(id)
	w.authorize(id)
	w.move(id, orderclient.StatusCompensating)
	w.void(id)
	w.release(id)
	w.move(id, orderclient.StatusCancelled)
}

// declined: the card is declined, so only the stock is given back.
func (w *world) declined(id string) {
	w.t.Helper()
	w.create(id, line(skuB, 1))
	w.reserve(id)
	if err := w.authorizeAmount(id, paymentclient.TokenChargeDeclined, w.order(id).Total); err == nil {
		w.t.Fatalf("authorize %s with a declined card succeeded", id)
	}
	w.move(id, orderclient.StatusCompensating)
	w.release(id)
	w.move(id, orderclient.StatusFailed)
}

// cancelledEarly: cancelled before any step ran; the compensations leave markers.
func (w *world) cancelledEarly(id string) {
	w.t.Helper()
	w.create(id, line(skuA, 1))
	w.void(id)
	w.release(id)
	w.move(id, orderclient.StatusCancelled)
}

// refundedCancel: captured, then compensated with a full refund.
func (w *world) refundedCancel(id string) {
	w.t.Helper()
	w.create(id, line(skuB, 2))
	w.reserve(id)
	w.authorize(id)
	w.capture(id)
	w.move(id, orderclient.StatusCompensating)
	w.refund(id, w.order(id).Total)
	w.release(id)
	w.move(id, orderclient.StatusCancelled)
}

// inFlight: reserved and authorized, the saga still running.
func (w *world) inFlight(id string) {
	w.t.Helper()
	w.create(id, line(skuA, 3))
	w.reserve(id)
	w.authorize(id)
}

// reserveRequest reserves qty of one SKU for an order.
func reserveRequest(orderID, sku string, qty int64) invclient.ReserveRequest {
	return invclient.ReserveRequest{OrderID: orderID, Lines: []invclient.ReserveLine{{SKU: sku, Quantity: qty}}}
}

// reservationOf is a reservation as inventory would price it, for pricing an order
// that never reserved anything.
func reservationOf(sku string, qty, unitPrice int64) invclient.Reservation {
	return invclient.Reservation{Lines: []invclient.ReservedLine{{SKU: sku, Name: "Product " + sku, Quantity: qty, UnitPrice: unitPrice, Currency: "USD"}}}
}
