package activities_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/sagaflow/sagaflow/activities"
	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/correlation"
	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/requestid"
	"github.com/sagaflow/sagaflow/services/inventory"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	"github.com/sagaflow/sagaflow/services/order"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/services/payment"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testkeys"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

// activityEnv runs activities the way a worker does, with the request id arriving in the
// headers through the correlation propagator.
func activityEnv(t *testing.T, reqID string) *testsuite.TestActivityEnvironment {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestActivityEnvironment()
	p := correlation.NewPropagator()
	env.SetContextPropagators([]workflow.ContextPropagator{p})
	h := &commonpb.Header{Fields: map[string]*commonpb.Payload{}}
	if err := p.Inject(requestid.With(context.Background(), reqID), headerWriter{h}); err != nil {
		t.Fatal(err)
	}
	env.SetHeader(h)
	return env
}

type headerWriter struct{ h *commonpb.Header }

func (w headerWriter) Set(k string, p *commonpb.Payload) { w.h.Fields[k] = p }

// appError returns the activity's error as the saga sees it.
func appError(t *testing.T, err error) (*temporal.ApplicationError, activities.Failure) {
	t.Helper()
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		t.Fatalf("error %v (%T) is not an application error", err, err)
	}
	var f activities.Failure
	if err := appErr.Details(&f); err != nil {
		t.Fatalf("failure details: %v", err)
	}
	return appErr, f
}

// TestClassify runs the real service client against answers a service can give and checks
// which ones Temporal may retry.
func TestClassify(t *testing.T) {
	var mu sync.Mutex
	var seenIDs []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seenIDs = append(seenIDs, r.Header.Get(requestid.Header))
		mu.Unlock()
		var p *problemBody
		switch r.URL.Path {
		case "/reservations":
			p = &problemBody{Status: 422, Code: problem.CodeOutOfStock, Detail: "not enough stock", Values: []any{"SKU-1", "SKU-2"}}
		case "/reservations/o-1/release":
			p = &problemBody{Status: 503, Code: problem.CodeUnavailable, Detail: "database unavailable"}
		case "/reservations/o-1/commit":
			p = &problemBody{Status: 409, Code: problem.CodeInFlight, Detail: "a request with this key is in flight"}
		case "/products/SKU-1/restock":
			p = &problemBody{Status: 429, Code: problem.CodeRateLimited, Detail: "slow down"}
		case "/reservations/o-2/commit":
			p = &problemBody{Status: 409, Code: problem.CodeAlreadyReleased, Detail: "the reservation was released"}
		case "/reservations/o-3/commit":
			w.Header().Set("WWW-Authenticate", `Bearer realm="sagaflow", error="invalid_token"`)
			p = &problemBody{Status: 401, Code: problem.CodeUnauthorized, Detail: "the bearer token is not valid"}
		case "/reservations/o-4/commit":
			w.Header().Set("WWW-Authenticate", `Bearer realm="sagaflow", error="insufficient_scope"`)
			p = &problemBody{Status: 403, Code: problem.CodeForbidden, Detail: "the token does not allow this operation"}
		case "/products/SKU-9":
			w.WriteHeader(http.StatusBadGateway)
			_, _ = w.Write([]byte("<html>bad gateway</html>"))
			return
		}
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(p.Status)
		_ = json.NewEncoder(w).Encode(p.model())
	}))
	defer srv.Close()

	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL := "http://" + closed.Addr().String()
	// Nothing may listen there any more.
	if err := closed.Close(); err != nil {
		t.Fatal(err)
	}

	live := invclient.New(srv.URL, nil, 5*time.Second)
	dead := invclient.New(deadURL, nil, 2*time.Second)
	cases := []struct {
		name         string
		call         func(context.Context) error
		wantType     string
		wantFinal    bool
		wantSubjects []string
		wantStatus   int
	}{
		{"business refusal is final and names the SKUs", func(c context.Context) error {
			_, err := live.Reserve(c, "k", invclient.ReserveRequest{OrderID: "o-1"})
			return err
		}, problem.CodeOutOfStock, true, []string{"SKU-1", "SKU-2"}, 422},
		{"late action after a compensation is final", func(c context.Context) error {
			_, err := live.Commit(c, "o-2", "k")
			return err
		}, problem.CodeAlreadyReleased, true, nil, 409},
		{"5xx is retryable", func(c context.Context) error {
			_, err := live.Release(c, "o-1", "k")
			return err
		}, problem.CodeUnavailable, false, nil, 503},
		{"duplicate in flight is retryable", func(c context.Context) error {
			_, err := live.Commit(c, "o-1", "k")
			return err
		}, problem.CodeInFlight, false, nil, 409},
		{"rate limit is retryable", func(c context.Context) error {
			_, err := live.Restock(c, "SKU-1", "k", invclient.RestockRequest{Quantity: 1})
			return err
		}, problem.CodeRateLimited, false, nil, 429},
		{"a token the service refuses is retryable", func(c context.Context) error {
			_, err := live.Commit(c, "o-3", "k")
			return err
		}, problem.CodeUnauthorized, false, nil, 401},
		{"an identity the operation refuses is retryable", func(c context.Context) error {
			_, err := live.Commit(c, "o-4", "k")
			return err
		}, problem.CodeForbidden, false, nil, 403},
		{"non-problem 5xx is retryable", func(c context.Context) error {
			_, err := live.GetProduct(c, "SKU-9")
			return err
		}, "http-502", false, nil, 502},
		{"connection refused is retryable", func(c context.Context) error {
			_, err := dead.Release(c, "o-1", "k")
			return err
		}, activities.ErrorTypeTransport, false, nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := activityEnv(t, "req-classify")
			env.RegisterActivityWithOptions(func(c context.Context) error {
				return activities.Classify(c, tc.call(c))
			}, activityOptions("probe"))
			_, err := env.ExecuteActivity("probe")
			appErr, f := appError(t, err)
			if appErr.Type() != tc.wantType || appErr.NonRetryable() != tc.wantFinal {
				t.Errorf("type %q non-retryable %v, want %q %v", appErr.Type(), appErr.NonRetryable(), tc.wantType, tc.wantFinal)
			}
			if !slices.Equal(f.Subjects, tc.wantSubjects) || f.Status != tc.wantStatus || f.Code != tc.wantType || f.Attempt != 1 {
				t.Errorf("details %+v, want subjects %v status %d attempt 1", f, tc.wantSubjects, tc.wantStatus)
			}
		})
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range seenIDs {
		if id != "req-classify" {
			t.Errorf("service saw request id %q, want the propagated req-classify", id)
		}
	}
	if len(seenIDs) == 0 {
		t.Error("the service saw no request")
	}
}

