package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	sdkpb "go.temporal.io/api/sdk/v1"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/sagaflow/sagaflow/activities"
	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/workflows"
)

const orderID = "o-1"

// catalog is what the inventory answers when it reserves: unit price and currency per SKU.
type price struct {
	unit     int64
	currency string
}

// world answers the saga's activity calls the way the services do, records every call, and
// lets a case script failures and delays per activity.
type world struct {
	env *testsuite.TestWorkflowEnvironment

	mu      sync.Mutex
	calls   []string // activity names; transitions as "orders.transition:STATUS"
	keys    []string // idempotency keys, in call order
	count   map[string]int
	catalog map[string]price
	fail    map[string]func(call int) error
	delay   map[string]time.Duration
	// stall holds the first call of an activity for real time, until its context ends.
	stall    map[string]time.Duration
	failing  []bool                        // CompensationFailing values upserted, in order
	upserted []string                      // names of the search attributes upserted, in order
	reasons  map[orderclient.Status]string // the latest reason sent with each order status
	snapshot map[time.Duration]workflows.SagaStatus
}

func newWorld(t *testing.T) *world {
	t.Helper()
	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(30 * time.Second)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.WorkflowID(orderID), TaskQueue: workflows.TaskQueueSagas})
	w := &world{
		env:   env,
		count: map[string]int{},
		catalog: map[string]price{
			"SKU-1": {unit: 1000, currency: "USD"},
			"SKU-2": {unit: 500, currency: "USD"},
		},
		fail:     map[string]func(int) error{},
		reasons:  map[orderclient.Status]string{},
		delay:    map[string]time.Duration{},
		stall:    map[string]time.Duration{},
		snapshot: map[time.Duration]workflows.SagaStatus{},
	}
	env.RegisterWorkflowWithOptions(workflows.OrderSaga, workflow.RegisterOptions{Name: workflows.OrderSagaName})
	// The real activities are registered by name, then their service calls are replaced by
	// the world's answers: the saga sees exactly the names and types the workers serve.
	activities.NewOrders(nil).Register(env)
	activities.NewInventory(nil).Register(env)
	activities.NewPayments(nil).Register(env)

	on := func(name string, fn any) {
		env.OnActivity(name, mock.Anything, mock.Anything).AfterFn(func() time.Duration { return w.delayOf(name) }).Return(fn)
	}
	on(activities.OrdersCreate, func(ctx context.Context, in activities.CreateOrderInput) (activities.OrderResult, error) {
		if err := w.record(ctx, activities.OrdersCreate, in.IdempotencyKey); err != nil {
			return activities.OrderResult{}, err
		}
		return activities.OrderResult{Status: orderclient.StatusPending, Attempt: attempt(ctx)}, nil
	})
	on(activities.OrdersTransition, func(ctx context.Context, in activities.TransitionInput) (activities.OrderResult, error) {
		if err := w.record(ctx, activities.OrdersTransition+":"+string(in.Status), in.IdempotencyKey); err != nil {
			return activities.OrderResult{}, err
		}
		w.mu.Lock()
		w.reasons[in.Status] = in.Reason
		w.mu.Unlock()
		if in.Status == orderclient.StatusReserved && (len(in.Lines) == 0 || in.Currency == "") {
			return activities.OrderResult{}, activities.Classify(ctx, &svcclient.Error{Status: 422, Code: problem.CodeValidation, Detail: "pricing missing"})
		}
		return activities.OrderResult{Status: in.Status, Attempt: attempt(ctx)}, nil
	})
	on(activities.InventoryReserve, func(ctx context.Context, in activities.ReserveInput) (activities.ReserveResult, error) {
		if err := w.record(ctx, activities.InventoryReserve, in.IdempotencyKey); err != nil {
			return activities.ReserveResult{}, err
		}
		out := activities.ReserveResult{Status: "RESERVED", Attempt: attempt(ctx)}
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, l := range in.Lines {
			p := w.catalog[l.SKU]
			out.Lines = append(out.Lines, activities.ReservedLine{SKU: l.SKU, Name: "Product " + l.SKU, Quantity: l.Quantity, UnitPrice: p.unit, Currency: p.currency})
		}
		return out, nil
	})
	stock := func(name, status string) {
		on(name, func(ctx context.Context, in activities.StockInput) (activities.StockResult, error) {
			if err := w.record(ctx, name, in.IdempotencyKey); err != nil {
				return activities.StockResult{}, err
			}
			return activities.StockResult{Status: status, Attempt: attempt(ctx)}, nil
		})
	}
	stock(activities.InventoryRelease, "RELEASED")
	stock(activities.InventoryCommit, "COMMITTED")
	on(activities.PaymentsAuthorize, func(ctx context.Context, in activities.AuthorizeInput) (activities.PaymentResult, error) {
		if err := w.record(ctx, activities.PaymentsAuthorize, in.IdempotencyKey); err != nil {
			return activities.PaymentResult{}, err
		}
		return activities.PaymentResult{Status: "AUTHORIZED", Amount: in.Amount, Attempt: attempt(ctx)}, nil
	})
	payment := func(name, status string) {
		on(name, func(ctx context.Context, in activities.PaymentInput) (activities.PaymentResult, error) {
			if err := w.record(ctx, name, in.IdempotencyKey); err != nil {
				return activities.PaymentResult{}, err
			}
			return activities.PaymentResult{Status: status, Attempt: attempt(ctx)}, nil
		})
	}
	payment(activities.PaymentsCapture, "CAPTURED")
	payment(activities.PaymentsVoid, "VOIDED")

	env.OnUpsertTypedSearchAttributes(mock.Anything).Run(func(args mock.Arguments) {
		sa := args.Get(0).(temporal.SearchAttributes)
		w.mu.Lock()
		defer w.mu.Unlock()
		for k := range sa.GetUntypedValues() {
			w.upserted = append(w.upserted, k.GetName())
		}
		if v, ok := sa.GetBool(workflows.SearchCompensationFailing); ok {
			w.failing = append(w.failing, v)
		}
	}).Return(nil).Maybe()
	return w
}

