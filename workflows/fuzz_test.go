package workflows_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"github.com/sagaflow/sagaflow/activities"
	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	"github.com/sagaflow/sagaflow/services/order"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/workflows"
)

// FuzzSagaSequence runs the saga against services that answer each call as the fuzz input
// says (success, business refusal, transient failure, or success whose answer is lost so
// the retry gets the stored one), with approve, reject and cancel signals (some sent twice)
// and workflow cancellations at chosen moments, then checks the saga's invariants against
// what the services recorded.
func FuzzSagaSequence(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		sc := decodeSagaScript(data)
		w := newFuzzWorld(sc.stream)
		res, st := w.run(t, sc)
		if errs := w.violations(sc, res, st); len(errs) > 0 {
			t.Fatalf("script %s\ncalls %v\nresult %+v\nsignals %+v\nviolations:\n%v", sc, w.calls, res, st.Signals, errors.Join(errs...))
		}
	})
}

// maxSagaScript bounds an input: longer ones add nothing but run time.
const maxSagaScript = 256

// Signal kinds of a script event; fuzzWorkflowCancel cancels the workflow itself.
const (
	fuzzApprove = iota
	fuzzReject
	fuzzCancel
	fuzzWorkflowCancel
)

// sagaEvent is something sent to the saga at a moment of workflow time.
type sagaEvent struct {
	at    time.Duration
	kind  int
	twice bool
}

// sagaScript is a fuzz input decoded.
type sagaScript struct {
	approval        bool
	approvalTimeout time.Duration
	events          []sagaEvent
	// stream answers the activity calls, one byte per call attempt (see fuzzWorld.answer).
	stream []byte
}

func (s sagaScript) String() string {
	return fmt.Sprintf("{approval:%v timeout:%s events:%+v answers:%v}", s.approval, s.approvalTimeout, s.events, s.stream)
}

// decodeSagaScript reads: a flags byte (bit 0: the order needs approval; bits 1-3: the
// approval timeout), an event count, two bytes per event (kind and "sent twice", then the
// time), and the rest as the answers to the activity calls.
func decodeSagaScript(data []byte) sagaScript {
	if len(data) > maxSagaScript {
		data = data[:maxSagaScript]
	}
	next := func() byte {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return b
	}
	flags := next()
	sc := sagaScript{
		approval:        flags&1 == 1,
		approvalTimeout: time.Duration(1+(flags>>1)&7) * 10 * time.Second,
	}
	for n := next() % 6; n > 0; n-- {
		k, at := next(), next()
		sc.events = append(sc.events, sagaEvent{
			kind:  int(k % 4),
			twice: k&4 != 0,
			at:    time.Duration(at%64)*time.Second + time.Duration(k>>4)*100*time.Millisecond,
		})
	}
	sc.stream = data
	return sc
}

// Prices the inventory answers with; the fuzz order totals 2 × 1000 + 500.
const (
	fuzzOrderID = "o-fz"
	fuzzTotal   = 2500
)

func fuzzPrice(sku string) int64 {
	if sku == "SKU-1" {
		return 1000
	}
	return 500
}

// fuzzCall is one activity attempt as a service saw it.
type fuzzCall struct {
	activity string
	key      string
	outcome  string
}

func (c fuzzCall) String() string { return c.activity + "[" + c.key + "]=" + c.outcome }

// stored is a service's recorded answer for an idempotency key.
type stored struct {
	request string // what the key was first sent with
	status  string
	err     *svcclient.Error
}

// fuzzWorld plays the three services: state, idempotency records keyed as the services key
// them, the refusals the real services give (markers, invalid moves), and the answers the
// script dictates.
type fuzzWorld struct {
	mu      sync.Mutex
	stream  []byte
	pending map[string][]byte
	records map[string]stored
	// abandoned holds the ids of the activities the saga cancelled while they ran.
	abandoned map[string]bool
	// started lists the activity attempts in the order they began (an attempt cancelled
	// while in flight may or may not have reached its service); calls lists the answers.
	started []string
	calls   []fuzzCall
	errs    []error

	created      bool
	orderStatus  orderclient.Status
	stock, pay   string // "" or the reservation's / payment's status
	everCaptured bool
}

