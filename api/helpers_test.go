package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/services/inventory"
	inventoryclient "github.com/sagaflow/sagaflow/services/inventory/client"
	"github.com/sagaflow/sagaflow/services/order"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/test/contract"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testtemporal"
	"github.com/sagaflow/sagaflow/workflows"
)

func TestMain(m *testing.M) { testtemporal.Main(m) }

// harness runs the API over real Redis and Temporal. Nothing polls its saga task queue,
// so every saga it starts stays open at its first step.
type harness struct {
	t         *testing.T
	cfg       api.Config
	url       string
	temporal  client.Client
	redis     *redis.Client
	prefix    string
	orders    *orderclient.Client
	inventory *inventoryclient.Client
}

type harnessOption func(*harnessOptions)

type harnessOptions struct {
	services bool
	redis    redis.UniversalClient
	config   func(*api.Config)
}

// withServices runs the real order and inventory services in-process.
func withServices() harnessOption { return func(o *harnessOptions) { o.services = true } }

// withRedis replaces the API's Redis client (for example by one that cannot connect).
func withRedis(r redis.UniversalClient) harnessOption {
	return func(o *harnessOptions) { o.redis = r }
}

func withConfig(f func(*api.Config)) harnessOption { return func(o *harnessOptions) { o.config = f } }

func newHarness(t *testing.T, opts ...harnessOption) *harness {
	t.Helper()
	var o harnessOptions
	for _, opt := range opts {
		opt(&o)
	}
	h := &harness{t: t, temporal: testtemporal.TemporalClient(t)}
	h.redis, h.prefix = testenv.Redis(t)

	// Unreachable by default: tests that need the services ask for them.
	orderURL, inventoryURL := "http://127.0.0.1:1", "http://127.0.0.1:1"
	if o.services {
		_, odb := testenv.ServiceDatabase(t, "order")
		osrv := httptest.NewServer(contract.MustFor(t, "order").Handler(t,
			order.NewHandler(order.NewService(odb, logging.Discard()), logging.Discard(), nil)))
		t.Cleanup(osrv.Close)
		_, idb := testenv.ServiceDatabase(t, "inventory")
		isrv := httptest.NewServer(contract.MustFor(t, "inventory").Handler(t,
			inventory.NewHandler(inventory.NewService(idb, logging.Discard()), logging.Discard(), nil)))
		t.Cleanup(isrv.Close)
		orderURL, inventoryURL = osrv.URL, isrv.URL
	}
	h.orders = orderclient.New(orderURL, nil, 2*time.Second)
	h.inventory = inventoryclient.New(inventoryURL, nil, 2*time.Second)

	h.cfg = api.DefaultConfig()
	h.cfg.RedisKeyPrefix = h.prefix
	h.cfg.SagaTaskQueue = testtemporal.TaskQueue(t, workflows.TaskQueueSagas)
	h.cfg.OrderServiceURL, h.cfg.InventoryServiceURL = orderURL, inventoryURL
	h.cfg.ServiceCallTimeout = 2 * time.Second
	h.cfg.RateLimitPerSecond = 0
	if o.config != nil {
		o.config(&h.cfg)
	}
	if err := h.cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	var rdb redis.UniversalClient = h.redis
	if o.redis != nil {
		rdb = o.redis
	}
	srv := api.New(api.Deps{Temporal: h.temporal, Redis: rdb, Orders: h.orders, Inventory: h.inventory}, h.cfg, logging.Discard())
	// Every request and answer is held to the committed document.
	ts := httptest.NewServer(contract.MustFor(t, "public").Handler(t, api.NewHandler(srv, nil)))
	t.Cleanup(ts.Close)
	h.url = ts.URL
	return h
}

// response is an HTTP answer with its body read.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decode %s: %v", r.body, err)
	}
}

// problemType returns the problem's type after checking the answer is problem+json.
func (r response) problemType(t *testing.T) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("Content-Type = %q, want application/problem+json (status %d, body %s)", ct, r.status, r.body)
	}
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
	}
	r.json(t, &p)
	if p.Status != r.status {
		t.Fatalf("problem status %d, HTTP status %d", p.Status, r.status)
	}
	return p.Type
}

func (h *harness) do(method, path string, header map[string]string, body string) response {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.url+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header[http.CanonicalHeaderKey(k)] = []string{v}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // the answer is read; closing has nothing left to report
	if err != nil {
		h.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: raw}
}

func (h *harness) placeOrder(key, body string, header map[string]string) response {
	h.t.Helper()
	hd := map[string]string{"Idempotency-Key": key}
	for k, v := range header {
		hd[k] = v
	}
	r := h.do(http.MethodPost, "/orders", hd, body)
	if r.status == http.StatusAccepted || r.status == http.StatusOK {
		h.terminateLater(api.OrderIDForKey(key))
	}
	return r
}

// terminateLater ends the order's saga when the test ends, so the dev server does not
// keep it around for later tests.
func (h *harness) terminateLater(orderID string) {
	h.t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = h.temporal.TerminateWorkflow(ctx, workflows.WorkflowID(orderID), "", "test finished")
	})
}

// sagaRuns counts the runs recorded for an order's workflow id.
func (h *harness) sagaRuns(orderID string) int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Describe is strongly consistent: the saga exists now.
	if _, err := h.temporal.DescribeWorkflowExecution(ctx, workflows.WorkflowID(orderID), ""); err != nil {
		h.t.Fatalf("describe saga of %s: %v", orderID, err)
	}
	// Visibility is eventually consistent: wait until it shows the run, then count.
	query := "WorkflowId = '" + workflows.WorkflowID(orderID) + "'"
	for {
		resp, err := h.temporal.CountWorkflow(ctx, &workflowservice.CountWorkflowExecutionsRequest{Query: query})
		if err != nil {
			h.t.Fatalf("count sagas: %v", err)
		}
		if resp.GetCount() > 0 {
			return int(resp.GetCount())
		}
		select {
		case <-ctx.Done():
			h.t.Fatalf("saga of %s never became visible", orderID)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func orderBody(customer string, lines ...string) string {
	var b bytes.Buffer
	b.WriteString(`{"customer_id":"` + customer + `","payment_token":"tok_visa","lines":[`)
	for i, l := range lines {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(l)
	}
	b.WriteString(`]}`)
	return b.String()
}

// newDeadRedis returns a Redis client for an address nothing listens on.
func newDeadRedis(t *testing.T) *redis.Client {
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	testenv.CloseOnCleanup(t, rdb)
	return rdb
}