func TestClassifyPassesNil(t *testing.T) {
	if err := activities.Classify(context.Background(), nil); err != nil {
		t.Fatalf("Classify(nil) = %v", err)
	}
}

type problemBody struct {
	Status int
	Code   string
	Detail string
	Values []any
}

func (p problemBody) model() any {
	details := []map[string]any{}
	for _, v := range p.Values {
		details = append(details, map[string]any{"message": p.Detail, "location": "body.lines", "value": v})
	}
	return map[string]any{
		"type": problem.TypePrefix + p.Code, "title": http.StatusText(p.Status), "status": p.Status,
		"detail": p.Detail, "errors": details,
	}
}

// services runs the three real services over fresh databases. The activities call them
// as the saga pool does; the catalog is kept as operators' tools do.
type services struct {
	orders    *orderclient.Client
	payments  *payclient.Client
	inventory *invclient.Client
	catalog   *invclient.Client
}

func startServices(t *testing.T) services {
	t.Helper()
	logger := logging.Discard()
	serve := func(h http.Handler) string {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.URL
	}
	_, odb := testenv.ServiceDatabase(t, "order")
	_, pdb := testenv.ServiceDatabase(t, "payment")
	_, idb := testenv.ServiceDatabase(t, "inventory")
	ready := httpserver.NewReadiness(nil)
	keys := testkeys.New(t)
	guard := func(service string) *auth.Guard { return keys.Guard(t, service, logger) }
	urls := testkeys.URLs{
		Order:     serve(order.NewGuardedHandler(order.NewService(odb, logger), guard(orderclient.ServiceName), logger, ready)),
		Payment:   serve(payment.NewGuardedHandler(payment.NewService(pdb, logger, payment.NewTestProcessor(0)), guard(payclient.ServiceName), logger, ready)),
		Inventory: serve(inventory.NewGuardedHandler(inventory.NewService(idb, logger), guard(invclient.ServiceName), logger, ready)),
	}
	saga := keys.ClientsAs(auth.IdentitySagaWorker, urls, nil, 10*time.Second)
	return services{
		orders: saga.Orders, payments: saga.Payments, inventory: saga.Inventory,
		catalog: keys.ClientsAs(auth.IdentityAdmin, urls, nil, 10*time.Second).Inventory,
	}
}