func newFuzzWorld(stream []byte) *fuzzWorld {
	return &fuzzWorld{stream: stream, pending: map[string][]byte{}, records: map[string]stored{}, abandoned: map[string]bool{}}
}

func (w *fuzzWorld) violation(format string, args ...any) {
	w.errs = append(w.errs, fmt.Errorf(format, args...))
}

// delay takes the next answer byte for an attempt of activity name: its top bits delay the
// answer on the workflow clock, the rest is kept for the call itself.
func (w *fuzzWorld) delay(name string) time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	var b byte
	if len(w.stream) > 0 {
		b, w.stream = w.stream[0], w.stream[1:]
	}
	w.pending[name] = append(w.pending[name], b)
	w.started = append(w.started, name)
	return time.Duration(b>>5) * 700 * time.Millisecond
}

// answer runs one attempt. Its byte decides: 0-3 the service handles the request; 4 the
// call never arrives (connection refused); 5 the service handles it but the answer is lost
// (a timeout), so only a retry sees it; 6 a fresh request is refused for good with refusal,
// or, for calls a service never refuses (nil refusal), fails with a 500; 7 the service sheds
// the call (429). handle applies a fresh request to the service state.
func (w *fuzzWorld) answer(ctx context.Context, name, key, request string, handle func() stored, refusal *svcclient.Error) (string, error) {
	w.mu.Lock()
	var b byte
	if q := w.pending[name]; len(q) > 0 {
		b, w.pending[name] = q[0], q[1:]
	}
	outcome := b & 7
	call := fuzzCall{activity: name, key: key}
	var status string
	var err error
	if outcome == 6 && refusal == nil {
		outcome = 8
	}
	// Forward steps retry transient failures without limit, but the test environment caps
	// retries at 10 attempts: late attempts always get through, as a service eventually
	// answers.
	if activity.GetInfo(ctx).Attempt >= 9 && outcome != 6 {
		outcome = 0
	}
	switch outcome {
	case 8:
		call.outcome, err = "internal-error", &svcclient.Error{Status: http.StatusInternalServerError, Code: problem.CodeInternal, Detail: "internal"}
	case 4:
		call.outcome, err = "refused-connection", errors.New("dial tcp: connection refused")
	case 7:
		call.outcome, err = "shed", &svcclient.Error{Status: http.StatusTooManyRequests, Code: problem.CodeRateLimited, Detail: "slow down"}
	default:
		rec, seen := w.records[key]
		switch {
		case seen && rec.request != request:
			w.violation("idempotency key %s sent with %s, then with %s", key, rec.request, request)
		case !seen && outcome == 6:
			rec = stored{request: request, err: refusal}
		case !seen:
			rec = handle()
			rec.request = request
		}
		if !seen && (rec.err == nil || svcclient.IsFinal(rec.err)) {
			w.records[key] = rec
		}
		status, call.outcome = rec.status, "ok"
		if rec.err != nil {
			err, call.outcome = rec.err, "refused:"+rec.err.Code
		}
		if outcome == 5 {
			call.outcome += "+lost"
			status, err = "", &svcclient.Error{Status: http.StatusGatewayTimeout, Code: problem.CodeUnavailable, Detail: "answer lost"}
		}
	}
	w.calls = append(w.calls, call)
	w.mu.Unlock()
	return status, activities.Classify(ctx, err)
}

func finalError(status int, code, detail string) *svcclient.Error {
	return &svcclient.Error{Status: status, Code: code, Detail: detail}
}

// The services' own rules, as their handlers apply them to a fresh request.

func (w *fuzzWorld) create() stored {
	w.created, w.orderStatus = true, orderclient.StatusPending
	return stored{status: string(orderclient.StatusPending)}
}

