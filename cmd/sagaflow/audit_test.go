package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// services is the three real services over fresh databases, served in-process, with the
// environment `sagaflow audit` reads pointing at them. orders, payments and inventory make
// the saga's steps as the saga pool; admin keeps the catalog, as `sagaflow audit` reads.
type services struct {
	t          *testing.T
	ctx        context.Context
	keys       *testkeys.Keys
	urls       testkeys.URLs
	orders     *orderclient.Client
	payments   *paymentclient.Client
	inventory  *invclient.Client
	admin      testkeys.Clients
	paymentSrv *httptest.Server
}

func startServices(t *testing.T) *services {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	logger := logging.Discard()
	ready := httpserver.NewReadiness(nil)
	_, orderDB := testenv.ServiceDatabase(t, "order")
	_, paymentDB := testenv.ServiceDatabase(t, "payment")
	_, inventoryDB := testenv.ServiceDatabase(t, "inventory")
	keys := testkeys.New(t)
	guard := func(service string) *auth.Guard { return keys.Guard(t, service, logger) }
	orderSrv := httptest.NewServer(order.NewGuardedHandler(order.NewService(orderDB, logger), guard(orderclient.ServiceName), logger, ready))
	paymentSrv := httptest.NewServer(payment.NewGuardedHandler(payment.NewService(paymentDB, logger, payment.NewTestProcessor(0)), guard(paymentclient.ServiceName), logger, ready))
	inventorySrv := httptest.NewServer(inventory.NewGuardedHandler(inventory.NewService(inventoryDB, logger), guard(invclient.ServiceName), logger, ready))
	for _, srv := range []*httptest.Server{orderSrv, paymentSrv, inventorySrv} {
		t.Cleanup(srv.Close)
	}
	t.Setenv("ORDER_SERVICE_URL", orderSrv.URL)
	t.Setenv("PAYMENT_SERVICE_URL", paymentSrv.URL)
	t.Setenv("INVENTORY_SERVICE_URL", inventorySrv.URL)
	t.Setenv("AUDIT_IN_FLIGHT_BOUND", "1h")
	t.Setenv("SAGAFLOW_ADMIN_KEY", string(keys.Private[auth.IdentityAdmin]))
	t.Setenv("SAGAFLOW_INSECURE", "false")
	urls := testkeys.URLs{Order: orderSrv.URL, Payment: paymentSrv.URL, Inventory: inventorySrv.URL}
	saga := keys.ClientsAs(auth.IdentitySagaWorker, urls, nil, 10*time.Second)
	s := &services{
		t:          t,
		ctx:        ctx,
		keys:       keys,
		urls:       urls,
		orders:     saga.Orders,
		payments:   saga.Payments,
		inventory:  saga.Inventory,
		admin:      keys.ClientsAs(auth.IdentityAdmin, urls, nil, 10*time.Second),
		paymentSrv: paymentSrv,
	}
	_, err := s.admin.Inventory.UpsertProduct(ctx, "SKU-A", invclient.UpsertProductRequest{Name: "Product A", UnitPrice: 1500, Currency: "USD"})
	s.must(err, "upsert")
	_, err = s.admin.Inventory.Restock(ctx, "SKU-A", "seed/SKU-A", invclient.RestockRequest{Quantity: 10})
	s.must(err, "restock")
	return s
}

func (s *services) must(err error, step string) {
	s.t.Helper()
	if err != nil {
		s.t.Fatalf("%s: %v", step, err)
	}
}

func (s *services) move(id string, status orderclient.Status, reason string) {
	s.t.Helper()
	_, err := s.orders.Transition(s.ctx, id, "order-"+id+"/to-"+string(status), orderclient.TransitionRequest{Status: status, Reason: reason})
	s.must(err, "move "+id+" to "+string(status))
}

