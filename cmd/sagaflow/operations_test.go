package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/temporalproto"
	"go.temporal.io/sdk/client"

	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	paymentclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/test/testkeys"
	"github.com/sagaflow/sagaflow/test/testtemporal"
	"github.com/sagaflow/sagaflow/tools/localinfra"
	"github.com/sagaflow/sagaflow/workers"
	"github.com/sagaflow/sagaflow/workflows"
)

func TestMain(m *testing.M) { testtemporal.Main(m) }

// voidBreaker sits between the workers and the payment service and answers every void
// with 503 while down is set: a compensation that keeps failing.
type voidBreaker struct {
	down  atomic.Bool
	proxy *httputil.ReverseProxy
}

func (b *voidBreaker) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b.down.Load() && strings.HasSuffix(r.URL.Path, "/void") {
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":503,"title":"Service Unavailable","type":"unavailable","detail":"card processor unreachable"}`))
		return
	}
	b.proxy.ServeHTTP(w, r)
}

// operated is the services plus Temporal, every worker pool, and the temporal CLI that
// the runbook (docs/operations.md) tells operators to use.
type operated struct {
	*services
	temporal client.Client
	address  string
	cli      string
	breaker  *voidBreaker
}

func startOperated(t *testing.T) *operated {
	t.Helper()
	s := startServices(t)
	target, err := url.Parse(s.paymentSrv.URL)
	if err != nil {
		t.Fatal(err)
	}
	breaker := &voidBreaker{proxy: httputil.NewSingleHostReverseProxy(target)}
	proxied := httptest.NewServer(breaker)
	t.Cleanup(proxied.Close)
	bin, err := localinfra.FindBinary()
	if err != nil {
		t.Fatal(err)
	}
	o := &operated{services: s, temporal: testtemporal.TemporalClient(t), address: testtemporal.TemporalAddress(t), cli: bin, breaker: breaker}
	// Each pool calls as its own identity; the payment calls go through the breaker.
	urls := s.urls
	urls.Payment = proxied.URL
	as := func(pool string) testkeys.Clients {
		return s.keys.ClientsAs(workers.PoolIdentity(pool), urls, nil, 5*time.Second)
	}
	group, err := workers.New(o.temporal, workers.Options{
		Pools:       []string{workers.PoolAll},
		Local:       workers.Clients(as(workers.PoolSagas)),
		Orders:      as(workers.PoolOrders).Orders,
		Payments:    as(workers.PoolPayments).Payments,
		Inventory:   as(workers.PoolInventory).Inventory,
		StopTimeout: 2 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := group.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(group.Stop)
	return o
}

// temporalCLI runs `temporal workflow <args> --address …` and returns its output.
func (o *operated) temporalCLI(args ...string) (string, error) {
	cmd := exec.Command(o.cli, append(append([]string{"workflow"}, args...), "--address", o.address)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (o *operated) mustCLI(args ...string) string {
	o.t.Helper()
	out, err := o.temporalCLI(args...)
	if err != nil {
		o.t.Fatalf("temporal workflow %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// heldOrder starts a saga that waits for approval, with short retry intervals so a
// failing compensation shows within a second.
func (o *operated) heldOrder(id string) client.WorkflowRun {
	o.t.Helper()
	run, err := o.temporal.ExecuteWorkflow(o.ctx, client.StartWorkflowOptions{ID: workflows.WorkflowID(id), TaskQueue: workflows.TaskQueueSagas},
		workflows.OrderSagaName, workflows.OrderInput{
			OrderID: id, CustomerID: "cust-ops", PaymentToken: paymentclient.TokenVisa,
			Lines:             []workflows.OrderLine{{SKU: "SKU-A", Quantity: 1}},
			ApprovalThreshold: 1, ApprovalTimeout: 10 * time.Minute,
			Timing: workflows.Timing{RetryMaxInterval: 100 * time.Millisecond},
		})
	o.must(err, "start saga "+id)
	o.awaitSaga(id, func(st workflows.SagaStatus) bool { return st.Status == orderclient.StatusAwaitingApproval })
	return run
}

// awaitSaga polls the status query until ok holds.
func (o *operated) awaitSaga(id string, ok func(workflows.SagaStatus) bool) workflows.SagaStatus {
	o.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var st workflows.SagaStatus
	for time.Now().Before(deadline) {
		v, err := o.temporal.QueryWorkflow(o.ctx, workflows.WorkflowID(id), "", workflows.QueryStatus)
		if err == nil && v.Get(&st) == nil && ok(st) {
			return st
		}
		time.Sleep(50 * time.Millisecond)
	}
	o.t.Fatalf("saga %s never reached the expected state; last %+v", id, st)
	return st
}

// recordHistory writes a saga's history for the workflows package's replay test when
// SAGAFLOW_RECORD_HISTORIES names a folder (workflows/testdata/histories).
func (o *operated) recordHistory(id, name string) {
	o.t.Helper()
	dir := os.Getenv("SAGAFLOW_RECORD_HISTORIES")
	if dir == "" {
		return
	}
	hist := &historypb.History{}
	iter := o.temporal.GetWorkflowHistory(o.ctx, workflows.WorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		o.must(err, "read history")
		hist.Events = append(hist.Events, ev)
	}
	data, err := temporalproto.CustomJSONMarshalOptions{Indent: "  "}.Marshal(hist)
	o.must(err, "encode history")
	o.must(os.WriteFile(filepath.Join(dir, "order-saga-"+name+".json"), data, 0o644), "write history")
}

func failing(st workflows.SagaStatus) bool {
	return st.CompensationFailing && st.Status == orderclient.StatusCompensationFailed
}

func result(t *testing.T, run client.WorkflowRun) workflows.SagaResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var res workflows.SagaResult
	if err := run.Get(ctx, &res); err != nil {
		t.Fatalf("saga result: %v", err)
	}
	return res
}

// TestOperatorRunbook walks the runbook's commands against a real Temporal server:
// find the failing saga, refuse a bad resolution, mark one resolved with the update,
// retry another at once with the signal, then reconcile with `sagaflow audit`.
func TestOperatorRunbook(t *testing.T) {
	o := startOperated(t)
	o.breaker.down.Store(true)

	// A held order is rejected; its void keeps failing.
	runA := o.heldOrder("ops-a")
	o.mustCLI("signal", "--workflow-id", "order-ops-a", "--name", "reject", "--input", `{"by":"ops","reason":"fraud check"}`)
	o.awaitSaga("ops-a", failing)

	// The runbook's list queries find it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		out := o.mustCLI("list", "--query", "CompensationFailing=true AND OrderStatus='COMPENSATION_FAILED'")
		if strings.Contains(out, "order-ops-a") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the failing saga is not listed:\n%s", out)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out := o.mustCLI("query", "--workflow-id", "order-ops-a", "--type", "status"); !strings.Contains(out, "card processor unreachable") {
		t.Errorf("status query does not show the void's last error:\n%s", out)
	}

	// An update without a reason is refused, and leaves no trace in the saga.
	out, err := o.temporalCLI("update", "execute", "--workflow-id", "order-ops-a", "--name", "resolve-compensation",
		"--input", `{"by":"alice","action":"mark-resolved"}`)
	t.Logf("refused update:\n%s", out)
	if err == nil || !strings.Contains(out, "reason is required") {
		t.Fatalf("update without a reason: err %v\n%s", err, out)
	}

	// mark-resolved: the saga stops retrying and closes the order.
	out = o.mustCLI("update", "execute", "--workflow-id", "order-ops-a", "--name", "resolve-compensation",
		"--input", `{"by":"alice","reason":"voided the hold by hand at the processor","action":"mark-resolved"}`)
	t.Logf("temporal workflow update execute:\n%s", out)
	if !strings.Contains(out, "retries stopped") {
		t.Errorf("update result does not say what happened:\n%s", out)
	}
	res := result(t, runA)
	wantReason := "operator resolved [void-payment] (alice: voided the hold by hand at the processor); rejected by ops: fraud check"
	if res.Status != orderclient.StatusFailed || res.FailureReason != wantReason {
		t.Fatalf("result %+v, want FAILED with %q", res, wantReason)
	}
	ord, err := o.admin.Orders.Get(o.ctx, "ops-a")
	o.must(err, "get order")
	if ord.FailureReason != wantReason || ord.History[len(ord.History)-1].Reason != wantReason {
		t.Errorf("order service: failure reason %q, last history entry %+v", ord.FailureReason, ord.History[len(ord.History)-1])
	}
	out = o.mustCLI("query", "--workflow-id", "order-ops-a", "--type", "status", "--output", "json")
	if !strings.Contains(out, `"resolved-by-operator"`) || !strings.Contains(out, `"via": "update"`) {
		t.Errorf("status query after the resolution:\n%s", out)
	}
	if out := o.mustCLI("show", "--workflow-id", "order-ops-a"); !strings.Contains(out, "WorkflowExecutionUpdateCompleted") {
		t.Errorf("the update is not in the workflow history:\n%s", out)
	}

	// retry-now through the signal (tctl has no update), once the processor is back.
	runB := o.heldOrder("ops-b")
	o.mustCLI("signal", "--workflow-id", "order-ops-b", "--name", "reject", "--input", `{"by":"ops","reason":"fraud check"}`)
	o.awaitSaga("ops-b", failing)
	o.breaker.down.Store(false)
	sent := time.Now()
	o.mustCLI("signal", "--workflow-id", "order-ops-b", "--name", "resolve-compensation",
		"--input", `{"by":"bob","reason":"processor is back","action":"retry-now"}`)
	res = result(t, runB)
	// The first pause lasts 5s; the retry came at once.
	if took := time.Since(sent); took > 4*time.Second || res.Status != orderclient.StatusFailed || res.FailureReason != "rejected by ops: fraud check" {
		t.Fatalf("after retry-now: result %+v in %s", res, took)
	}
	var st workflows.SagaStatus
	v, err := o.temporal.QueryWorkflow(o.ctx, "order-ops-b", "", workflows.QueryStatus)
	o.must(err, "query ops-b")
	o.must(v.Get(&st), "decode status")
	last := st.Signals[len(st.Signals)-1]
	if last.Name != workflows.SignalResolveCompensation || last.Outcome != workflows.SignalAccepted || !strings.Contains(last.Note, "cut short") {
		t.Errorf("resolve signal record %+v", last)
	}
	if st.Compensations[0].Status != workflows.StepCompleted {
		t.Errorf("void %+v, want completed after the retry", st.Compensations[0])
	}

	o.recordHistory("ops-a", "operator-mark-resolved")
	o.recordHistory("ops-b", "operator-retry-now")

	// Reconciliation: the hold left open by the resolution is listed, not a violation.
	code, text, errText := o.audit()
	t.Logf("sagaflow audit:\n%s", text)
	if code != 0 || !strings.Contains(text, "OK, 1 operator-resolved") ||
		!strings.Contains(text, "\noperator-resolved no-open-hold order=ops-a sku=-: FAILED and its authorization of 1500 USD is still open here; operator resolved [void-payment] (alice:") ||
		strings.Contains(text, "ops-b") {
		t.Fatalf("audit: exit %d\n%s\n%s", code, text, errText)
	}
	code, text, _ = o.audit("--json")
	var doc struct {
		OK       bool `json:"ok"`
		Resolved []struct {
			OrderID string `json:"order_id"`
		} `json:"operator_resolved"`
	}
	o.must(json.Unmarshal([]byte(text), &doc), "decode --json")
	if code != 0 || !doc.OK || len(doc.Resolved) != 1 || doc.Resolved[0].OrderID != "ops-a" {
		t.Fatalf("audit --json: exit %d %+v", code, doc)
	}

	// Nothing is failing any more: a late resolution is refused.
	if out, err := o.temporalCLI("update", "execute", "--workflow-id", "order-ops-b", "--name", "resolve-compensation",
		"--input", `{"by":"bob","reason":"again","action":"retry-now"}`); err == nil {
		t.Fatalf("update on a finished saga succeeded:\n%s", out)
	}
}