// transition moves the order. A move the saga abandoned (it cancelled the activity and
// went on to compensate) may still reach the service late; the transition table refuses
// it there, so only moves the saga still waits for must be valid.
func (w *fuzzWorld) transition(in activities.TransitionInput, abandoned bool) stored {
	switch {
	case !w.created:
		return stored{err: finalError(http.StatusNotFound, problem.CodeNotFound, "no such order")}
	case in.Status == w.orderStatus:
		return stored{status: string(in.Status)}
	case !order.CanTransition(w.orderStatus, in.Status):
		if !abandoned {
			w.violation("the saga moved the order from %s to %s", w.orderStatus, in.Status)
		}
		return stored{err: finalError(http.StatusConflict, problem.CodeInvalidTransition, "invalid move")}
	case in.Status == orderclient.StatusReserved && (len(in.Lines) == 0 || in.Currency != "USD"):
		w.violation("the move to RESERVED carries no pricing: %+v", in)
		return stored{err: finalError(http.StatusUnprocessableEntity, problem.CodeValidation, "pricing missing")}
	}
	w.orderStatus = in.Status
	return stored{status: string(in.Status)}
}

func (w *fuzzWorld) stockMove(name string) stored {
	switch {
	case name == activities.InventoryReserve && w.stock == "RELEASED":
		return stored{err: finalError(http.StatusConflict, problem.CodeAlreadyReleased, "released")}
	case name == activities.InventoryReserve:
		if w.stock == "" {
			w.stock = "RESERVED"
		}
	case name == activities.InventoryRelease && w.stock == "COMMITTED":
		return stored{err: finalError(http.StatusConflict, problem.CodeAlreadyCommitted, "committed")}
	case name == activities.InventoryRelease:
		w.stock = "RELEASED"
	case name == activities.InventoryCommit && w.stock == "RELEASED":
		return stored{err: finalError(http.StatusConflict, problem.CodeAlreadyReleased, "released")}
	case name == activities.InventoryCommit && w.stock == "":
		return stored{err: finalError(http.StatusNotFound, problem.CodeNotFound, "no reservation")}
	case name == activities.InventoryCommit:
		w.stock = "COMMITTED"
	}
	return stored{status: w.stock}
}

func (w *fuzzWorld) payMove(name string, in activities.AuthorizeInput) stored {
	switch name {
	case activities.PaymentsAuthorize:
		if in.Amount != fuzzTotal || in.Currency != "USD" {
			w.violation("authorized %d %s, want %d USD", in.Amount, in.Currency, fuzzTotal)
		}
		switch w.pay {
		case "VOIDED":
			return stored{err: finalError(http.StatusConflict, problem.CodePaymentVoided, "voided")}
		case "":
			w.pay = "AUTHORIZED"
		}
	case activities.PaymentsCapture:
		switch w.pay {
		case "":
			return stored{err: finalError(http.StatusNotFound, problem.CodeNotFound, "no payment")}
		case "VOIDED":
			return stored{err: finalError(http.StatusConflict, problem.CodePaymentVoided, "voided")}
		}
		w.pay, w.everCaptured = "CAPTURED", true
	case activities.PaymentsVoid:
		if w.pay == "CAPTURED" {
			return stored{err: finalError(http.StatusConflict, problem.CodePaymentCaptured, "captured")}
		}
		w.pay = "VOIDED"
	}
	return stored{status: w.pay}
}