func attempt(ctx context.Context) int32 { return activity.GetInfo(ctx).Attempt }

// record notes a call and returns the scripted failure for it, classified exactly as the
// real activities classify service answers.
func (w *world) record(ctx context.Context, name, key string) error {
	w.mu.Lock()
	w.calls = append(w.calls, name)
	w.keys = append(w.keys, key)
	base := strings.SplitN(name, ":", 2)[0]
	w.count[name]++
	n := w.count[name]
	fail := w.fail[name]
	if fail == nil {
		fail = w.fail[base]
	}
	stall := w.stall[name]
	w.mu.Unlock()
	if stall > 0 && n == 1 {
		select {
		case <-time.After(stall):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail == nil {
		return nil
	}
	return activities.Classify(ctx, fail(n))
}

func (w *world) delayOf(name string) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.delay[name]
}

// at runs fn after d of workflow time.
func (w *world) at(d time.Duration, fn func()) { w.env.RegisterDelayedCallback(fn, d) }

func (w *world) signal(d time.Duration, name string, dec workflows.Decision) {
	w.at(d, func() { w.env.SignalWorkflow(name, dec) })
}

// snapshotAt keeps the status query's answer at d.
func (w *world) snapshotAt(t *testing.T, d time.Duration) {
	w.at(d, func() {
		st, err := queryStatus(w.env)
		if err != nil {
			t.Errorf("query at %s: %v", d, err)
			return
		}
		w.mu.Lock()
		w.snapshot[d] = st
		w.mu.Unlock()
	})
}

func queryStatus(env *testsuite.TestWorkflowEnvironment) (workflows.SagaStatus, error) {
	v, err := env.QueryWorkflow(workflows.QueryStatus)
	if err != nil {
		return workflows.SagaStatus{}, err
	}
	var st workflows.SagaStatus
	return st, v.Get(&st)
}

// compensations lists the compensation activities called, retries of one call folded.
func (w *world) compensations() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := []string{}
	for _, c := range w.calls {
		if c != activities.InventoryRelease && c != activities.PaymentsVoid {
			continue
		}
		if len(out) > 0 && out[len(out)-1] == c {
			continue
		}
		out = append(out, c)
	}
	return out
}

