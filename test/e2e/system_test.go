package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/logging"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/test/system"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testtemporal"
	"github.com/sagaflow/sagaflow/tools/devauth"

	"go.temporal.io/sdk/client"
)

func TestMain(m *testing.M) { testtemporal.Main(m) }

// approvalThreshold holds orders of $1,000.00 or more for approval.
const approvalThreshold = 100000

// liveSystem is one running sagaflow: services, worker pools and two API instances (the second
// with a short approval timeout), all over the same databases, Redis and Temporal.
type liveSystem struct {
	t           *testing.T
	apiURL      string
	fastTimeout string // API whose held orders time out after shortApprovalTimeout
	temporal    client.Client
	temporalAt  string
	orders      *orderclient.Client
	payments    *payclient.Client
	inventory   *invclient.Client
	http        *http.Client
	sys         *system.System // mints the callers' tokens
	reader      map[string]string
}

// Who calls the public API in the scenarios: each customer with their own token, operators
// with theirs (reads go through the operator, who sees every order).
const operator = "ops-e2e"

const shortApprovalTimeout = 2 * time.Second

func testLogger(t *testing.T, component string) *slog.Logger {
	if os.Getenv("E2E_LOGS") != "" {
		return logging.New(os.Stderr, "debug", component)
	}
	return logging.Discard()
}

func startSystem(t *testing.T) *liveSystem {
	t.Helper()
	ts := system.Start(t, func(component string) *slog.Logger { return testLogger(t, component) })
	s := &liveSystem{
		t:          t,
		temporalAt: testtemporal.TemporalAddress(t),
		temporal:   ts.Temporal,
		orders:     ts.Orders,
		payments:   ts.Payments,
		inventory:  ts.Inventory,
		http:       &http.Client{Timeout: 30 * time.Second},
		sys:        ts,
	}
	newAPI := func(name string, timeout time.Duration) string {
		cfg := ts.APIConfig(t, name+":")
		cfg.ApprovalThreshold = approvalThreshold
		cfg.ApprovalTimeout = timeout
		cfg.OrderWaitMax = 20 * time.Second
		return ts.ServeAPI(t, cfg)
	}
	s.reader = s.operatorAs(t, operator)
	s.apiURL = newAPI("main", time.Minute)
	s.fastTimeout = newAPI("fast", shortApprovalTimeout)
	ts.Seed(t, catalog())
	return s
}

func catalog() []system.Product {
	return []system.Product{
		{SKU: "BEANS", Name: "Espresso beans", Price: 2450, Stock: 1000},
		{SKU: "MUG", Name: "Mug", Price: 1500, Stock: 1000},
		{SKU: "MACHINE", Name: "Espresso machine", Price: 249000, Stock: 100},
		{SKU: "LAST-ONE", Name: "The last unit", Price: 9900, Stock: 1},
		{SKU: "FEW", Name: "Three left", Price: 500, Stock: 3},
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

// customer is the Authorization header of a customer's token.
func (s *liveSystem) customer(t *testing.T, id string) map[string]string {
	t.Helper()
	return map[string]string{"Authorization": "Bearer " + s.sys.Token(t, id, devauth.CustomerScopes...)}
}

// operatorAs is the Authorization header of an operator's token.
func (s *liveSystem) operatorAs(t *testing.T, subject string) map[string]string {
	t.Helper()
	return map[string]string{"Authorization": "Bearer " + s.sys.Token(t, subject, devauth.OperatorScopes...)}
}

// do sends a request; headers carry the caller's Authorization.
func (s *liveSystem) do(t *testing.T, base, method, path string, headers map[string]string, body any) response {
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
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // the answer is read; closing has nothing left to report
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

// place posts an order as its customer with a fresh idempotency key and returns the order id.
func (s *liveSystem) place(t *testing.T, base string, req placeOrder) string {
	t.Helper()
	headers := s.customer(t, req.CustomerID)
	headers["Idempotency-Key"] = "e2e-" + testenv.Suffix()
	resp := s.do(t, base, http.MethodPost, "/orders", headers, req)
	if resp.status != http.StatusAccepted {
		t.Fatalf("place order: %d %s", resp.status, resp.body)
	}
	var out api.Order
	resp.decode(t, &out)
	return out.ID
}

// order reads an order through the public API.
func (s *liveSystem) order(t *testing.T, id string) api.Order {
	t.Helper()
	resp := s.do(t, s.apiURL, http.MethodGet, "/orders/"+id, s.reader, nil)
	if resp.status != http.StatusOK {
		t.Fatalf("get order %s: %d %s", id, resp.status, resp.body)
	}
	var out api.Order
	resp.decode(t, &out)
	return out
}

// awaitStatus polls the public API until the order reaches want (or any terminal status).
func (s *liveSystem) awaitStatus(t *testing.T, id string, want orderclient.Status) api.Order {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		o := s.order(t, id)
		if o.Status == want {
			return o
		}
		if o.Status.IsTerminal() {
			t.Fatalf("order %s ended %s (%s), want %s", id, o.Status, o.FailureReason, want)
		}
		if time.Now().After(deadline) {
			t.Fatalf("order %s still %s after 60s, want %s", id, o.Status, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// awaitSagaEnd waits for the order's workflow to complete.
func (s *liveSystem) awaitSagaEnd(t *testing.T, id string) {
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