// reserved records an order, reserves one unit of SKU-A and prices the order (RESERVED).
func (s *services) reserved(id string) {
	s.t.Helper()
	k := func(step string) string { return "order-" + id + "/" + step }
	_, err := s.orders.Create(s.ctx, k("create"), orderclient.CreateOrderRequest{
		OrderID: id, CustomerID: "cust-1", WorkflowID: "order-" + id, Lines: []orderclient.NewLine{{SKU: "SKU-A", Quantity: 1}},
	})
	s.must(err, "create "+id)
	r, err := s.inventory.Reserve(s.ctx, k("reserve"), invclient.ReserveRequest{OrderID: id, Lines: []invclient.ReserveLine{{SKU: "SKU-A", Quantity: 1}}})
	s.must(err, "reserve "+id)
	l := r.Lines[0]
	_, err = s.orders.Transition(s.ctx, id, k("price"), orderclient.TransitionRequest{
		Status: orderclient.StatusReserved, Currency: l.Currency,
		Lines: []orderclient.PricedLine{{SKU: l.SKU, Name: l.Name, Quantity: l.Quantity, UnitPrice: l.UnitPrice}},
	})
	s.must(err, "price "+id)
}

// confirmed runs a whole happy saga.
func (s *services) confirmed(id string) {
	s.t.Helper()
	s.reserved(id)
	k := func(step string) string { return "order-" + id + "/" + step }
	_, err := s.payments.Authorize(s.ctx, k("authorize"), paymentclient.AuthorizeRequest{OrderID: id, Amount: 1500, Currency: "USD", PaymentToken: paymentclient.TokenVisa})
	s.must(err, "authorize "+id)
	s.move(id, orderclient.StatusAuthorized, "payment authorized")
	_, err = s.payments.Capture(s.ctx, id, k("capture"))
	s.must(err, "capture "+id)
	s.move(id, orderclient.StatusCaptured, "payment captured")
	_, err = s.inventory.Commit(s.ctx, id, k("commit"))
	s.must(err, "commit "+id)
	s.move(id, orderclient.StatusConfirmed, "order confirmed")
}

