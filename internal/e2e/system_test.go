package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

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

	"go.temporal.io/sdk/client"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// approvalThreshold holds orders of $1,000.00 or more for approval.
const approvalThreshold = 100000

// system is one running sagaflow: services, worker pools and two API instances (the second
// with a short approval timeout), all over the same databases, Redis and Temporal.
type system struct {
	t           *testing.T
	apiURL      string
	fastTimeout string // API whose held orders time out after shortApprovalTimeout
	temporal    client.Client
	temporalAt  string
	orders      *orderclient.Client
	payments    *payclient.Client
	inventory   *invclient.Client
	http        *http.Client
}

const shortApprovalTimeout = 2 * time.Second

func testLogger(t *testing.T, component string) *slog.Logger {
	if os.Getenv("E2E_LOGS") != "" {
		return logging.New(os.Stderr, "debug", component)
	}
	return logging.Discard()
}

func startSystem(t *testing.T) *system {
	t.Helper()
	ctx := context.Background()

	_, invDB := testenv.ServiceDatabase(t, "inventory")
	_, payDB := testenv.ServiceDatabase(t, "payment")
	_, ordDB := testenv.ServiceDatabase(t, "order")
	invLog, payLog, ordLog := testLogger(t, "inventory"), testLogger(t, "payment"), testLogger(t, "order")
	invSrv := httptest.NewServer(inventory.NewHandler(inventory.NewService(invDB, invLog), invLog, nil))
	t.Cleanup(invSrv.Close)
	paySrv := httptest.NewServer(payment.NewHandler(payment.NewService(payDB, payLog, payment.NewTestProcessor(0)), payLog, nil))
	t.Cleanup(paySrv.Close)
	ordSrv := httptest.NewServer(order.NewHandler(order.NewService(ordDB, ordLog), ordLog, nil))
	t.Cleanup(ordSrv.Close)

	httpClient := svcclient.NewHTTPClient()
	s := &system{
		t:          t,
		temporalAt: testenv.TemporalAddress(t),
		orders:     orderclient.New(ordSrv.URL, httpClient, 10*time.Second),
		payments:   payclient.New(paySrv.URL, httpClient, 10*time.Second),
		inventory:  invclient.New(invSrv.URL, httpClient, 10*time.Second),
		http:       &http.Client{Timeout: 30 * time.Second},
	}
	c, err := temporalclient.Dial(temporalclient.Config{Address: s.temporalAt, Namespace: "default"}, testLogger(t, "temporal"))
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

	rdb, prefix := testenv.Redis(t)
	newAPI := func(name string, timeout time.Duration) string {
		cfg := api.DefaultConfig()
		cfg.RedisKeyPrefix = prefix + name + ":"
		cfg.RateLimitPerSecond = 0
		cfg.ApprovalThreshold = approvalThreshold
		cfg.ApprovalTimeout = timeout
		cfg.OrderWaitMax = 20 * time.Second
		srv := api.New(api.Deps{Temporal: c, Redis: rdb, Orders: s.orders, Inventory: s.inventory}, cfg, testLogger(t, "api"))
		ts := httptest.NewServer(api.NewHandler(srv, nil))
		t.Cleanup(ts.Close)
		return ts.URL
	}
	s.apiURL = newAPI("main", time.Minute)
	s.fastTimeout = newAPI("fast", shortApprovalTimeout)

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

func catalog() []product {
	return []product{
		{"BEANS", "Espresso beans", 2450, 1000},
		{"MUG", "Mug", 1500, 1000},
		{"MACHINE", "Espresso machine", 249000, 100},
		{"LAST-ONE", "The last unit", 9900, 1},
		{"FEW", "Three left", 500, 3},
	}
}

// response is an API answer as a client sees it.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %d answer %q: %v", r.status, r.body, err)
	}
}

func (s *system) do(t *testing.T, base, method, path string, headers map[string]string, body any) response {
	t.Helper()
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

type line struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

type placeOrder struct {
	CustomerID   string `json:"customer_id"`
	PaymentToken string `json:"payment_token"`
	Lines        []line `json:"lines"`
}

// place posts an order with a fresh idempotency key and returns the order id.
func (s *system) place(t *testing.T, base string, req placeOrder) string {
	t.Helper()
	resp := s.do(t, base, http.MethodPost, "/orders", map[string]string{"Idempotency-Key": "e2e-" + testenv.Suffix()}, req)
	if resp.status != http.StatusAccepted {
		t.Fatalf("place order: %d %s", resp.status, resp.body)
	}
	var out api.Order
	resp.decode(t, &out)
	return out.ID
}

// order reads an order through the public API.
func (s *system) order(t *testing.T, id string) api.Order {
	t.Helper()
	resp := s.do(t, s.apiURL, http.MethodGet, "/orders/"+id, nil, nil)
	if resp.status != http.StatusOK {
		t.Fatalf("get order %s: %d %s", id, resp.status, resp.body)
	}
	var out api.Order
	resp.decode(t, &out)
	return out
}

// awaitStatus polls the public API until the order reaches want (or any terminal status).
func (s *system) awaitStatus(t *testing.T, id, want string) api.Order {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		o := s.order(t, id)
		if o.Status == want {
			return o
		}
		if isTerminal(o.Status) {
			t.Fatalf("order %s ended %s (%s), want %s", id, o.Status, o.FailureReason, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s still %s after 60s, want %s", id, o.Status, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func isTerminal(status string) bool {
	return status == "CONFIRMED" || status == "CANCELLED" || status == "FAILED"
}

// awaitSagaEnd waits for the order's workflow to complete.
func (s *system) awaitSagaEnd(t *testing.T, id string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.temporal.GetWorkflow(ctx, "order-"+id, "").Get(ctx, nil); err != nil {
		t.Fatalf("saga of %s: %v", id, err)
	}
}

func stepNames(steps []api.SagaStep, status string) []string {
	var names []string
	for _, st := range steps {
		if status == "" || st.Status == status {
			names = append(names, st.Name)
		}
	}
	return names
}

func fmtSteps(steps []api.SagaStep) string {
	var b bytes.Buffer
	for _, st := range steps {
		fmt.Fprintf(&b, "%s=%s(%d) ", st.Name, st.Status, st.Attempts)
	}
	return b.String()
}
