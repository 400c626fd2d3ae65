package bench_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/logging"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/test/system"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/test/testtemporal"
	"github.com/sagaflow/sagaflow/tools/audit"
	"github.com/sagaflow/sagaflow/tools/bench"
)

func TestMain(m *testing.M) { testtemporal.Main(m) }

// liveSystem is every sagaflow component in this process, on private databases, Redis keys
// and task queues.
type liveSystem struct {
	apiURL    string
	orders    *orderclient.Client
	payments  *payclient.Client
	inventory *invclient.Client
}

func startSystem(t *testing.T, localSteps bool, opts ...system.Option) *liveSystem {
	t.Helper()
	ts := system.Start(t, func(string) *slog.Logger { return logging.Discard() }, opts...)
	cfg := ts.APIConfig(t, "")
	// The bench drives the saga without tokens, as against tools/stack's API.
	cfg.Insecure = true
	cfg.OrderWaitMax = 20 * time.Second
	cfg.SagaLocalSteps = localSteps
	s := &liveSystem{apiURL: ts.ServeAPI(t, cfg), orders: ts.Orders, payments: ts.Payments, inventory: ts.Inventory}
	if err := bench.LoadCatalog(context.Background(), s.inventory); err != nil {
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
	orders := bench.NewOrders(s.apiURL, nil, "smoke-"+testenv.Suffix(), nil)
	ledger := bench.NewLedger()

	res := bench.Open(ctx, bench.Load{Rate: 4, Duration: 3 * time.Second, MaxInFlight: 200}, orders.Op(bench.ScenarioMix, "mix"))
	ledger.RecordAll(res)
	st := bench.Summarize("saga", bench.ScenarioMix, bench.ModeOpen, res)
	t.Logf("mix at 4/s: %+v", st.Latency)
	if st.Sent != 12 || st.Completed != st.Sent || len(st.Errors) != 0 {
		t.Fatalf("sent %d (want 12), completed %d, errors %v %v", st.Sent, st.Completed, st.Errors, st.ErrorSamples)
	}
	if st.Outcomes[string(orderclient.StatusConfirmed)] == 0 {
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

	ceiling, err := bench.StartCeiling(testtemporal.TemporalClient(t), testtemporal.TaskQueue(t, "ceiling"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ceiling.Stop)
	cst := bench.Summarize("ceiling", bench.ScenarioHappy, bench.ModeSerial, bench.Serial(ctx, 3, ceiling.Op(testenv.Suffix()), nil))
	if cst.Completed != 3 || len(cst.Steps) != bench.CeilingSteps+1 {
		t.Fatalf("ceiling: completed %d, steps %+v, errors %v", cst.Completed, cst.Steps, cst.ErrorSamples)
	}
}