// audit runs the real subcommand.
func (s *services) audit(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = run(s.ctx, append([]string{"audit"}, args...), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestAuditCommand(t *testing.T) {
	s := startServices(t)
	s.confirmed("o-1")
	s.reserved("o-2")
	s.move("o-2", orderclient.StatusCompensating, "card declined")
	_, err := s.inventory.Release(s.ctx, "o-2", "order-o-2/release")
	s.must(err, "release o-2")
	s.move("o-2", orderclient.StatusFailed, "card declined")
	s.reserved("o-3") // in flight, within the bound

	code, out, errOut := s.audit()
	if code != 0 || !strings.Contains(out, ": OK\n") || !strings.Contains(out, "orders: 3 (RESERVED 1, CONFIRMED 1, FAILED 1), in flight: 1") {
		t.Fatalf("consistent world: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	// Break it: an order fails but keeps its stock reserved.
	s.reserved("o-4")
	s.move("o-4", orderclient.StatusFailed, "card declined")
	code, out, errOut = s.audit()
	if code != 1 || !strings.Contains(out, "FAILED, 1 violation(s)") ||
		!strings.Contains(out, "violation services-agree order=o-4 sku=-: FAILED but its reservation is RESERVED, not RELEASED") {
		t.Fatalf("broken world: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}

	code, out, _ = s.audit("--json")
	var doc struct {
		OK               bool              `json:"ok"`
		Orders           int               `json:"orders"`
		Violations       []audit.Violation `json:"violations"`
		OperatorResolved []audit.Violation `json:"operator_resolved"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("--json output does not decode: %v\n%s", err, out)
	}
	if code != 1 || doc.OK || doc.Orders != 4 || len(doc.Violations) != 1 || doc.Violations[0].OrderID != "o-4" ||
		doc.Violations[0].Invariant != audit.ServicesAgree || doc.OperatorResolved == nil {
		t.Fatalf("--json: exit %d, document %+v", code, doc)
	}

	// An order an operator closed after marking its release resolved is listed apart.
	s.reserved("o-5")
	s.move("o-5", orderclient.StatusCompensating, "card declined")
	s.move("o-5", orderclient.StatusFailed, "operator resolved [release-stock] (alice: released by hand); card declined")
	code, out, _ = s.audit()
	if code != 1 || !strings.Contains(out, "FAILED, 1 violation(s), 1 operator-resolved") ||
		!strings.Contains(out, "\noperator-resolved services-agree order=o-5 sku=-: FAILED and its reservation is still RESERVED here; operator resolved [release-stock] (alice: released by hand)") {
		t.Fatalf("with an operator resolution: exit %d\n%s", code, out)
	}

	// Services that refuse the audit's key cannot be read: neither OK nor a violation.
	stranger, err := auth.GenerateServiceKey(auth.IdentityAdmin, time.Now())
	s.must(err, "a key the services do not trust")
	t.Setenv("SAGAFLOW_ADMIN_KEY", string(stranger.Private))
	code, out, errOut = s.audit()
	if code != 3 || out != "" || !strings.Contains(errOut, "401") {
		t.Fatalf("an untrusted admin key: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	t.Setenv("SAGAFLOW_ADMIN_KEY", string(s.keys.Private[auth.IdentityAdmin]))

	// A service that cannot be read is neither OK nor a violation.
	s.paymentSrv.Close()
	code, out, errOut = s.audit()
	if code != 3 || out != "" || !strings.Contains(errOut, "list payments") {
		t.Fatalf("payment service down: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
}

// unset marks a variable the case removes from the environment.
const unset = "(unset)"

func TestAuditCommandConfiguration(t *testing.T) {
	keys := testkeys.New(t)
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want string
	}{
		{name: "payment URL unset", env: map[string]string{"PAYMENT_SERVICE_URL": unset}, want: "PAYMENT_SERVICE_URL"},
		{name: "inventory URL empty", env: map[string]string{"INVENTORY_SERVICE_URL": ""}, want: "INVENTORY_SERVICE_URL is required"},
		{name: "order URL not a URL", env: map[string]string{"ORDER_SERVICE_URL": "order:8081"}, want: "ORDER_SERVICE_URL must be an http(s) URL"},
		{name: "bad bound", env: map[string]string{"AUDIT_IN_FLIGHT_BOUND": "soon"}, want: "AUDIT_IN_FLIGHT_BOUND"},
		{name: "negative bound", env: map[string]string{"AUDIT_IN_FLIGHT_BOUND": "-1m"}, want: "AUDIT_IN_FLIGHT_BOUND must not be negative"},
		{name: "no admin key", env: map[string]string{"SAGAFLOW_ADMIN_KEY": unset}, want: "SAGAFLOW_ADMIN_KEY must hold the private key of the admin identity"},
		{name: "another identity's key", env: map[string]string{"SAGAFLOW_ADMIN_KEY": string(keys.Private[auth.IdentityAPI])}, want: "SAGAFLOW_ADMIN_KEY holds a key of api"},
		{name: "the admin's public key", env: map[string]string{"SAGAFLOW_ADMIN_KEY": string(keys.Trusted)}, want: "SAGAFLOW_ADMIN_KEY"},
		{name: "unknown flag", args: []string{"--yaml"}, want: "flag provided but not defined: -yaml"},
		{name: "stray argument", args: []string{"now"}, want: "unexpected arguments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("ORDER_SERVICE_URL", "http://127.0.0.1:1")
			t.Setenv("PAYMENT_SERVICE_URL", "http://127.0.0.1:1")
			t.Setenv("INVENTORY_SERVICE_URL", "http://127.0.0.1:1")
			t.Setenv("AUDIT_IN_FLIGHT_BOUND", "15m")
			t.Setenv("SAGAFLOW_ADMIN_KEY", string(keys.Private[auth.IdentityAdmin]))
			t.Setenv("SAGAFLOW_INSECURE", "false")
			for k, v := range tc.env {
				if v == unset {
					testenv.Unsetenv(t, k)
					continue
				}
				t.Setenv(k, v)
			}
			var out, errOut bytes.Buffer
			code := run(context.Background(), append([]string{"audit"}, tc.args...), &out, &errOut)
			if code != 2 || !strings.Contains(errOut.String(), tc.want) || out.Len() != 0 {
				t.Fatalf("exit %d, stderr %q, stdout %q; want 2 naming %q", code, errOut.String(), out.String(), tc.want)
			}
		})
	}
}