// run executes the saga on Temporal's test environment with the world answering.
func (w *fuzzWorld) run(t *testing.T, sc sagaScript) (workflows.SagaResult, workflows.SagaStatus) {
	var suite testsuite.WorkflowTestSuite
	suite.SetLogger(log.NewStructuredLogger(slog.New(slog.DiscardHandler)))
	env := suite.NewTestWorkflowEnvironment()
	env.SetTestTimeout(20 * time.Second)
	env.SetStartWorkflowOptions(client.StartWorkflowOptions{ID: workflows.WorkflowID(fuzzOrderID), TaskQueue: workflows.TaskQueueSagas})
	env.RegisterWorkflowWithOptions(workflows.OrderSaga, workflow.RegisterOptions{Name: workflows.OrderSagaName})
	activities.NewOrders(nil).Register(env)
	activities.NewInventory(nil).Register(env)
	activities.NewPayments(nil).Register(env)
	env.SetOnActivityCanceledListener(func(info *activity.Info) {
		w.mu.Lock()
		w.abandoned[info.ActivityID] = true
		w.mu.Unlock()
	})

	on := func(name string, fn any) {
		env.OnActivity(name, mock.Anything, mock.Anything).AfterFn(func() time.Duration { return w.delay(name) }).Return(fn)
	}
	attempt := func(ctx context.Context) int32 { return activity.GetInfo(ctx).Attempt }
	refused := finalError(http.StatusUnprocessableEntity, problem.CodeValidation, "refused")
	on(activities.OrdersCreate, func(ctx context.Context, in activities.CreateOrderInput) (activities.OrderResult, error) {
		status, err := w.answer(ctx, activities.OrdersCreate, in.IdempotencyKey, "create", w.create, refused)
		return activities.OrderResult{Status: orderclient.Status(status), Attempt: attempt(ctx)}, err
	})
	on(activities.OrdersTransition, func(ctx context.Context, in activities.TransitionInput) (activities.OrderResult, error) {
		// Only forward moves before the pivot may be refused: the saga retries the others
		// until they succeed, as the order service never refuses them.
		var refusal *svcclient.Error
		if in.Status == orderclient.StatusReserved || in.Status == orderclient.StatusAuthorized || in.Status == orderclient.StatusAwaitingApproval {
			refusal = finalError(http.StatusConflict, problem.CodeInvalidTransition, "refused")
		}
		status, err := w.answer(ctx, activities.OrdersTransition, in.IdempotencyKey, "move to "+string(in.Status),
			func() stored { return w.transition(in, w.abandoned[activity.GetInfo(ctx).ActivityID]) }, refusal)
		return activities.OrderResult{Status: orderclient.Status(status), Attempt: attempt(ctx)}, err
	})
	on(activities.InventoryReserve, func(ctx context.Context, in activities.ReserveInput) (activities.ReserveResult, error) {
		status, err := w.answer(ctx, activities.InventoryReserve, in.IdempotencyKey, "reserve",
			func() stored { return w.stockMove(activities.InventoryReserve) }, finalError(http.StatusUnprocessableEntity, problem.CodeOutOfStock, "out of stock"))
		out := activities.ReserveResult{Status: status, Attempt: attempt(ctx)}
		for _, l := range in.Lines {
			out.Lines = append(out.Lines, activities.ReservedLine{SKU: l.SKU, Name: "Product " + l.SKU, Quantity: l.Quantity, UnitPrice: fuzzPrice(l.SKU), Currency: "USD"})
		}
		return out, err
	})
	// Release, commit and void are retried until they succeed: the services never refuse
	// them but for the states the saga must never create (commit after release ...).
	for _, name := range []string{activities.InventoryRelease, activities.InventoryCommit} {
		on(name, func(ctx context.Context, in activities.StockInput) (activities.StockResult, error) {
			status, err := w.answer(ctx, name, in.IdempotencyKey, name, func() stored { return w.stockMove(name) }, nil)
			return activities.StockResult{Status: status, Attempt: attempt(ctx)}, err
		})
	}
	on(activities.PaymentsAuthorize, func(ctx context.Context, in activities.AuthorizeInput) (activities.PaymentResult, error) {
		status, err := w.answer(ctx, activities.PaymentsAuthorize, in.IdempotencyKey, fmt.Sprintf("authorize %d %s", in.Amount, in.Currency),
			func() stored { return w.payMove(activities.PaymentsAuthorize, in) }, finalError(http.StatusPaymentRequired, problem.CodeCardDeclined, "declined"))
		return activities.PaymentResult{Status: status, Amount: in.Amount, Attempt: attempt(ctx)}, err
	})
	for _, name := range []string{activities.PaymentsCapture, activities.PaymentsVoid} {
		refusal := finalError(http.StatusPaymentRequired, problem.CodeCardDeclined, "declined")
		if name == activities.PaymentsVoid {
			refusal = nil
		}
		on(name, func(ctx context.Context, in activities.PaymentInput) (activities.PaymentResult, error) {
			status, err := w.answer(ctx, name, in.IdempotencyKey, name,
				func() stored { return w.payMove(name, activities.AuthorizeInput{}) }, refusal)
			return activities.PaymentResult{Status: status, Attempt: attempt(ctx)}, err
		})
	}

	signals := map[int]string{fuzzApprove: workflows.SignalApprove, fuzzReject: workflows.SignalReject, fuzzCancel: workflows.SignalCancel}
	for i, ev := range sc.events {
		env.RegisterDelayedCallback(func() {
			for range 1 + boolInt(ev.twice) {
				if ev.kind == fuzzWorkflowCancel {
					env.CancelWorkflow()
					continue
				}
				env.SignalWorkflow(signals[ev.kind], workflows.Decision{By: fmt.Sprintf("op-%d", i), Reason: "fuzz"})
			}
		}, ev.at)
	}

	in := workflows.OrderInput{
		OrderID: fuzzOrderID, CustomerID: "c-fz", PaymentToken: "tok_visa", RequestID: "req-fz",
		Lines:           []workflows.OrderLine{{SKU: "SKU-1", Quantity: 2}, {SKU: "SKU-2", Quantity: 1}},
		ApprovalTimeout: sc.approvalTimeout,
	}
	if sc.approval {
		in.ApprovalThreshold = fuzzTotal
	}
	env.ExecuteWorkflow(workflows.OrderSagaName, in)
	if !env.IsWorkflowCompleted() {
		t.Fatalf("script %s: the saga did not complete; calls %v", sc, w.calls)
	}
	if err := env.GetWorkflowError(); err != nil {
		t.Fatalf("script %s: the saga failed: %v; calls %v", sc, err, w.calls)
	}
	var res workflows.SagaResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	v, err := env.QueryWorkflow(workflows.QueryStatus)
	if err != nil {
		t.Fatal(err)
	}
	var st workflows.SagaStatus
	if err := v.Get(&st); err != nil {
		t.Fatal(err)
	}
	return res, st
}

