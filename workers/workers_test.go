package workers_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	"github.com/sagaflow/sagaflow/internal/requestid"
	"github.com/sagaflow/sagaflow/internal/temporalclient"
	"github.com/sagaflow/sagaflow/services/inventory"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	"github.com/sagaflow/sagaflow/services/order"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/services/payment"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testkeys"
	"github.com/sagaflow/sagaflow/test/testtemporal"
	"github.com/sagaflow/sagaflow/workers"
	"github.com/sagaflow/sagaflow/workflows"
)

func TestMain(m *testing.M) { testtemporal.Main(m) }

func TestParsePools(t *testing.T) {
	cases := []struct {
		in      []string
		want    []string
		wantErr string
	}{
		{in: []string{"all"}, want: workers.Pools()},
		{in: []string{"payments", "sagas"}, want: []string{"sagas", "payments"}},
		{in: []string{"inventory,orders", "orders"}, want: []string{"orders", "inventory"}},
		{in: []string{" Sagas "}, want: []string{"sagas"}},
		{in: []string{"billing"}, wantErr: `unknown worker pool "billing"`},
		{in: nil, wantErr: "no worker pool selected"},
	}
	for _, tc := range cases {
		got, err := workers.ParsePools(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParsePools(%q) error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("ParsePools(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	keys := testkeys.New(t)
	set := func(identities ...string) string {
		raw, err := keys.PrivateSet(identities...)
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	payloadKey, err := payloadcodec.GenerateKey("k1")
	if err != nil {
		t.Fatal(err)
	}
	// What every case has unless it says otherwise: the keys of the four pools.
	allKeys := set(auth.IdentitySagaWorker, auth.IdentityOrdersWorker, auth.IdentityPaymentsWorker, auth.IdentityInventoryWorker)
	urls := map[string]string{"ORDER_SERVICE_URL": "http://o", "PAYMENT_SERVICE_URL": "http://p", "INVENTORY_SERVICE_URL": "http://i"}
	with := func(env map[string]string, k, v string) map[string]string {
		out := map[string]string{k: v}
		for key, val := range env {
			out[key] = val
		}
		return out
	}
	cases := []struct {
		name    string
		env     map[string]string
		pools   []string
		wantErr []string
	}{
		{name: "sagas need no service", pools: []string{"sagas"}},
		{name: "each pool names its missing URL", pools: []string{"all"},
			wantErr: []string{"ORDER_SERVICE_URL is required for the orders pool", "PAYMENT_SERVICE_URL is required for the payments pool", "INVENTORY_SERVICE_URL is required for the inventory pool"}},
		{name: "only the selected pool's URL is needed", pools: []string{"payments"},
			env: map[string]string{"PAYMENT_SERVICE_URL": "http://payment:8082"}},
		{name: "URL must be http", pools: []string{"inventory"},
			env:     map[string]string{"INVENTORY_SERVICE_URL": "inventory:8083"},
			wantErr: []string{"INVENTORY_SERVICE_URL must be an http(s) URL"}},
		{name: "concurrency must be positive", pools: []string{"orders"},
			env:     map[string]string{"ORDER_SERVICE_URL": "http://order:8081", "WORKER_ORDERS_MAX_CONCURRENT_ACTIVITIES": "0"},
			wantErr: []string{"WORKER_ORDERS_MAX_CONCURRENT_ACTIVITIES must be at least 1"}},
		{name: "stop timeout must be positive", pools: []string{"sagas"},
			env:     map[string]string{"WORKER_STOP_TIMEOUT": "0s"},
			wantErr: []string{"WORKER_STOP_TIMEOUT must be positive"}},
		{name: "the Temporal settings are checked", pools: []string{"sagas"},
			env:     map[string]string{"TEMPORAL_TLS_CLIENT_KEY_PATH": "/etc/temporal/client.key"},
			wantErr: []string{"TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH must be set together"}},
		{name: "call timeout must be positive", pools: []string{"orders", "payments"},
			env:     map[string]string{"ORDER_SERVICE_URL": "http://o", "PAYMENT_SERVICE_URL": "http://p", "SERVICE_CALL_TIMEOUT": "0s"},
			wantErr: []string{"SERVICE_CALL_TIMEOUT must be positive"}},
		{name: "one pool, one key", pools: []string{"payments"},
			env: map[string]string{"PAYMENT_SERVICE_URL": "http://p", "WORKER_SERVICE_KEYS": string(keys.Private[auth.IdentityPaymentsWorker])}},
		{name: "all pools, the four keys", pools: []string{"all"}, env: with(urls, "WORKER_SERVICE_KEYS", allKeys)},
		{name: "a pool without its key", pools: []string{"sagas"}, env: map[string]string{"WORKER_SERVICE_KEYS": ""},
			wantErr: []string{"WORKER_SERVICE_KEYS holds no key for saga-worker"}},
		{name: "all pools with one key", pools: []string{"all"}, env: with(urls, "WORKER_SERVICE_KEYS", set(auth.IdentitySagaWorker)),
			wantErr: []string{"no key for orders-worker", "no key for payments-worker", "no key for inventory-worker"}},
		{name: "another pool's key", pools: []string{"orders"},
			env:     map[string]string{"ORDER_SERVICE_URL": "http://o", "WORKER_SERVICE_KEYS": string(keys.Private[auth.IdentitySagaWorker])},
			wantErr: []string{"WORKER_SERVICE_KEYS holds no key for orders-worker"}},
		{name: "no admin key in a worker", pools: []string{"sagas"},
			env:     map[string]string{"WORKER_SERVICE_KEYS": set(auth.IdentitySagaWorker, auth.IdentityAdmin)},
			wantErr: []string{"WORKER_SERVICE_KEYS holds a key of admin"}},
		{name: "a public key signs nothing", pools: []string{"sagas"},
			env:     map[string]string{"WORKER_SERVICE_KEYS": string(keys.Trusted)},
			wantErr: []string{"WORKER_SERVICE_KEYS", "public key"}},
		{name: "not a key", pools: []string{"sagas"}, env: map[string]string{"WORKER_SERVICE_KEYS": "secret"},
			wantErr: []string{"WORKER_SERVICE_KEYS"}},
		{name: "insecure runs without keys", pools: []string{"all"},
			env: with(with(with(with(urls, "WORKER_SERVICE_KEYS", ""), "SAGAFLOW_INSECURE", "true"), "TEMPORAL_PAYLOAD_KEYS", ""), "TEMPORAL_PAYLOAD_KEY_ID", "")},
		{name: "no payload keys", pools: []string{"sagas"}, env: map[string]string{"TEMPORAL_PAYLOAD_KEYS": ""},
			wantErr: []string{"TEMPORAL_PAYLOAD_KEYS"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SAGAFLOW_INSECURE", "false")
			t.Setenv("WORKER_SERVICE_KEYS", allKeys)
			t.Setenv("TEMPORAL_PAYLOAD_KEYS", payloadKey)
			t.Setenv("TEMPORAL_PAYLOAD_KEY_ID", "k1")
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var cfg workers.Config
			if err := envconfig.Process("", &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.Address != "127.0.0.1:7233" || cfg.Namespace != "default" || cfg.StopTimeout == 0 && tc.env["WORKER_STOP_TIMEOUT"] == "" {
				t.Errorf("defaults not applied: %+v", cfg)
			}
			err := cfg.Validate(tc.pools)
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate passed, want %v", tc.wantErr)
			}
			for _, want := range tc.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if n := strings.Count(err.Error(), "SERVICE_CALL_TIMEOUT"); n > 1 {
				t.Errorf("SERVICE_CALL_TIMEOUT reported %d times", n)
			}
		})
	}
}

// TestRunServesHealthAndStops runs the sagas pool like a container does: /healthz answers,
// /readyz turns ready once Temporal answers and the pool runs, and cancelling the context
// stops everything.
func TestRunServesHealthAndStops(t *testing.T) {
	addr := freeAddr(t)
	cfg := workers.Config{
		Config:                          temporalclient.Config{Address: testtemporal.TemporalAddress(t), Namespace: "default", Config: testPayloadKeys(t)},
		SagasMaxConcurrentWorkflowTasks: 10,
		ServiceCallTimeout:              time.Second,
		StopTimeout:                     5 * time.Second,
		HealthAddr:                      addr,
		ServiceKeys:                     string(testkeys.New(t).Private[auth.IdentitySagaWorker]),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- workers.Run(ctx, cfg, []string{"sagas"}, logging.Discard()) }()

	deadline := time.Now().Add(30 * time.Second)
	for {
		if code := get(t, "http://"+addr+"/readyz"); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatal("/readyz never became ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if code := get(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d", code)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop")
	}
	if code := get(t, "http://"+addr+"/healthz"); code != 0 {
		t.Errorf("health server still answers after stop: %d", code)
	}
}

func TestRunRefusesBadConfig(t *testing.T) {
	err := workers.Run(context.Background(), workers.Config{StopTimeout: time.Second}, []string{"inventory"}, logging.Discard())
	if err == nil || !strings.Contains(err.Error(), "INVENTORY_SERVICE_URL") || !strings.Contains(err.Error(), "TEMPORAL_ADDRESS") {
		t.Fatalf("Run with bad config: %v", err)
	}
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	// The address must be free again for the caller.
	if err := ln.Close(); err != nil {
		t.Fatal(err)
	}
	return addr
}

// get returns the status code of a GET, or 0 when nothing answers.
func get(t *testing.T, url string) int {
	resp, err := http.Get(url)
	if err != nil {
		return 0
	}
	_ = resp.Body.Close() // only the status is read
	return resp.StatusCode
}

// system is the whole saga in one process: the three real services over fresh databases,
// a real Temporal server, and every worker pool on task queues private to the test.
type system struct {
	temporal  client.Client
	queues    workflows.TaskQueues
	orders    *orderclient.Client
	payments  *payclient.Client
	inventory *invclient.Client
}

func startSystem(t *testing.T) *system {
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
	// The test reads and stocks the catalog as operators' tools do; each pool calls as its
	// own identity, so the sagas run through the services' real authorization.
	admin := keys.ClientsAs(auth.IdentityAdmin, urls, nil, 10*time.Second)
	as := func(pool string) testkeys.Clients {
		return keys.ClientsAs(workers.PoolIdentity(pool), urls, nil, 10*time.Second)
	}
	s := &system{
		orders:    admin.Orders,
		payments:  admin.Payments,
		inventory: admin.Inventory,
		queues: workflows.TaskQueues{
			Sagas:     testtemporal.TaskQueue(t, "sagas"),
			Orders:    testtemporal.TaskQueue(t, "orders"),
			Payments:  testtemporal.TaskQueue(t, "payments"),
			Inventory: testtemporal.TaskQueue(t, "inventory"),
		},
	}
	c, err := temporalclient.Dial(temporalclient.Config{Address: testtemporal.TemporalAddress(t), Namespace: "default"}, logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	s.temporal = c
	group, err := workers.New(c, workers.Options{
		Pools: []string{workers.PoolAll}, Queues: s.queues,
		Local:  workers.Clients(as(workers.PoolSagas)),
		Orders: as(workers.PoolOrders).Orders, Payments: as(workers.PoolPayments).Payments, Inventory: as(workers.PoolInventory).Inventory,
		StopTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := group.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(group.Stop)
	return s
}

func (s *system) product(t *testing.T, sku string, price, stock int64) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.inventory.UpsertProduct(ctx, sku, invclient.UpsertProductRequest{Name: "Product " + sku, UnitPrice: price, Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.inventory.Restock(ctx, sku, "seed-"+sku, invclient.RestockRequest{Quantity: stock}); err != nil {
		t.Fatal(err)
	}
}

// start starts a saga the way the public API does.
func (s *system) start(t *testing.T, in workflows.OrderInput) client.WorkflowRun {
	t.Helper()
	in.TaskQueues = s.queues
	ctx := requestid.With(context.Background(), in.RequestID)
	run, err := s.temporal.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:            workflows.WorkflowID(in.OrderID),
		TaskQueue:     s.queues.Sagas,
		StaticSummary: "Order " + in.OrderID,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchCustomerID.ValueSet(in.CustomerID),
			workflows.SearchOrderStatus.ValueSet(string(orderclient.StatusPending)),
		),
	}, workflows.OrderSagaName, in)
	if err != nil {
		t.Fatal(err)
	}
	return run
}

// waitFor polls the status query until cond holds.
func (s *system) waitFor(t *testing.T, workflowID string, cond func(workflows.SagaStatus) bool) workflows.SagaStatus {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := s.temporal.QueryWorkflow(context.Background(), workflowID, "", workflows.QueryStatus)
		if err == nil {
			var st workflows.SagaStatus
			if err := v.Get(&st); err != nil {
				t.Fatal(err)
			}
			if cond(st) {
				return st
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("saga %s never reached the expected state (last error %v)", workflowID, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSagaEndToEnd runs sagas through the real pools and services and checks that the
// three services agree on each outcome.
func TestSagaEndToEnd(t *testing.T) {
	s := startSystem(t)
	awaiting := func(st workflows.SagaStatus) bool { return st.Status == orderclient.StatusAwaitingApproval }
	cases := []struct {
		name        string
		stock       int64
		quantity    int64
		token       string
		threshold   int64
		interact    func(t *testing.T, id string)
		wantStatus  orderclient.Status
		wantReason  string
		wantOnHand  int64
		wantCapture int64
		wantPayment string // "" = no payment record expected
		localSteps  bool
	}{
		{name: "confirmed", stock: 5, quantity: 2, token: payclient.TokenVisa,
			wantStatus: orderclient.StatusConfirmed, wantOnHand: 3, wantCapture: 2000, wantPayment: payclient.PaymentCaptured},
		{name: "out-of-stock", stock: 1, quantity: 2, token: payclient.TokenVisa,
			wantStatus: orderclient.StatusFailed, wantReason: "out of stock: ", wantOnHand: 1},
		{name: "declined", stock: 5, quantity: 1, token: payclient.TokenChargeDeclined,
			wantStatus: orderclient.StatusFailed, wantReason: "card declined", wantOnHand: 5},
		{name: "approved", stock: 5, quantity: 3, token: payclient.TokenVisa, threshold: 2000,
			interact: func(t *testing.T, id string) {
				s.waitFor(t, id, awaiting)
				if err := s.temporal.SignalWorkflow(context.Background(), id, "", workflows.SignalApprove, workflows.Decision{By: "alice"}); err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: orderclient.StatusConfirmed, wantOnHand: 2, wantCapture: 3000, wantPayment: payclient.PaymentCaptured},
		{name: "cancelled-while-held", stock: 5, quantity: 3, token: payclient.TokenVisa, threshold: 2000,
			interact: func(t *testing.T, id string) {
				s.waitFor(t, id, awaiting)
				if err := s.temporal.SignalWorkflow(context.Background(), id, "", workflows.SignalCancel, workflows.Decision{By: "bob", Reason: "changed mind"}); err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: orderclient.StatusCancelled, wantReason: "cancelled by bob: changed mind", wantOnHand: 5, wantPayment: payclient.PaymentVoided},
		{name: "workflow-cancelled", stock: 5, quantity: 3, token: payclient.TokenVisa, threshold: 2000,
			interact: func(t *testing.T, id string) {
				s.waitFor(t, id, awaiting)
				if err := s.temporal.CancelWorkflow(context.Background(), id, ""); err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: orderclient.StatusCancelled, wantReason: "workflow cancelled", wantOnHand: 5, wantPayment: payclient.PaymentVoided},
		// The same sagas with local steps: the saga pool makes the calls itself.
		{name: "confirmed-local-steps", stock: 5, quantity: 2, token: payclient.TokenVisa, localSteps: true,
			wantStatus: orderclient.StatusConfirmed, wantOnHand: 3, wantCapture: 2000, wantPayment: payclient.PaymentCaptured},
		{name: "declined-local-steps", stock: 5, quantity: 1, token: payclient.TokenChargeDeclined, localSteps: true,
			wantStatus: orderclient.StatusFailed, wantReason: "card declined", wantOnHand: 5},
		{name: "approved-local-steps", stock: 5, quantity: 3, token: payclient.TokenVisa, threshold: 2000, localSteps: true,
			interact: func(t *testing.T, id string) {
				s.waitFor(t, id, awaiting)
				if err := s.temporal.SignalWorkflow(context.Background(), id, "", workflows.SignalApprove, workflows.Decision{By: "alice"}); err != nil {
					t.Fatal(err)
				}
			},
			wantStatus: orderclient.StatusConfirmed, wantOnHand: 2, wantCapture: 3000, wantPayment: payclient.PaymentCaptured},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sku := "SKU-" + tc.name
			s.product(t, sku, 1000, tc.stock)
			orderID := "o-" + tc.name + "-" + testenv.Suffix()
			run := s.start(t, workflows.OrderInput{
				OrderID: orderID, CustomerID: "c-1", PaymentToken: tc.token, RequestID: "req-" + tc.name,
				Lines:             []workflows.OrderLine{{SKU: sku, Quantity: tc.quantity}},
				ApprovalThreshold: tc.threshold, ApprovalTimeout: time.Hour, LocalSteps: tc.localSteps,
			})
			if tc.interact != nil {
				tc.interact(t, run.GetID())
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			var res workflows.SagaResult
			if err := run.Get(ctx, &res); err != nil {
				t.Fatalf("saga: %v", err)
			}
			if res.Status != tc.wantStatus || !strings.HasPrefix(res.FailureReason, tc.wantReason) {
				t.Fatalf("result %+v, want %s %q", res, tc.wantStatus, tc.wantReason)
			}

			o, err := s.orders.Get(ctx, orderID)
			if err != nil {
				t.Fatal(err)
			}
			if o.Status != tc.wantStatus {
				t.Errorf("order service says %s, saga says %s", o.Status, res.Status)
			}
			p, err := s.inventory.GetProduct(ctx, sku)
			if err != nil {
				t.Fatal(err)
			}
			if p.OnHand != tc.wantOnHand || p.Reserved != 0 {
				t.Errorf("stock on hand %d reserved %d, want %d and nothing reserved", p.OnHand, p.Reserved, tc.wantOnHand)
			}
			pay, err := s.payments.Get(ctx, orderID)
			switch {
			case tc.wantPayment == "":
				// Nothing was authorized: no payment, or only the void's marker.
				if err == nil && (pay.Status != payclient.PaymentVoided || pay.Captured != 0) {
					t.Errorf("payment %+v left behind", pay)
				}
			case err != nil:
				t.Fatalf("payment: %v", err)
			case pay.Status != tc.wantPayment || pay.Captured != tc.wantCapture:
				t.Errorf("payment %s captured %d, want %s %d", pay.Status, pay.Captured, tc.wantPayment, tc.wantCapture)
			}

			st := s.waitFor(t, run.GetID(), func(workflows.SagaStatus) bool { return true })
			if st.Status != tc.wantStatus || st.CompensationFailing {
				t.Errorf("status query %+v", st)
			}
			d, err := s.temporal.DescribeWorkflow(ctx, run.GetID(), "")
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := d.TypedSearchAttributes.GetKeyword(workflows.SearchOrderStatus); got != string(tc.wantStatus) {
				t.Errorf("OrderStatus search attribute %q, want %s", got, tc.wantStatus)
			}
			if tc.localSteps {
				// Every call succeeded where it was first made: the saga pool's identity is
				// accepted for each step, so no call had to go to a service's pool.
				if n := scheduledActivities(t, s.temporal, run); n != 0 {
					t.Errorf("%d calls went to a service's queue, want every call made locally", n)
				}
			}
			recordHistory(t, s.temporal, run, tc.name)
		})
	}
}

// scheduledActivities counts the saga's calls that ran on a service's queue.
func scheduledActivities(t *testing.T, c client.Client, run client.WorkflowRun) int {
	t.Helper()
	n := 0
	iter := c.GetWorkflowHistory(context.Background(), run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		if ev.GetEventType() == enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED {
			n++
		}
	}
	return n
}

// recordHistory writes the saga's history for the replay test when SAGAFLOW_RECORD_HISTORIES
// names a folder (the workflows package's testdata/histories).
func recordHistory(t *testing.T, c client.Client, run client.WorkflowRun, name string) {
	dir := os.Getenv("SAGAFLOW_RECORD_HISTORIES")
	if dir == "" {
		return
	}
	hist := &historypb.History{}
	iter := c.GetWorkflowHistory(context.Background(), run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		hist.Events = append(hist.Events, ev)
	}
	data, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, fmt.Sprintf("order-saga-%s.json", name))
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(errors.Join(err, fmt.Errorf("record %s", path)))
	}
}

// TestLocalStepsWithoutClients: a saga pool that has no client for the services still runs
// sagas with local steps: every local attempt fails, and each call goes to its service's
// pool instead.
func TestLocalStepsWithoutClients(t *testing.T) {
	s := startSystem(t)
	bare := testtemporal.TaskQueue(t, "bare-sagas")
	sagasOnly, err := workers.New(s.temporal, workers.Options{
		Pools: []string{workers.PoolSagas}, Queues: workflows.TaskQueues{Sagas: bare},
		StopTimeout: 5 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sagasOnly.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sagasOnly.Stop)

	sku := "SKU-bare"
	s.product(t, sku, 1000, 5)
	in := workflows.OrderInput{
		OrderID: "o-bare-" + testenv.Suffix(), CustomerID: "c-1", PaymentToken: payclient.TokenVisa, RequestID: "req-bare",
		Lines: []workflows.OrderLine{{SKU: sku, Quantity: 1}}, LocalSteps: true,
	}
	in.TaskQueues = s.queues
	run, err := s.temporal.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
		ID: workflows.WorkflowID(in.OrderID), TaskQueue: bare,
	}, workflows.OrderSagaName, in)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var res workflows.SagaResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != orderclient.StatusConfirmed {
		t.Fatalf("saga ended %s (%s), want CONFIRMED", res.Status, res.FailureReason)
	}
	// Each call was tried locally once, then ran on its service's queue.
	iter := s.temporal.GetWorkflowHistory(ctx, run.GetID(), run.GetRunID(), false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	markers, scheduled := 0, 0
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			t.Fatal(err)
		}
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			// Local attempts only: the saga also records version markers (workflow.GetVersion).
			if ev.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity" {
				markers++
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			scheduled++
		}
	}
	if scheduled != 9 || markers != 9 {
		t.Errorf("%d local attempts and %d activities on queues, want 9 of each", markers, scheduled)
	}
}

// testPayloadKeys is a fresh payload keyring.
func testPayloadKeys(t *testing.T) payloadcodec.Config {
	t.Helper()
	key, err := payloadcodec.GenerateKey("test")
	if err != nil {
		t.Fatal(err)
	}
	return payloadcodec.Config{Keys: payloadcodec.Secret(key), KeyID: "test"}
}