func activityOptions(name string) activity.RegisterOptions {
	return activity.RegisterOptions{Name: name}
}

// TestActivitiesAgainstServices runs each activity against the real services: answers are
// mapped into small results, refusals become typed non-retryable errors.
func TestActivitiesAgainstServices(t *testing.T) {
	svc := startServices(t)
	c := ctx(t)
	for sku, stock := range map[string]int64{"SKU-1": 5, "SKU-2": 1} {
		if _, err := svc.catalog.UpsertProduct(c, sku, invclient.UpsertProductRequest{Name: "Product " + sku, UnitPrice: 1250, Currency: "EUR"}); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.catalog.Restock(c, sku, "seed-"+sku, invclient.RestockRequest{Quantity: stock}); err != nil {
			t.Fatal(err)
		}
	}
	env := activityEnv(t, "req-services")
	activities.NewOrders(svc.orders).Register(env)
	activities.NewPayments(svc.payments).Register(env)
	activities.NewInventory(svc.inventory).Register(env)

	run := func(name string, in, out any) error {
		t.Helper()
		v, err := env.ExecuteActivity(name, in)
		if err != nil {
			return err
		}
		return v.Get(out)
	}
	lines := []activities.Line{{SKU: "SKU-1", Quantity: 2}, {SKU: "SKU-2", Quantity: 1}}

	var created activities.OrderResult
	if err := run(activities.OrdersCreate, activities.CreateOrderInput{
		IdempotencyKey: "order-o-1/create-order", OrderID: "o-1", CustomerID: "c-1", WorkflowID: "order-o-1", Lines: lines,
	}, &created); err != nil || created.Status != orderclient.StatusPending || created.Attempt != 1 {
		t.Fatalf("create: %+v %v", created, err)
	}

	var reserved activities.ReserveResult
	if err := run(activities.InventoryReserve, activities.ReserveInput{IdempotencyKey: "order-o-1/reserve-stock", OrderID: "o-1", Lines: lines}, &reserved); err != nil {
		t.Fatalf("reserve: %v", err)
	}
	if len(reserved.Lines) != 2 || reserved.Lines[0].UnitPrice != 1250 || reserved.Lines[0].Currency != "EUR" || reserved.Lines[0].Name != "Product SKU-1" {
		t.Errorf("reserved lines %+v, want priced EUR lines", reserved.Lines)
	}

	var priced []activities.PricedLine
	for _, l := range reserved.Lines {
		priced = append(priced, activities.PricedLine{SKU: l.SKU, Name: l.Name, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
	}
	var moved activities.OrderResult
	if err := run(activities.OrdersTransition, activities.TransitionInput{
		IdempotencyKey: "order-o-1/status-RESERVED", OrderID: "o-1", Status: orderclient.StatusReserved,
		Reason: "stock reserved", Lines: priced, Currency: "EUR",
	}, &moved); err != nil || moved.Status != orderclient.StatusReserved {
		t.Fatalf("transition: %+v %v", moved, err)
	}

	// A second order finds SKU-2 sold out: the refusal is final and names the SKU.
	err := run(activities.InventoryReserve, activities.ReserveInput{IdempotencyKey: "order-o-2/reserve-stock", OrderID: "o-2", Lines: []activities.Line{{SKU: "SKU-2", Quantity: 1}}}, &reserved)
	appErr, f := appError(t, err)
	if appErr.Type() != problem.CodeOutOfStock || !appErr.NonRetryable() || !slices.Contains(f.Subjects, "SKU-2") {
		t.Errorf("short stock: type %q final %v subjects %v, want out-of-stock naming SKU-2", appErr.Type(), appErr.NonRetryable(), f.Subjects)
	}
	err = run(activities.InventoryReserve, activities.ReserveInput{IdempotencyKey: "order-o-3/reserve-stock", OrderID: "o-3", Lines: []activities.Line{{SKU: "SKU-404", Quantity: 1}}}, &reserved)
	appErr, f = appError(t, err)
	if appErr.Type() != problem.CodeUnknownSKU || !appErr.NonRetryable() || !slices.Contains(f.Subjects, "SKU-404") {
		t.Errorf("unknown SKU: type %q final %v subjects %v, want unknown-sku naming SKU-404", appErr.Type(), appErr.NonRetryable(), f.Subjects)
	}

	// A release before the reserve leaves a marker: the late reserve is refused for good.
	var released activities.StockResult
	if err := run(activities.InventoryRelease, activities.StockInput{IdempotencyKey: "order-o-4/release-stock", OrderID: "o-4"}, &released); err != nil {
		t.Fatalf("release before reserve: %v", err)
	}
	err = run(activities.InventoryReserve, activities.ReserveInput{IdempotencyKey: "order-o-4/reserve-stock", OrderID: "o-4", Lines: lines}, &reserved)
	if appErr, _ := appError(t, err); appErr.Type() != problem.CodeAlreadyReleased || !appErr.NonRetryable() {
		t.Errorf("late reserve: type %q final %v, want reservation-released", appErr.Type(), appErr.NonRetryable())
	}

	var paid activities.PaymentResult
	if err := run(activities.PaymentsAuthorize, activities.AuthorizeInput{
		IdempotencyKey: "order-o-1/authorize-payment", OrderID: "o-1", Amount: 3750, Currency: "EUR", PaymentToken: payclient.TokenVisa,
	}, &paid); err != nil || paid.Status != payclient.PaymentAuthorized || paid.Amount != 3750 {
		t.Fatalf("authorize: %+v %v", paid, err)
	}
	if err := run(activities.PaymentsCapture, activities.PaymentInput{IdempotencyKey: "order-o-1/capture-payment", OrderID: "o-1"}, &paid); err != nil || paid.Captured != 3750 {
		t.Fatalf("capture: %+v %v", paid, err)
	}
	var committed activities.StockResult
	if err := run(activities.InventoryCommit, activities.StockInput{IdempotencyKey: "order-o-1/commit-stock", OrderID: "o-1"}, &committed); err != nil || committed.Status != invclient.ReservationCommitted {
		t.Fatalf("commit: %+v %v", committed, err)
	}

	for _, tc := range []struct {
		token string
		code  string
	}{
		{payclient.TokenChargeDeclined, problem.CodeCardDeclined},
		{payclient.TokenInsufficientFunds, problem.CodeInsufficientFunds},
	} {
		err := run(activities.PaymentsAuthorize, activities.AuthorizeInput{
			IdempotencyKey: "order-" + tc.token + "/authorize-payment", OrderID: tc.token, Amount: 100, Currency: "EUR", PaymentToken: tc.token,
		}, &paid)
		if appErr, _ := appError(t, err); appErr.Type() != tc.code || !appErr.NonRetryable() {
			t.Errorf("%s: type %q final %v, want %s", tc.token, appErr.Type(), appErr.NonRetryable(), tc.code)
		}
	}

	// A void before the authorization leaves a marker: the late authorization is refused.
	if err := run(activities.PaymentsVoid, activities.PaymentInput{IdempotencyKey: "order-o-5/void-payment", OrderID: "o-5"}, &paid); err != nil {
		t.Fatalf("void before authorize: %v", err)
	}
	err = run(activities.PaymentsAuthorize, activities.AuthorizeInput{
		IdempotencyKey: "order-o-5/authorize-payment", OrderID: "o-5", Amount: 100, Currency: "EUR", PaymentToken: payclient.TokenVisa,
	}, &paid)
	if appErr, _ := appError(t, err); appErr.Type() != problem.CodePaymentVoided || !appErr.NonRetryable() {
		t.Errorf("late authorize: type %q final %v, want payment-voided", appErr.Type(), appErr.NonRetryable())
	}

	// A refused order transition is final too.
	err = run(activities.OrdersTransition, activities.TransitionInput{IdempotencyKey: "order-o-1/status-CONFIRMED", OrderID: "o-1", Status: orderclient.StatusConfirmed}, &moved)
	if appErr, _ := appError(t, err); appErr.Type() != problem.CodeInvalidTransition || !appErr.NonRetryable() {
		t.Errorf("invalid transition: type %q final %v, want invalid-transition", appErr.Type(), appErr.NonRetryable())
	}
}