// transitions lists the order statuses the saga asked for, retries folded.
func (w *world) transitions() []orderclient.Status {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := []orderclient.Status{}
	for _, c := range w.calls {
		status, ok := strings.CutPrefix(c, activities.OrdersTransition+":")
		if !ok || (len(out) > 0 && out[len(out)-1] == orderclient.Status(status)) {
			continue
		}
		out = append(out, orderclient.Status(status))
	}
	return out
}

func (w *world) called(name string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.count[name]
}

func input() workflows.OrderInput {
	return workflows.OrderInput{
		OrderID:      orderID,
		CustomerID:   "c-1",
		PaymentToken: "tok_visa",
		RequestID:    "req-1",
		Lines:        []workflows.OrderLine{{SKU: "SKU-1", Quantity: 2}, {SKU: "SKU-2", Quantity: 1}},
	}
}

func final(status int, code, detail string, subjects ...string) func(int) error {
	return func(int) error {
		e := &svcclient.Error{Status: status, Code: code, Detail: detail}
		for _, s := range subjects {
			e.Fields = append(e.Fields, svcclient.FieldError{Message: detail, Location: "body.lines", Value: s})
		}
		return e
	}
}

// flaky fails the first n calls with a retryable answer.
func flaky(n int, err error) func(int) error {
	return func(call int) error {
		if call <= n {
			return err
		}
		return nil
	}
}

const (
	release   = activities.InventoryRelease
	void      = activities.PaymentsVoid
	threshold = 2000 // the default order totals 2500
)