func countOf(names []string, name string) int {
	n := 0
	for _, s := range names {
		if s == name {
			n++
		}
	}
	return n
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// violations checks the saga's invariants against the services' records.
func (w *fuzzWorld) violations(sc sagaScript, res workflows.SagaResult, st workflows.SagaStatus) []error {
	w.mu.Lock()
	defer w.mu.Unlock()
	errs := slices.Clone(w.errs)
	fail := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }

	// first and last index the attempts as they began.
	first, last, succeeded := map[string]int{}, map[string]int{}, map[string]int{}
	for i, name := range w.started {
		if _, ok := first[name]; !ok {
			first[name] = i
		}
		last[name] = i
	}
	answered := map[string]int{}
	for _, c := range w.calls {
		answered[c.activity]++
		if c.outcome != "ok" {
			continue
		}
		succeeded[c.activity]++
		if (c.activity == activities.InventoryRelease || c.activity == activities.PaymentsVoid) && succeeded[c.activity] == 1 &&
			answered[c.activity] != countOf(w.started, c.activity) {
			fail("%s ran again after it completed", c.activity)
		}
	}
	called := func(name string) bool { _, ok := first[name]; return ok }

	// Every order ends terminal, and every service and the status query agree on it.
	if !res.Status.IsTerminal() {
		fail("the saga ended %s, not a terminal status", res.Status)
	}
	if st.Status != res.Status || st.CurrentStep != "" {
		fail("status query says %s at step %q, result says %s", st.Status, st.CurrentStep, res.Status)
	}
	for _, s := range append(slices.Clone(st.Steps), st.Compensations...) {
		if s.Status == workflows.StepPending || s.Status == workflows.StepRunning {
			fail("step %s is still %s", s.Name, s.Status)
		}
	}
	if w.created && w.orderStatus != res.Status {
		fail("the order service records %s, the saga ended %s", w.orderStatus, res.Status)
	}
	if !w.created && (res.Status != orderclient.StatusFailed || len(first) > 1) {
		fail("no order was recorded, yet the saga ended %s after calling %v", res.Status, w.calls)
	}

	// Compensations: only for steps taken, newest first, each completed once.
	if called(activities.PaymentsVoid) && (!called(activities.PaymentsAuthorize) || first[activities.PaymentsVoid] < first[activities.PaymentsAuthorize]) {
		fail("void ran for an authorization never attempted")
	}
	if called(activities.InventoryRelease) && (!called(activities.InventoryReserve) || first[activities.InventoryRelease] < first[activities.InventoryReserve]) {
		fail("release ran for a reservation never attempted")
	}
	if called(activities.PaymentsVoid) && called(activities.InventoryRelease) && last[activities.PaymentsVoid] > first[activities.InventoryRelease] {
		fail("release ran before the void finished: compensations must run newest first")
	}
	for _, name := range []string{activities.PaymentsVoid, activities.InventoryRelease} {
		if succeeded[name] > 1 {
			fail("%s completed %d times", name, succeeded[name])
		}
	}

	// Outcomes and money.
	switch res.Status {
	case orderclient.StatusConfirmed:
		if w.pay != "CAPTURED" || w.stock != "COMMITTED" {
			fail("CONFIRMED with payment %q and stock %q, want CAPTURED and COMMITTED", w.pay, w.stock)
		}
		if called(activities.PaymentsVoid) || called(activities.InventoryRelease) {
			fail("CONFIRMED, yet a compensation ran")
		}
	case orderclient.StatusFailed, orderclient.StatusCancelled:
		if w.everCaptured || called(activities.InventoryCommit) {
			fail("%s, yet the payment was captured (%v) or the stock committed", res.Status, w.everCaptured)
		}
		if called(activities.PaymentsAuthorize) && (w.pay != "VOIDED" || succeeded[activities.PaymentsVoid] != 1) {
			fail("%s after an authorization attempt, yet the payment is %q (void completed %d times)", res.Status, w.pay, succeeded[activities.PaymentsVoid])
		}
		if called(activities.InventoryReserve) && (w.stock != "RELEASED" || succeeded[activities.InventoryRelease] != 1) {
			fail("%s after a reserve attempt, yet the stock is %q (release completed %d times)", res.Status, w.stock, succeeded[activities.InventoryRelease])
		}
	}

	// Signals: one decision, cancel honoured only before the pivot, no capture after a
	// cancel or a rejection, and a held order captured only once approved.
	accepted := map[string]int{}
	for _, s := range st.Signals {
		if s.Outcome == workflows.SignalAccepted {
			accepted[s.Name]++
		}
	}
	if accepted[workflows.SignalApprove]+accepted[workflows.SignalReject] > 1 || accepted[workflows.SignalCancel] > 1 {
		fail("more than one decision or cancel accepted: %v", accepted)
	}
	if called(activities.PaymentsCapture) && (accepted[workflows.SignalCancel] > 0 || accepted[workflows.SignalReject] > 0 || res.Status == orderclient.StatusCancelled) {
		fail("the payment capture ran after a cancel or a rejection (%v, %s)", accepted, res.Status)
	}
	if succeeded[activities.PaymentsCapture] > 0 && res.Status != orderclient.StatusConfirmed {
		fail("the capture succeeded, yet the order ended %s", res.Status)
	}
	if accepted[workflows.SignalCancel] > 0 && res.Status != orderclient.StatusCancelled && w.created {
		fail("a cancel was accepted, yet the order ended %s", res.Status)
	}
	if accepted[workflows.SignalReject] > 0 && res.Status != orderclient.StatusFailed && res.Status != orderclient.StatusCancelled {
		fail("a rejection was accepted, yet the order ended %s", res.Status)
	}
	if sc.approval && called(activities.PaymentsCapture) && st.DecisionKind != workflows.DecisionApproved {
		fail("a held order was captured without approval (decision %q)", st.DecisionKind)
	}
	return errs
}
