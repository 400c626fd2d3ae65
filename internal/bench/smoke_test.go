package bench_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/audit"
	"github.com/sagaflow/sagaflow/internal/bench"
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
	"github.com/sagaflow/sagaflow/workflows"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// system is every sagaflow component in this process, on private databases, Redis keys
// and task queues.
type system struct {
	apiURL    string
	orders    *orderclient.Client
	payments  *payclient.Client
	inventory *invclient.Client
}

func startSystem(t *testing.T, localSteps bool) *system {
	t.Helper()
	ctx := context.Background()
	log := logging.Discard()
	_, invDB := testenv.ServiceDatabase(t, "inventory")
	_, payDB := testenv.ServiceDatabase(t, "payment")
	_, ordDB := testenv.ServiceDatabase(t, "order")
	invSrv := httptest.NewServer(inventory.NewHandler(inventory.NewService(invDB, log), log, nil))
	t.Cleanup(invSrv.Close)
	paySrv := httptest.NewServer(payment.NewHandler(payment.NewService(payDB, log, payment.NewTestProcessor(0)), log, nil))
	t.Cleanup(paySrv.Close)
	ordSrv := httptest.NewServer(order.NewHandler(order.NewService(ordDB, log), log, nil))
	t.Cleanup(ordSrv.Close)

	httpClient := svcclient.NewHTTPClient()
	s := &system{
		orders:    orderclient.New(ordSrv.URL, httpClient, 10*time.Second),
		payments:  payclient.New(paySrv.URL, httpClient, 10*time.Second),
		inventory: invclient.New(invSrv.URL, httpClient, 10*time.Second),
	}
	c, err := temporalclient.Dial(temporalclient.Config{Address: testenv.TemporalAddress(t), Namespace: "default"}, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	// This test binary has a Temporal server of its own, so the production queues are private.
	group, err := workers.New(c, workers.Options{
		Pools:  []string{workers.PoolAll},
		Orders: s.orders, Payments: s.payments, Inventory: s.inventory,
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
	cfg := api.DefaultConfig()
	cfg.RedisKeyPrefix = prefix
	cfg.RateLimitPerSecond = 0
	cfg.OrderWaitMax = 20 * time.Second
	cfg.SagaLocalSteps = localSteps
	srv := api.New(api.Deps{Temporal: c, Redis: rdb, Orders: s.orders, Inventory: s.inventory}, cfg, log)
	ts := httptest.NewServer(api.NewHandler(srv, nil))
	t.Cleanup(ts.Close)
	s.apiURL = ts.URL
	if err := bench.LoadCatalog(ctx, s.inventory); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSmoke runs the open-loop generator for a few seconds against the whole system and
// the ceiling workflow: every order must reach the terminal state its scenario expects,
// the auditor must find nothing wrong, and no order may be lost or duplicated.
func TestSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole system")
	}
	ctx := context.Background()
	s := startSystem(t, true)
	orders := bench.NewOrders(s.apiURL, nil, "smoke-"+testenv.Suffix())
	ledger := bench.NewLedger()

	res := bench.Open(ctx, bench.Load{Rate: 4, Duration: 3 * time.Second, MaxInFlight: 200}, orders.Op(bench.ScenarioMix, "mix"))
	ledger.RecordAll(res)
	st := bench.Summarize("saga", bench.ScenarioMix, bench.ModeOpen, res)
	t.Logf("mix at 4/s: %+v", st.Latency)
	if st.Sent != 12 || st.Completed != st.Sent || len(st.Errors) != 0 {
		t.Fatalf("sent %d (want 12), completed %d, errors %v %v", st.Sent, st.Completed, st.Errors, st.ErrorSamples)
	}
	if st.Outcomes[workflows.StatusConfirmed] == 0 {
		t.Fatalf("no order confirmed: %v", st.Outcomes)
	}
	if len(st.Steps) == 0 || st.Steps[0].Name != "post→PENDING" {
		t.Fatalf("steps not timed from the order history: %+v", st.Steps)
	}

	rep, err := audit.New(s.orders, s.payments, s.inventory).Run(ctx, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.OK() || rep.Orders != st.Sent {
		t.Fatalf("audit: ok=%v orders=%d (want %d) violations=%v", rep.OK(), rep.Orders, st.Sent, rep.Violations)
	}
	rec, err := ledger.Reconcile(ctx, s.orders)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Accepted != st.Sent || rec.Found != st.Sent || rec.Lost+rec.Duplicated+rec.Disagree != 0 {
		t.Fatalf("reconciliation: %+v", rec)
	}

	ceiling, err := bench.StartCeiling(testenv.TemporalClient(t), testenv.TaskQueue(t, "ceiling"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ceiling.Stop)
	cst := bench.Summarize("ceiling", bench.ScenarioHappy, bench.ModeSerial, bench.Serial(ctx, 3, ceiling.Op(testenv.Suffix()), nil))
	if cst.Completed != 3 || len(cst.Steps) != bench.CeilingSteps+1 {
		t.Fatalf("ceiling: completed %d, steps %+v, errors %v", cst.Completed, cst.Steps, cst.ErrorSamples)
	}
}