func TestOrderSaga(t *testing.T) {
	unavailable := &svcclient.Error{Status: http.StatusServiceUnavailable, Code: problem.CodeUnavailable, Detail: "database unavailable"}
	refused := errors.New("dial tcp 127.0.0.1:8083: connect: connection refused")
	forwardAll := []orderclient.Status{orderclient.StatusReserved, orderclient.StatusAuthorized, orderclient.StatusCaptured, orderclient.StatusConfirmed}
	approval := func(in *workflows.OrderInput) {
		in.ApprovalThreshold = threshold
		in.ApprovalTimeout = 2 * time.Hour
	}
	alice := workflows.Decision{By: "alice", Reason: "too large"}
	bob := workflows.Decision{By: "bob", Reason: "changed mind"}
	cases := []struct {
		name   string
		input  func(*workflows.OrderInput)
		script func(t *testing.T, w *world)

		wantStatus      orderclient.Status
		wantReason      string
		wantComps       []string
		wantTransitions []orderclient.Status
		// wantSteps maps step names to their final state in the status query.
		wantSteps map[string]string
		check     func(t *testing.T, w *world, st workflows.SagaStatus)
	}{
		{
			name:            "happy path",
			wantStatus:      orderclient.StatusConfirmed,
			wantComps:       []string{},
			wantTransitions: forwardAll,
			wantSteps: map[string]string{
				workflows.StepCreateOrder: workflows.StepCompleted, workflows.StepReserveStock: workflows.StepCompleted,
				workflows.StepPriceOrder: workflows.StepCompleted, workflows.StepAuthorizePayment: workflows.StepCompleted,
				workflows.StepAwaitApproval: workflows.StepSkipped, workflows.StepCapturePayment: workflows.StepCompleted,
				workflows.StepCommitStock: workflows.StepCompleted, workflows.StepConfirmOrder: workflows.StepCompleted,
			},
			check: func(t *testing.T, w *world, st workflows.SagaStatus) {
				if st.Total != 2500 || st.Currency != "USD" || !st.PastPivot {
					t.Errorf("total %d %s past pivot %v, want 2500 USD past pivot", st.Total, st.Currency, st.PastPivot)
				}
				wantLines := []workflows.PricedLine{
					{SKU: "SKU-1", Name: "Product SKU-1", Quantity: 2, UnitPrice: 1000, LineTotal: 2000},
					{SKU: "SKU-2", Name: "Product SKU-2", Quantity: 1, UnitPrice: 500, LineTotal: 500},
				}
				if !reflect.DeepEqual(st.Lines, wantLines) {
					t.Errorf("lines %+v, want %+v", st.Lines, wantLines)
				}
				md, err := w.env.QueryWorkflow("__temporal_workflow_metadata")
				if err != nil {
					t.Fatal(err)
				}
				var meta sdkpb.WorkflowMetadata
				if err := md.Get(&meta); err != nil {
					t.Fatal(err)
				}
				details := meta.GetCurrentDetails()
				for _, want := range []string{"**Order o-1** · **CONFIRMED**", "total 2500 USD", "- `commit-stock` completed"} {
					if !strings.Contains(details, want) {
						t.Errorf("current details lack %q:\n%s", want, details)
					}
				}
				wantKeys := []string{
					"order-o-1/create-order", "order-o-1/reserve-stock", "order-o-1/status-RESERVED",
					"order-o-1/authorize-payment", "order-o-1/status-AUTHORIZED", "order-o-1/capture-payment",
					"order-o-1/status-CAPTURED", "order-o-1/commit-stock", "order-o-1/status-CONFIRMED",
				}
				if !reflect.DeepEqual(w.keys, wantKeys) {
					t.Errorf("idempotency keys %v, want %v", w.keys, wantKeys)
				}
				// The customer id is never indexed: search attributes are stored in clear.
				if !slices.Contains(w.upserted, workflows.SearchOrderStatus.GetName()) || slices.Contains(w.upserted, workflows.SearchCustomerID.GetName()) {
					t.Errorf("upserted search attributes %v, want OrderStatus and never CustomerId", w.upserted)
				}
			},
		},
		{
			name:  "approved",
			input: approval,
			script: func(t *testing.T, w *world) {
				w.signal(time.Minute, workflows.SignalApprove, alice)
			},
			wantStatus:      orderclient.StatusConfirmed,
			wantComps:       []string{},
			wantTransitions: []orderclient.Status{orderclient.StatusReserved, orderclient.StatusAuthorized, orderclient.StatusAwaitingApproval, orderclient.StatusCaptured, orderclient.StatusConfirmed},
			wantSteps:       map[string]string{workflows.StepAwaitApproval: workflows.StepCompleted},
			check: func(t *testing.T, w *world, st workflows.SagaStatus) {
				if st.DecisionKind != workflows.DecisionApproved || st.Decision == nil || st.Decision.By != "alice" {
					t.Errorf("decision %q %+v, want approved by alice", st.DecisionKind, st.Decision)
				}
			},
		},
		{
			name: "unknown SKU at reserve",
			script: func(t *testing.T, w *world) {
				w.fail[activities.InventoryReserve] = final(422, problem.CodeUnknownSKU, "unknown SKU", "SKU-9")
			},
			wantStatus:      orderclient.StatusFailed,
			wantReason:      "unknown SKU: SKU-9",
			wantComps:       []string{release},
			wantTransitions: []orderclient.Status{orderclient.StatusCompensating, orderclient.StatusFailed},
			wantSteps: map[string]string{
				workflows.StepCreateOrder: workflows.StepCompleted, workflows.StepReserveStock: workflows.StepCompensated,
				workflows.StepPriceOrder: workflows.StepSkipped, workflows.StepAuthorizePayment: workflows.StepSkipped,
				workflows.StepCapturePayment: workflows.StepSkipped, workflows.StepCloseOrder: workflows.StepCompleted,
			},
			check: func(t *testing.T, w *world, st workflows.SagaStatus) {
				if w.called(activities.PaymentsAuthorize) != 0 {
					t.Error("authorize was called after a failed reserve")
				}
			},
		},
		{
			name: "short stock",
			script: func(t *testing.T, w *world) {
				w.fail[activities.InventoryReserve] = final(422, problem.CodeOutOfStock, "not enough stock", "SKU-1")
			},
			wantStatus:      orderclient.StatusFailed,
			wantReason:      "out of stock: SKU-1",
			wantComps:       []string{release},
			wantTransitions: []orderclient.Status{orderclient.StatusCompensating, orderclient.StatusFailed},
			check: func(t *testing.T, w *world, st workflows.SagaStatus) {
				step := stepOf(st, workflows.StepReserveStock)
				if step.Attempts != 1 || !strings.HasPrefix(step.Error, problem.CodeOutOfStock) {
					t.Errorf("reserve step %+v, want 1 attempt and an out-of-stock error", step)
				}
			},
		},
		{
			name: "declined card",
			script: func(t *testing.T, w *world) {
				w.fail[activities.PaymentsAuthorize] = final(402, problem.CodeCardDeclined, "card declined")
			},
			wantStatus:      orderclient.StatusFailed,
			wantReason:      "card declined",
			wantComps:       []string{void, release},
			wantTransitions: []orderclient.Status{orderclient.StatusReserved, orderclient.StatusCompensating, orderclient.StatusFailed},
			wantSteps: map[string]string{
				workflows.StepReserveStock: workflows.StepCompensated, workflows.StepAuthorizePayment: workflows.StepCompensated,
				workflows.StepCapturePayment: workflows.StepSkipped, workflows.StepCommitStock: workflows.StepSkipped,
			},
		},
		{
			name: "insufficient funds",
			script: func(t *testing.T, w *world) {
				w.fail[activities.PaymentsAuthorize] = final(402, problem.CodeInsufficientFunds, "insufficient funds")
			},
			wantStatus:      orderclient.StatusFailed,
			wantReason:      "insufficient funds",
			wantComps:       []string{void, release},
			wantTransitions: []orderclient.Status{orderclient.StatusReserved, orderclient.StatusCompensating, orderclient.StatusFailed},
		},
		{
			name:  "rejected",
			input: approval,
			script: func(t *testing.T, w *world) {
				w.delay[activities.OrdersCreate] = 10 * time.Second
				w.signal(5*time.Second, workflows.SignalApprove, bob)
				w.signal(time.Minute, workflows.SignalReject, alice)
			},
			wantStatus: orderclient.StatusFailed,
			wantReason: "rejected by alice: too large",
			wantComps:  []string{void, release},
			wantTransitions: []orderclient.Status{orderclient.StatusReserved, orderclient.StatusAuthorized, orderclient.StatusAwaitingApproval,
				orderclient.StatusCompensating, orderclient.StatusFailed},
			wantSteps: map[string]string{workflows.StepAwaitApproval: workflows.StepFailed},
			check: func(t *testing.T, w *world, st workflows.SagaStatus) {
				if st.DecisionKind != workflows.DecisionRejected {
					t.Errorf("decision kind %q, want rejected", st.DecisionKind)
				}
				if len(st.Signals) != 2 || st.Signals[0].Outcome != workflows.SignalIgnored || st.Signals[1].Outcome != workflows.SignalAccepted {
					t.Errorf("signals %+v, want the early approve ignored and the reject accepted", st.Signals)
				}
			},
		},
		{
			name:  "approval timed out",
			input: approval,
			script: func(t *testing.T, w *world) {
				w.snapshotAt(t, time.Hour)
			},
			wantStatus: orderclient.StatusFailed,
			wantReason: "approval timed out",
			wantComps:  []string{void, release},
			wantTransitions: []orderclient.Status{orderclient.StatusReserved, orderclient.StatusAuthorized, orderclient.StatusAwaitingApproval,
				orderclient.StatusCompensating, orderclient.StatusFailed},
			check: func(t *testing.T, w *world, st workflows.SagaStatus) {
				held := w.snapshot[time.Hour]
				if held.Status != orderclient.StatusAwaitingApproval || held.CurrentStep != workflows.StepAwaitApproval {
					t.Errorf("after an hour: status %s step %s, want AWAITING_APPROVAL at await-approval", held.Status, held.CurrentStep)
				}
				if st.DecisionKind != workflows.DecisionTimedOut {
					t.Errorf("decision kind %q, want timed-out", st.DecisionKind)
				}
			},
		},
		{
			name: "cancel signal before reserve",
			script: func(t *testing.T, w *world) {
				w.delay[activities.OrdersCreate] = 10 * time.Second
				w.signal(5*time.Second, workflows.SignalCancel, bob)
			},
			wantStatus:      orderclient.StatusCancelled,
			wantReason:      "cancelled by bob: changed mind",
			wantComps:       []string{},
			wantTransitions: []orderclient.Status{orderclient.StatusCompensating, orderclient.StatusCancelled},
			wantSteps:       map[string]string{workflows.StepCreateOrder: workflows.StepCompleted, workflows.StepReserveStock: workflows.StepSkipped},
			check: func(t *testing.T, w *world, st workflows.SagaStatus) {
				if w.called(activities.InventoryReserve) != 0 {
					t.Error("reserve was called after the cancel")
				}
			},
		},
		{
			name: "cancel signal during authorize",
			script: func(t *testing.T, w *world) {
				w.delay[activities.PaymentsAuthorize] = 10 * time.Second
				w.signal(5*time.Second, workflows.SignalCancel, bob)
			},
			wantStatus:      orderclient.StatusCancelled,
			wantReason:      "cancelled by bob: changed mind",
			wantComps:       []string{void, release},
			wantTransitions: []orderclient.Status{orderclient.StatusReserved, orderclient.StatusCompensating, orderclient.StatusCancelled},
			wantSteps:       map[string]string{workflows.StepAuthorizePayment: workflows.StepCompensated},
		},
		{
			name:  "cancel signal while awaiting approval",
			input: approval,
			script: func(t *testing.T, w *world) {
				w.signal(time.Minute, workflows.SignalCancel, bob)
			},
			wantStatus: orderclient.StatusCancelled,
			wantReason: "cancelled by bob: changed mind",
			wantComps:  []string{void, release},
			wantTransitions: []orderclient.Status{orderclient.StatusReserved, orderclient.StatusAuthorized, orderclient.StatusAwaitingApproval,
				orderclient.StatusCompensating, orderclient.StatusCancelled},
			wantSteps: map[string]string{workflows.StepAwaitApproval: workflows.StepFailed},
		},
		{
			name: "cancel signal after capture is ignored",
			script: func(t *testing.T, w *world) {
				w.delay[activities.PaymentsCapture] = 10 * time.Second
				w.signal(5*time.Second, workflows.SignalCancel, bob)
			},
			wantStatus:      orderclient.StatusConfirmed,
			wantComps:       []string{},
			wantTransitions: forwardAll,
			check: func(t *testing.T, w *world, st workflows.SagaStatus) {
				if len(st.Signals) != 1 || st.Signals[0].Name != workflows.SignalCancel || st.Signals[0].Outcome != workflows.SignalIgnored {
					t.Errorf("signals %+v, want one ignored cancel", st.Signals)
				}
			},
		},
		{
			name: "workflow cancellation compensates",
			script: func(t *testing.T, w *world) {
				w.delay[activities.PaymentsAuthorize] = 10 * time.Second
				w.at(5*time.Second, w.env.CancelWorkflow)
			},
			wantStatus:      orderclient.StatusCancelled,
			wantReason:      "workflow cancelled",
			wantComps:       []string{void, release},
			wantTransitions: []orderclient.Status{orderclient.StatusReserved, orderclient.StatusCompensating, orderclient.StatusCancelled},
		},
		{
			name: "transient errors are retried without compensation",
			script: func(t *testing.T, w *world) {
				w.fail[activities.InventoryReserve] = flaky(3, unavailable)
				w.fail[activities.PaymentsAuthorize] = flaky(2, refused)
				w.fail[activities.InventoryCommit] = flaky(4, &svcclient.Error{Status: http.StatusTooManyRequests, Code: problem.CodeRateLimited})
				w.fail[activities.OrdersTransition+":"+string(orderclient.StatusReserved)] = flaky(1, &svcclient.Error{Status: http.StatusConflict, Code: problem.CodeInFlight})
			},
			wantStatus:      orderclient.StatusConfirmed,
			wantComps:       []string{},
			wantTransitions: forwardAll,
			check: func(t *testing.T, w *world, st workflows.SagaStatus) {
				for step, want := range map[string]int32{
					workflows.StepReserveStock: 4, workflows.StepAuthorizePayment: 3, workflows.StepCommitStock: 5,
					workflows.StepPriceOrder: 2, workflows.StepCreateOrder: 1,
				} {
					if got := stepOf(st, step).Attempts; got != want {
						t.Errorf("%s attempts %d, want %d", step, got, want)
					}
				}
			},
		},
		{
			name: "compensation failing for several batches",
			script: func(t *testing.T, w *world) {
				w.fail[activities.PaymentsAuthorize] = final(402, problem.CodeCardDeclined, "card declined")
				w.fail[activities.PaymentsVoid] = flaky(12, unavailable)
				w.snapshotAt(t, 15*time.Second)
			},
			wantStatus: orderclient.StatusFailed,
			wantReason: "card declined",
			wantComps:  []string{void, release},
			wantTransitions: []orderclient.Status{orderclient.StatusReserved, orderclient.StatusCompensating, orderclient.StatusCompensationFailed,
				orderclient.StatusCompensating, orderclient.StatusFailed},
			check: func(t *testing.T, w *world, st workflows.SagaStatus) {
				mid := w.snapshot[15*time.Second]
				if !mid.CompensationFailing || mid.Status != orderclient.StatusCompensationFailed || len(mid.Compensations) != 1 {
					t.Fatalf("mid-way status %+v, want a failing void-payment", mid)
				}
				c := mid.Compensations[0]
				if c.Name != workflows.StepVoidPayment || c.Status != workflows.StepFailed || c.Attempts != 5 ||
					!strings.HasPrefix(c.Error, problem.CodeUnavailable) {
					t.Errorf("failing compensation %+v, want void-payment failed after 5 attempts with unavailable", c)
				}
				if st.CompensationFailing {
					t.Error("compensation still marked failing at the end")
				}
				wantComps := []workflows.StepState{
					{Name: workflows.StepVoidPayment, Status: workflows.StepCompleted, Attempts: 13},
					{Name: workflows.StepReleaseStock, Status: workflows.StepCompleted, Attempts: 1},
				}
				if !reflect.DeepEqual(st.Compensations, wantComps) {
					t.Errorf("compensations %+v, want %+v", st.Compensations, wantComps)
				}
				if !reflect.DeepEqual(w.failing, []bool{true, false}) {
					t.Errorf("CompensationFailing upserts %v, want [true false]", w.failing)
				}
				keys := strings.Join(w.keys, " ")
				if !strings.Contains(keys, "order-o-1/status-COMPENSATING-2") {
					t.Errorf("second move to COMPENSATING did not get its own key: %s", keys)
				}
			},
		},
		{
			name: "commit keeps failing after the pivot and is retried until it succeeds",
			script: func(t *testing.T, w *world) {
				refusedTwice := final(409, problem.CodeConflict, "reservation locked")
				w.fail[activities.InventoryCommit] = func(call int) error {
					if call <= 2 {
						return refusedTwice(call)
					}
					return nil
				}
			},
			wantStatus:      orderclient.StatusConfirmed,
			wantComps:       []string{},
			wantTransitions: forwardAll,
			check: func(t *testing.T, w *world, st workflows.SagaStatus) {
				if got := stepOf(st, workflows.StepCommitStock); got.Attempts != 3 || got.Status != workflows.StepCompleted {
					t.Errorf("commit step %+v, want completed after 3 attempts", got)
				}
			},
		},
		{
			name: "capture refused for good goes back",
			script: func(t *testing.T, w *world) {
				w.fail[activities.PaymentsCapture] = final(402, problem.CodeCardDeclined, "capture declined")
			},
			wantStatus:      orderclient.StatusFailed,
			wantReason:      "card declined",
			wantComps:       []string{void, release},
			wantTransitions: []orderclient.Status{orderclient.StatusReserved, orderclient.StatusAuthorized, orderclient.StatusCompensating, orderclient.StatusFailed},
			wantSteps:       map[string]string{workflows.StepCapturePayment: workflows.StepFailed, workflows.StepCommitStock: workflows.StepSkipped},
		},
		{
			name: "total overflows",
			script: func(t *testing.T, w *world) {
				w.catalog["SKU-1"] = price{unit: math.MaxInt64/2 + 1, currency: "USD"}
			},
			wantStatus:      orderclient.StatusFailed,
			wantReason:      "order total overflows (line SKU-1)",
			wantComps:       []string{release},
			wantTransitions: []orderclient.Status{orderclient.StatusCompensating, orderclient.StatusFailed},
			wantSteps:       map[string]string{workflows.StepPriceOrder: workflows.StepFailed},
		},
		{
			name: "sum of lines overflows",
			script: func(t *testing.T, w *world) {
				w.catalog["SKU-1"] = price{unit: math.MaxInt64 / 2, currency: "USD"}
				w.catalog["SKU-2"] = price{unit: math.MaxInt64 / 2, currency: "USD"}
			},
			input: func(in *workflows.OrderInput) {
				in.Lines = []workflows.OrderLine{{SKU: "SKU-1", Quantity: 1}, {SKU: "SKU-2", Quantity: 2}}
			},
			wantStatus:      orderclient.StatusFailed,
			wantReason:      "order total overflows",
			wantComps:       []string{release},
			wantTransitions: []orderclient.Status{orderclient.StatusCompensating, orderclient.StatusFailed},
		},
		{
			name: "mixed currencies",
			script: func(t *testing.T, w *world) {
				w.catalog["SKU-2"] = price{unit: 500, currency: "EUR"}
			},
			wantStatus:      orderclient.StatusFailed,
			wantReason:      "lines are priced in more than one currency: USD, EUR",
			wantComps:       []string{release},
			wantTransitions: []orderclient.Status{orderclient.StatusCompensating, orderclient.StatusFailed},
		},
		{
			name: "order refused at creation",
			script: func(t *testing.T, w *world) {
				w.fail[activities.OrdersCreate] = final(422, problem.CodeValidation, "each sku may appear only once", "SKU-1")
			},
			wantStatus:      orderclient.StatusFailed,
			wantReason:      "create-order failed: each sku may appear only once",
			wantComps:       []string{},
			wantTransitions: []orderclient.Status{},
			wantSteps:       map[string]string{workflows.StepCreateOrder: workflows.StepFailed, workflows.StepReserveStock: workflows.StepSkipped},
		},
	}

	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld(t)
			in := input()
			if tc.input != nil {
				tc.input(&in)
			}
			if tc.script != nil {
				tc.script(t, w)
			}
			w.env.ExecuteWorkflow(workflows.OrderSagaName, in)

			if !w.env.IsWorkflowCompleted() {
				t.Fatal("workflow did not complete")
			}
			if err := w.env.GetWorkflowError(); err != nil {
				t.Fatalf("workflow failed: %v", err)
			}
			var res workflows.SagaResult
			if err := w.env.GetWorkflowResult(&res); err != nil {
				t.Fatal(err)
			}
			if res.Status != tc.wantStatus || res.FailureReason != tc.wantReason || res.OrderID != orderID {
				t.Errorf("result %+v, want status %s reason %q", res, tc.wantStatus, tc.wantReason)
			}
			if got := w.compensations(); !reflect.DeepEqual(got, tc.wantComps) {
				t.Errorf("compensations called %v, want %v", got, tc.wantComps)
			}
			if got := w.transitions(); !reflect.DeepEqual(got, tc.wantTransitions) {
				t.Errorf("order transitions %v, want %v", got, tc.wantTransitions)
			}

			st, err := queryStatus(w.env)
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != tc.wantStatus || st.FailureReason != tc.wantReason || st.CurrentStep != "" {
				t.Errorf("status query: status %s reason %q step %q, want %s %q and no current step", st.Status, st.FailureReason, st.CurrentStep, tc.wantStatus, tc.wantReason)
			}
			var ran []string
			for _, c := range st.Compensations {
				ran = append(ran, activityOf(c.Name))
				if c.Status != workflows.StepCompleted {
					t.Errorf("compensation %+v did not complete", c)
				}
			}
			if len(ran) == 0 {
				ran = []string{}
			}
			if !reflect.DeepEqual(ran, tc.wantComps) {
				t.Errorf("status query compensations %v, want %v", ran, tc.wantComps)
			}
			for name, want := range tc.wantSteps {
				if got := stepOf(st, name); got.Status != want {
					t.Errorf("step %s is %q (%+v), want %q", name, got.Status, got, want)
				}
			}
			for _, step := range st.Steps {
				if step.Status == workflows.StepPending || step.Status == workflows.StepRunning {
					t.Errorf("step %s still %s at the end", step.Name, step.Status)
				}
			}
			if tc.check != nil {
				tc.check(t, w, st)
			}
		})
	}
}

func stepOf(st workflows.SagaStatus, name string) workflows.StepState {
	for _, s := range st.Steps {
		if s.Name == name {
			return s
		}
	}
	return workflows.StepState{Name: name, Status: "absent"}
}

func activityOf(step string) string {
	switch step {
	case workflows.StepReleaseStock:
		return release
	case workflows.StepVoidPayment:
		return void
	}
	return fmt.Sprintf("unknown compensation %q", step)
}
