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
	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/payloadcodec"
	"github.com/sagaflow/sagaflow/services/inventory"
	inventoryclient "github.com/sagaflow/sagaflow/services/inventory/client"
	"github.com/sagaflow/sagaflow/services/order"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/test/contract"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testtemporal"
	"github.com/sagaflow/sagaflow/tools/devauth"
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
	auth      *testAuth
	// subject is who the requests are from unless a test sends its own Authorization
	// ("" when authentication is off); they hold every scope (defaultToken).
	subject      string
	defaultToken string
}

// harnessSubject is the default caller: customer cust-1, who is also an operator, so a
// test about something else is allowed everything. auth_test.go and test/authz hold the
// API to who may do what.
const harnessSubject = "cust-1"

// everyScope is what the harness's default caller holds.
func everyScope() []string {
	return []string{auth.ScopeOrdersRead, auth.ScopeOrdersWrite, auth.ScopeOrdersApprove, auth.ScopeOrdersReadAll}
}

type harnessOption func(*harnessOptions)

type harnessOptions struct {
	services bool
	redis    redis.UniversalClient
	config   func(*api.Config)
	insecure bool
	auth     *testAuth
}

// withInsecure runs the API with authentication off (SAGAFLOW_INSECURE).
func withInsecure() harnessOption { return func(o *harnessOptions) { o.insecure = true } }

// withAuth makes the API trust the issuer of another harness.
func withAuth(a *testAuth) harnessOption { return func(o *harnessOptions) { o.auth = a } }

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
		// The services' own guards are tested in test/svcauthz; here they let the API's
		// reads and the tests' set-up through.
		osrv := httptest.NewServer(contract.MustFor(t, "order").WithoutAuthentication().Handler(t,
			order.NewGuardedHandler(order.NewService(odb, logging.Discard()), auth.Unprotected(logging.Discard()), logging.Discard(), nil)))
		t.Cleanup(osrv.Close)
		_, idb := testenv.ServiceDatabase(t, "inventory")
		isrv := httptest.NewServer(contract.MustFor(t, "inventory").WithoutAuthentication().Handler(t,
			inventory.NewGuardedHandler(inventory.NewService(idb, logging.Discard()), auth.Unprotected(logging.Discard()), logging.Discard(), nil)))
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
	h.auth = o.auth
	if h.auth == nil {
		h.auth = newTestAuth(t)
	}
	h.auth.configure(&h.cfg)
	h.cfg.Insecure = o.insecure
	if !o.insecure {
		h.subject = harnessSubject
		h.defaultToken = h.auth.token(t, harnessSubject, everyScope()...)
	}
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
	h.url = h.serve(api.Deps{Temporal: h.temporal, Redis: rdb, Orders: h.orders, Inventory: h.inventory}, nil)
	return h
}

// serve runs an API over deps with the harness's configuration and issuer until the test
// ends, and returns its URL; customize, when set, changes the test server before it starts.
func (h *harness) serve(deps api.Deps, customize func(*httptest.Server)) string {
	srv := api.New(deps, h.cfg, logging.Discard())
	if !h.cfg.Insecure {
		srv.WithVerifier(h.auth.verifier(h.t))
	}
	// Every request and answer is held to the committed document (but for the token, when
	// authentication is off).
	checker := contract.MustFor(h.t, "public")
	if h.cfg.Insecure {
		checker = checker.WithoutAuthentication()
	}
	ts := httptest.NewUnstartedServer(checker.Handler(h.t, api.NewHandler(srv, nil)))
	if customize != nil {
		customize(ts)
	}
	ts.Start()
	h.t.Cleanup(ts.Close)
	return ts.URL
}

// testAuth is an OIDC issuer for the API under test, its key set on an httptest server, and
// a service key of the api identity for the configuration.
type testAuth struct {
	issuer     *devauth.Issuer
	oidc       auth.OIDCConfig
	serviceKey string
	payload    payloadcodec.Config
}

const testIssuerURL = "https://issuer.api.test/"

func newTestAuth(tb testing.TB) *testAuth {
	tb.Helper()
	issuer, err := devauth.NewIssuer(testIssuerURL, devauth.DefaultAudience)
	if err != nil {
		tb.Fatal(err)
	}
	srv := httptest.NewServer(issuer.Handler())
	tb.Cleanup(srv.Close)
	key, err := auth.GenerateServiceKey(auth.IdentityAPI, time.Now())
	if err != nil {
		tb.Fatal(err)
	}
	oidc := api.DefaultConfig().OIDCConfig
	oidc.Issuer, oidc.Audience, oidc.JWKSURL = testIssuerURL, devauth.DefaultAudience, srv.URL+devauth.JWKSPath
	entry, err := payloadcodec.GenerateKey("k1")
	if err != nil {
		tb.Fatal(err)
	}
	return &testAuth{issuer: issuer, oidc: oidc, serviceKey: string(key.Private),
		payload: payloadcodec.Config{Keys: payloadcodec.Secret(entry), KeyID: "k1"}}
}

// configure points cfg at the issuer.
func (a *testAuth) configure(cfg *api.Config) {
	cfg.OIDCConfig = a.oidc
	cfg.ServiceKey = a.serviceKey
	cfg.Config.Config = a.payload
}

// verifier checks the issuer's tokens until the test ends, as api.Run's does.
func (a *testAuth) verifier(tb testing.TB) *auth.Verifier {
	tb.Helper()
	v, err := auth.NewOIDCVerifier(tb.Context(), a.oidc, nil, logging.Discard())
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// token mints a valid access token for subject with scopes.
func (a *testAuth) token(tb testing.TB, subject string, scopes ...string) string {
	tb.Helper()
	raw, err := a.issuer.Mint(devauth.Token{Subject: subject, Scopes: scopes})
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

// as is the Authorization header of a token for subject with scopes.
func (h *harness) as(subject string, scopes ...string) map[string]string {
	h.t.Helper()
	return map[string]string{"Authorization": "Bearer " + h.auth.token(h.t, subject, scopes...)}
}

// orderID is the id of the order the default caller places with key.
func (h *harness) orderID(key string) string { return api.OrderIDForKey(h.subject, key) }

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
	return h.doAt(h.url, method, path, header, body)
}

// doAt is do on the API at base (one the test started with serve).
func (h *harness) doAt(base, method, path string, header map[string]string, body string) response {
	h.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		h.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if h.defaultToken != "" {
		req.Header.Set("Authorization", "Bearer "+h.defaultToken)
	}
	for k, v := range header {
		req.Header[http.CanonicalHeaderKey(k)] = []string{v}
		// An empty Authorization sends none.
		if http.CanonicalHeaderKey(k) == "Authorization" && v == "" {
			req.Header.Del(k)
		}
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
		var placed struct {
			ID string `json:"id"`
		}
		r.json(h.t, &placed)
		h.terminateLater(placed.ID)
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
