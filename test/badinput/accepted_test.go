package badinput

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/api"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/tools/audit"
	"github.com/sagaflow/sagaflow/tools/devauth"
)

// Text full of SQL and LIKE metacharacters, quotes and backslashes. Where a field has no
// pattern that forbids them, it must be stored and read back exactly as sent.
const (
	sqlOrderID  = `bi-sql'); DROP TABLE orders;--`
	sqlCustomer = `c'; DELETE FROM order_lines WHERE ''='`
	sqlName     = `Robert'); DROP TABLE products; -- "quoted" \back\slash %_ $1 ?`
	sqlReason   = `1=1; DROP TABLE payments; -- O'Brien said "no" %_\`
	sqlSKU      = "SQL-1"
)

// storesSQLVerbatim runs one order by hand through the three services with hostile text in
// every free field and id, then checks each service stored it unchanged. The order ends
// FAILED with its stock released and its authorization voided, as a saga would leave it.
func (s *liveSystem) storesSQLVerbatim(t *testing.T) {
	ctx := context.Background()
	if _, err := s.inventory.UpsertProduct(ctx, sqlSKU, invclient.UpsertProductRequest{Name: sqlName, UnitPrice: 100, Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.inventory.Restock(ctx, sqlSKU, "bi/restock/"+sqlSKU, invclient.RestockRequest{Quantity: 10}); err != nil {
		t.Fatal(err)
	}
	key := func(step string) string { return "bi/sql/" + step }
	if _, err := s.saga.Orders.Create(ctx, key("create"), orderclient.CreateOrderRequest{
		OrderID: sqlOrderID, CustomerID: sqlCustomer, WorkflowID: "order-" + sqlOrderID,
		Lines: []orderclient.NewLine{{SKU: sqlSKU, Quantity: 2}},
	}); err != nil {
		t.Fatal(err)
	}
	res, err := s.saga.Inventory.Reserve(ctx, key("reserve"), invclient.ReserveRequest{OrderID: sqlOrderID, Lines: []invclient.ReserveLine{{SKU: sqlSKU, Quantity: 2}}})
	if err != nil {
		t.Fatal(err)
	}
	if res.OrderID != sqlOrderID || len(res.Lines) != 1 || res.Lines[0].Name != sqlName {
		t.Fatalf("reservation %+v does not carry the id and name verbatim", res)
	}
	transition := func(step string, status orderclient.Status, reason string, lines []orderclient.PricedLine) {
		t.Helper()
		req := orderclient.TransitionRequest{Status: status, Reason: reason, Lines: lines}
		if lines != nil {
			req.Currency = "USD"
		}
		if _, err := s.saga.Orders.Transition(ctx, sqlOrderID, key(step), req); err != nil {
			t.Fatalf("move to %s: %v", status, err)
		}
	}
	transition("reserved", "RESERVED", sqlReason, []orderclient.PricedLine{{SKU: sqlSKU, Name: sqlName, Quantity: 2, UnitPrice: 100}})
	pay, err := s.saga.Payments.Authorize(ctx, key("authorize"), payclient.AuthorizeRequest{OrderID: sqlOrderID, Amount: 200, Currency: "USD", PaymentToken: "tok_visa"})
	if err != nil {
		t.Fatal(err)
	}
	if pay.OrderID != sqlOrderID {
		t.Fatalf("payment order id %q, want %q", pay.OrderID, sqlOrderID)
	}
	transition("authorized", "AUTHORIZED", "payment authorized", nil)
	transition("compensating", "COMPENSATING", sqlReason, nil)
	if _, err := s.saga.Payments.Void(ctx, sqlOrderID, key("void")); err != nil {
		t.Fatal(err)
	}
	if _, err := s.saga.Inventory.Release(ctx, sqlOrderID, key("release")); err != nil {
		t.Fatal(err)
	}
	transition("failed", "FAILED", sqlReason, nil)

	// Read back through each service and straight from each database.
	o, err := s.orders.Get(ctx, sqlOrderID)
	if err != nil {
		t.Fatal(err)
	}
	if o.ID != sqlOrderID || o.CustomerID != sqlCustomer || o.FailureReason != sqlReason || o.Lines[0].Name != sqlName {
		t.Errorf("order read back as id %q customer %q reason %q name %q", o.ID, o.CustomerID, o.FailureReason, o.Lines[0].Name)
	}
	var customer string
	if err := s.orderDB.GetContext(ctx, &customer, `SELECT customer_id FROM orders WHERE id = $1`, sqlOrderID); err != nil || customer != sqlCustomer {
		t.Errorf("order row: customer %q (%v), want %q", customer, err, sqlCustomer)
	}
	var reasons int
	if err := s.orderDB.GetContext(ctx, &reasons, `SELECT count(*) FROM order_status_history WHERE order_id = $1 AND reason = $2`, sqlOrderID, sqlReason); err != nil || reasons != 3 {
		t.Errorf("history rows with the reason verbatim: %d (%v), want 3", reasons, err)
	}
	var name string
	if err := s.inventoryDB.GetContext(ctx, &name, `SELECT name FROM products WHERE sku = $1`, sqlSKU); err != nil || name != sqlName {
		t.Errorf("product row: name %q (%v), want %q", name, err, sqlName)
	}
	var voided string
	if err := s.paymentDB.GetContext(ctx, &voided, `SELECT status FROM payments WHERE order_id = $1`, sqlOrderID); err != nil || voided != payclient.PaymentVoided {
		t.Errorf("payment row: status %q (%v), want VOIDED", voided, err)
	}
	for _, table := range []string{"orders", "order_lines", "order_status_history"} {
		var n int
		if err := s.orderDB.GetContext(ctx, &n, `SELECT count(*) FROM `+table); err != nil || n == 0 {
			t.Errorf("table %s: %d rows (%v)", table, n, err)
		}
	}
}

// apiPost posts JSON to the public API with a fresh Idempotency-Key, as the suite's caller
// unless authorization says otherwise.
func (s *liveSystem) apiPost(t *testing.T, path string, body any, authorization ...string) answer {
	t.Helper()
	raw, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	header := defaultHeader(true)
	header.Set("Authorization", s.apiAuth)
	for _, a := range authorization {
		header.Set("Authorization", a)
	}
	return send(t, http.MethodPost, s.apiURL+path, header, raw, false)
}

func (s *liveSystem) apiOrder(t *testing.T, id string) api.Order {
	t.Helper()
	a := send(t, http.MethodGet, s.apiURL+"/orders/"+url.PathEscape(id), http.Header{"Authorization": {s.apiAuth}}, nil, false)
	if a.status != http.StatusOK {
		t.Fatalf("get order %s: %d %s", id, a.status, a.body)
	}
	var o api.Order
	if err := json.Unmarshal(a.body, &o); err != nil {
		t.Fatal(err)
	}
	return o
}

// placeOrder places an order through the public API and returns its id.
func (s *liveSystem) placeOrder(t *testing.T, sku string, quantity int64) string {
	t.Helper()
	a := s.apiPost(t, "/orders", map[string]any{
		"customer_id": apiCustomer, "payment_token": "tok_visa",
		"lines": []map[string]any{{"sku": sku, "quantity": quantity}},
	})
	if a.status != http.StatusAccepted {
		t.Fatalf("place order of %d %s: %d %s", quantity, sku, a.status, a.body)
	}
	var o api.Order
	if err := json.Unmarshal(a.body, &o); err != nil {
		t.Fatal(err)
	}
	return o.ID
}

// awaitStatus polls the public API until the order is in status want.
func (s *liveSystem) awaitStatus(t *testing.T, id string, want orderclient.Status) api.Order {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		o := s.apiOrder(t, id)
		if o.Status == want {
			return o
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s still %s (%s) after 60s, want %s", id, o.Status, o.FailureReason, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// businessFailures are orders the API accepts whose content only the saga can judge
// against the catalog: they must end FAILED with the reason, having undone their steps.
func (s *liveSystem) businessFailures(t *testing.T) {
	for _, c := range []struct {
		sku      string
		quantity int64
		reason   string
	}{
		{"NOPE", 1, "unknown SKU: NOPE"},
		{skuHuge, 2, "reserve-stock failed: the order's amount does not fit in 64-bit minor units"},
		{skuBeans, 5000, "out of stock: BEANS"},
	} {
		id := s.placeOrder(t, c.sku, c.quantity)
		if o := s.awaitStatus(t, id, "FAILED"); o.FailureReason != c.reason {
			t.Errorf("order of %d %s failed with %q, want %q", c.quantity, c.sku, o.FailureReason, c.reason)
		}
	}
}

// decisionVerbatim cancels a held order with a reason full of SQL metacharacters, as an
// operator whose token subject is full of them too: the saga records both, and the order
// service stores them unchanged in the failure reason.
func (s *liveSystem) decisionVerbatim(t *testing.T) {
	id := s.placeOrder(t, skuMachine, 1)
	s.awaitStatus(t, id, "AWAITING_APPROVAL")
	by, reason := `O'Brien"; --`, `'); DROP TABLE orders; -- 100% sure_\`
	operator := "Bearer " + s.sys.Token(t, by, devauth.OperatorScopes...)
	a := s.apiPost(t, "/orders/"+id+"/cancel", map[string]string{"reason": reason}, operator)
	if a.status != http.StatusAccepted {
		t.Fatalf("cancel: %d %s", a.status, a.body)
	}
	want := "cancelled by " + by + ": " + reason
	o := s.awaitStatus(t, id, "CANCELLED")
	if o.FailureReason != want {
		t.Errorf("failure reason %q, want %q", o.FailureReason, want)
	}
	var stored string
	if err := s.orderDB.GetContext(context.Background(), &stored, `SELECT failure_reason FROM orders WHERE id = $1`, id); err != nil || stored != want {
		t.Errorf("order row failure reason %q (%v), want %q", stored, err, want)
	}
}

// closePendingOrder ends the order the refused transitions were sent to.
func (s *liveSystem) closePendingOrder(t *testing.T) {
	if _, err := s.saga.Orders.Transition(context.Background(), pendingOrder, "bi/close/"+pendingOrder,
		orderclient.TransitionRequest{Status: "FAILED", Reason: "bad-input suite done"}); err != nil {
		t.Fatal(err)
	}
}

// requireInvariants runs the auditor over everything the suite left behind.
func (s *liveSystem) requireInvariants(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	report, err := audit.New(s.orders, s.payments, s.inventory).Run(ctx, audit.Options{})
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	var out bytes.Buffer
	_ = report.WriteText(&out)
	if !report.OK() {
		t.Fatalf("invariants violated:\n%s", out.String())
	}
	t.Log(out.String())
}
