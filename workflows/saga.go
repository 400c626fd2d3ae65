package workflows

import (
	"time"

	"go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/sagaflow/sagaflow/activities"
	"github.com/sagaflow/sagaflow/internal/correlation"
	"github.com/sagaflow/sagaflow/internal/problem"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
)

// Timing of activity calls. The start-to-close timeout is above the services' client
// timeout (SERVICE_CALL_TIMEOUT, 10s by default) so a slow call fails with the client's
// clear error before Temporal gives up on the attempt.
const (
	activityTimeout = 15 * time.Second

	// Forward steps retry transient failures without limit: only a business answer ends them.
	forwardInitialInterval = 200 * time.Millisecond
	forwardMaxInterval     = 10 * time.Second

	// Compensations retry in capped batches; between batches the saga reports the failure
	// and sleeps, so a compensation that keeps failing is visible instead of silent.
	batchInitialInterval = 500 * time.Millisecond
	batchMaxInterval     = 30 * time.Second
	batchMaxAttempts     = 5
	batchPauseFirst      = 5 * time.Second
	batchPauseMax        = time.Minute
)

// businessCodes are the problem codes that end a step for good: retrying cannot change them.
func businessCodes() []string {
	return []string{
		problem.CodeUnknownSKU, problem.CodeOutOfStock, problem.CodeMixedCurrency, problem.CodeAmountOverflow,
		problem.CodeAlreadyReleased, problem.CodeAlreadyCommitted,
		problem.CodeCardDeclined, problem.CodeInsufficientFunds, problem.CodePaymentVoided, problem.CodePaymentCaptured,
		problem.CodeInvalidTransition, problem.CodeValidation, problem.CodeNotFound, problem.CodeConflict,
		problem.CodeIdempotencyReused,
	}
}

// changeCustomerNotIndexed: sagas no longer write the customer id as a search attribute,
// where it would be the one input left in clear once payloads are encrypted. Runs started
// before the change upserted it with their first status and must replay that command; the
// attribute stays registered so those runs can still be listed by customer.
const changeCustomerNotIndexed = "customer-not-indexed"

// OrderSaga runs one order across the order, inventory and payment services: record, reserve,
// price, authorize, (approve), capture (the pivot), commit, confirm. Before the pivot any
// business failure, rejection, cancel signal or workflow cancellation runs the compensations
// of the steps taken, newest first, and ends the order FAILED or CANCELLED; after it the saga
// only goes forward. The workflow itself completes normally with the order's terminal state.
func OrderSaga(ctx workflow.Context, in OrderInput) (SagaResult, error) {
	if correlation.FromWorkflow(ctx) == "" && in.RequestID != "" {
		ctx = correlation.WithWorkflow(ctx, in.RequestID)
	}
	s := newSaga(ctx, in)
	if err := workflow.SetQueryHandler(ctx, QueryStatus, s.query); err != nil {
		return SagaResult{}, err
	}
	if err := s.handleOperator(ctx); err != nil {
		return SagaResult{}, err
	}
	pending := SearchOrderStatus.ValueSet(string(orderclient.StatusPending))
	if workflow.GetVersion(ctx, changeCustomerNotIndexed, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		s.upsert(SearchCustomerID.ValueSet(in.CustomerID), pending)
	} else {
		s.upsert(pending)
	}
	s.publish()

	forward, cancel := workflow.WithCancel(ctx)
	s.cancelForward = cancel
	s.listen(ctx)
	if stop := s.forward(ctx, forward); stop != nil {
		s.compensate(ctx, stop)
	}
	return s.result(), nil
}

// stop ends the forward path: the terminal status to reach and why.
type stop struct {
	status orderclient.Status
	reason string
}

// compensation undoes one forward step.
type compensation struct {
	of   string // the forward step it undoes
	call call
}

// call is one activity invocation.
type call struct {
	step     string
	activity string
	queue    string
	summary  string
	input    any
}

// attempter is every activity result: it reports the attempt that produced it.
type attempter interface{ Attempts() int32 }

type saga struct {
	ctx    workflow.Context
	in     OrderInput
	wfID   string
	queues TaskQueues
	logger log.Logger
	st     SagaStatus

	comps         []compensation
	cancelForward workflow.CancelFunc
	cancelSignal  *Decision
	approvalOpen  bool
	stopping      bool
	orderRecorded bool
	// lastMoveAttempts is what the latest order-status move took, for the step reporting it.
	lastMoveAttempts int32
	// moves counts the moves to each status, so a repeated move gets its own idempotency key.
	moves map[orderclient.Status]int
	// recorded is the status the order service last confirmed.
	recorded orderclient.Status
	// op is the operator's hold on the running compensation (operator.go).
	op operator
}

func newSaga(ctx workflow.Context, in OrderInput) *saga {
	logger := log.With(workflow.GetLogger(ctx), "order_id", in.OrderID)
	if id := correlation.FromWorkflow(ctx); id != "" {
		logger = log.With(logger, "request_id", id)
	}
	s := &saga{
		ctx:    ctx,
		in:     in,
		wfID:   workflow.GetInfo(ctx).WorkflowExecution.ID,
		queues: in.TaskQueues.WithDefaults(),
		logger: logger,
		moves:  map[orderclient.Status]int{},
		st: SagaStatus{
			OrderID:       in.OrderID,
			Status:        orderclient.StatusPending,
			Compensations: []StepState{},
		},
	}
	for _, name := range []string{
		StepCreateOrder, StepReserveStock, StepPriceOrder, StepAuthorizePayment,
		StepAwaitApproval, StepCapturePayment, StepCommitStock, StepConfirmOrder,
	} {
		s.st.Steps = append(s.st.Steps, StepState{Name: name, Status: StepPending})
	}
	return s
}

func (s *saga) key(step string) string { return s.wfID + "/" + step }

// forward runs the happy path; it returns nil when the order is confirmed, or why it stopped.
// Steps before the pivot run on fctx, which a cancel signal or a workflow cancellation cancels.
func (s *saga) forward(ctx, fctx workflow.Context) *stop {
	// The order record must exist for every outcome to be recorded, so a cancel does not
	// interrupt its creation; it is honoured right after.
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	lines := make([]activities.Line, 0, len(s.in.Lines))
	for _, l := range s.in.Lines {
		lines = append(lines, activities.Line{SKU: l.SKU, Quantity: l.Quantity})
	}
	var created activities.OrderResult
	if st := s.step(dctx, call{
		step: StepCreateOrder, activity: activities.OrdersCreate, queue: s.queues.Orders,
		summary: "Record order " + s.in.OrderID,
		input: activities.CreateOrderInput{
			IdempotencyKey: s.key(StepCreateOrder), OrderID: s.in.OrderID, CustomerID: s.in.CustomerID,
			WorkflowID: s.wfID, Lines: lines,
		},
	}, &created); st != nil {
		return st
	}
	s.orderRecorded = true
	if st := s.interrupted(fctx); st != nil {
		return st
	}

	s.register(StepReserveStock, call{
		step: StepReleaseStock, activity: activities.InventoryRelease, queue: s.queues.Inventory,
		summary: "Release stock of order " + s.in.OrderID,
		input:   activities.StockInput{IdempotencyKey: s.key(StepReleaseStock), OrderID: s.in.OrderID},
	})
	var reserved activities.ReserveResult
	if st := s.step(fctx, call{
		step: StepReserveStock, activity: activities.InventoryReserve, queue: s.queues.Inventory,
		summary: "Reserve stock for order " + s.in.OrderID,
		input:   activities.ReserveInput{IdempotencyKey: s.key(StepReserveStock), OrderID: s.in.OrderID, Lines: lines},
	}, &reserved); st != nil {
		return st
	}
	if st := s.interrupted(fctx); st != nil {
		return st
	}

	if st := s.price(fctx, reserved.Lines); st != nil {
		return st
	}
	if st := s.interrupted(fctx); st != nil {
		return st
	}

	if s.st.Total > 0 {
		s.register(StepAuthorizePayment, call{
			step: StepVoidPayment, activity: activities.PaymentsVoid, queue: s.queues.Payments,
			summary: "Void payment of order " + s.in.OrderID,
			input:   activities.PaymentInput{IdempotencyKey: s.key(StepVoidPayment), OrderID: s.in.OrderID},
		})
		var authorized activities.PaymentResult
		if st := s.step(fctx, call{
			step: StepAuthorizePayment, activity: activities.PaymentsAuthorize, queue: s.queues.Payments,
			summary: "Authorize payment of order " + s.in.OrderID,
			input: activities.AuthorizeInput{
				IdempotencyKey: s.key(StepAuthorizePayment), OrderID: s.in.OrderID,
				Amount: s.st.Total, Currency: s.st.Currency, PaymentToken: s.in.PaymentToken,
			},
		}, &authorized); st != nil {
			return st
		}
	} else {
		s.setStep(StepAuthorizePayment, StepSkipped, 0, "nothing to pay")
	}
	if err := s.setStatus(fctx, orderclient.StatusAuthorized, "payment authorized", moveForward, nil); err != nil {
		return s.failure(fctx, StepAuthorizePayment, err)
	}
	if st := s.interrupted(fctx); st != nil {
		return st
	}

	if st := s.awaitApproval(fctx); st != nil {
		return st
	}
	if st := s.interrupted(fctx); st != nil {
		return st
	}
	return s.afterPivot(ctx)
}

// afterPivot captures the payment and finishes the order. Once the capture is scheduled the
// saga only goes forward: cancel signals are refused and a workflow cancellation no longer
// interrupts the steps, which run on a disconnected context.
func (s *saga) afterPivot(ctx workflow.Context) *stop {
	s.st.PastPivot = true
	pctx, _ := workflow.NewDisconnectedContext(ctx)

	if s.st.Total > 0 {
		var captured activities.PaymentResult
		// A capture refused for good took no money, so the saga can still go back.
		if st := s.step(pctx, call{
			step: StepCapturePayment, activity: activities.PaymentsCapture, queue: s.queues.Payments,
			summary: "Capture payment of order " + s.in.OrderID,
			input:   activities.PaymentInput{IdempotencyKey: s.key(StepCapturePayment), OrderID: s.in.OrderID},
		}, &captured); st != nil {
			return st
		}
	} else {
		s.setStep(StepCapturePayment, StepSkipped, 0, "nothing to pay")
	}
	_ = s.setStatus(pctx, orderclient.StatusCaptured, "payment captured", movePersistent, nil)

	s.begin(StepCommitStock)
	var committed activities.StockResult
	attempts := s.persist(pctx, call{
		step: StepCommitStock, activity: activities.InventoryCommit, queue: s.queues.Inventory,
		summary: "Commit stock of order " + s.in.OrderID,
		input:   activities.StockInput{IdempotencyKey: s.key(StepCommitStock), OrderID: s.in.OrderID},
	}, forwardRetry(), &committed, func(total int32, err error) {
		s.reportRunning(total, err)
		s.logger.Error("commit of stock keeps failing; retrying", "attempts", total, "error", err)
	})
	s.setStep(StepCommitStock, StepCompleted, attempts, "")

	s.begin(StepConfirmOrder)
	_ = s.setStatus(pctx, orderclient.StatusConfirmed, "order confirmed", movePersistent, nil)
	s.setStep(StepConfirmOrder, StepCompleted, s.lastMoveAttempts, "")
	s.st.CurrentStep = ""
	s.publish()
	s.logger.Info("order confirmed", "total", s.st.Total, "currency", s.st.Currency)
	return nil
}

// awaitApproval holds an order whose total reaches the approval threshold until an approve
// or reject signal arrives, or the timer rejects it.
func (s *saga) awaitApproval(fctx workflow.Context) *stop {
	if s.in.ApprovalThreshold <= 0 || s.st.Total < s.in.ApprovalThreshold {
		s.setStep(StepAwaitApproval, StepSkipped, 0, "")
		return nil
	}
	s.begin(StepAwaitApproval)
	// The window opens before the order shows AWAITING_APPROVAL: whoever reacts to that
	// status must find the saga ready for the answer.
	s.approvalOpen = true
	defer func() { s.approvalOpen = false }()
	if err := s.setStatus(fctx, orderclient.StatusAwaitingApproval, "total at or above the approval threshold", moveForward, nil); err != nil {
		return s.failure(fctx, StepAwaitApproval, err)
	}
	timeout := s.in.ApprovalTimeout
	if timeout <= 0 {
		timeout = DefaultApprovalTimeout
	}
	answered, err := workflow.AwaitWithOptions(fctx, workflow.AwaitOptions{
		Timeout:      timeout,
		TimerOptions: workflow.TimerOptions{Summary: "Approval deadline"},
	}, func() bool { return s.st.DecisionKind != "" })
	if err != nil {
		return s.failure(fctx, StepAwaitApproval, err)
	}
	if !answered {
		s.st.DecisionKind = DecisionTimedOut
		reason := "approval timed out"
		s.setStep(StepAwaitApproval, StepFailed, 0, reason)
		return &stop{status: orderclient.StatusFailed, reason: reason}
	}
	if s.st.DecisionKind == DecisionRejected {
		reason := decisionReason("rejected", s.st.Decision)
		s.setStep(StepAwaitApproval, StepFailed, 0, reason)
		return &stop{status: orderclient.StatusFailed, reason: reason}
	}
	s.setStep(StepAwaitApproval, StepCompleted, 0, "")
	return nil
}

// price computes the total from the lines the inventory priced and records the pricing on
// the order (the move to RESERVED).
func (s *saga) price(fctx workflow.Context, reserved []activities.ReservedLine) *stop {
	s.begin(StepPriceOrder)
	lines, total, currency, reason := priceLines(reserved)
	if reason != "" {
		s.setStep(StepPriceOrder, StepFailed, 0, reason)
		return &stop{status: orderclient.StatusFailed, reason: reason}
	}
	s.st.Lines, s.st.Total, s.st.Currency = lines, total, currency
	pricing := &pricing{currency: currency}
	for _, l := range lines {
		pricing.lines = append(pricing.lines, activities.PricedLine{SKU: l.SKU, Name: l.Name, Quantity: l.Quantity, UnitPrice: l.UnitPrice})
	}
	if err := s.setStatus(fctx, orderclient.StatusReserved, "stock reserved", moveForward, pricing); err != nil {
		return s.failure(fctx, StepPriceOrder, err)
	}
	s.setStep(StepPriceOrder, StepCompleted, s.lastMoveAttempts, "")
	return nil
}

// step runs one forward step with unlimited retries of transient failures and records its
// outcome; a non-nil answer means the forward path ends.
func (s *saga) step(ctx workflow.Context, c call, out attempter) *stop {
	s.begin(c.step)
	attempts, err := s.exec(ctx, c, forwardRetry(), out)
	if err != nil {
		return s.failure(ctx, c.step, err)
	}
	s.setStep(c.step, StepCompleted, attempts, "")
	return nil
}

// failure turns the error that ended a forward step into the saga's stop.
func (s *saga) failure(ctx workflow.Context, step string, err error) *stop {
	if temporal.IsCanceledError(err) || ctx.Err() != nil {
		st := s.cancelled()
		s.setStep(step, StepFailed, attemptsOf(err), st.reason)
		return st
	}
	reason := businessReason(step, err)
	s.setStep(step, StepFailed, attemptsOf(err), errorText(err))
	s.logger.Warn("order failed", "step", step, "reason", reason, "error", err)
	return &stop{status: orderclient.StatusFailed, reason: reason}
}

// interrupted reports a cancellation (signal or workflow cancellation) between steps.
func (s *saga) interrupted(fctx workflow.Context) *stop {
	if fctx.Err() == nil {
		return nil
	}
	return s.cancelled()
}

func (s *saga) cancelled() *stop {
	if s.cancelSignal != nil {
		return &stop{status: orderclient.StatusCancelled, reason: decisionReason("cancelled", s.cancelSignal)}
	}
	return &stop{status: orderclient.StatusCancelled, reason: "workflow cancelled"}
}

// register puts a compensation on the stack; it is called before its step so that a call
// that timed out but succeeded is still undone (undoing nothing is a no-op at the service).
func (s *saga) register(of string, c call) {
	s.comps = append(s.comps, compensation{of: of, call: c})
}

// compensate runs the registered compensations newest first on a disconnected context (so
// a workflow cancellation cannot stop them), each until it succeeds, then closes the order.
func (s *saga) compensate(ctx workflow.Context, st *stop) {
	s.stopping = true
	s.cancelForward()
	s.st.FailureReason = st.reason
	for i := range s.st.Steps {
		if s.st.Steps[i].Status == StepPending || s.st.Steps[i].Status == StepRunning {
			s.st.Steps[i].Status = StepSkipped
		}
	}
	s.logger.Info("compensating", "reason", st.reason, "compensations", len(s.comps))
	dctx, _ := workflow.NewDisconnectedContext(ctx)
	_ = s.setStatus(dctx, orderclient.StatusCompensating, st.reason, moveBestEffort, nil)

	for i := len(s.comps) - 1; i >= 0; i-- {
		c := s.comps[i]
		s.st.Compensations = append(s.st.Compensations, StepState{Name: c.call.step, Status: StepRunning})
		idx := len(s.st.Compensations) - 1
		s.st.CurrentStep = c.call.step
		s.publish()
		s.runCompensation(dctx, c, idx)
	}
	s.closeReason(st)

	s.st.Steps = append(s.st.Steps, StepState{Name: StepCloseOrder, Status: StepRunning})
	s.st.CurrentStep = StepCloseOrder
	_ = s.setStatus(dctx, st.status, st.reason, movePersistent, nil)
	s.setStep(StepCloseOrder, StepCompleted, s.lastMoveAttempts, "")
	s.st.CurrentStep = ""
	s.publish()
	s.logger.Info("order closed", "status", st.status, "reason", st.reason)
}

// setFailing makes a failing compensation visible (search attribute, order status) or
// clears it once the compensation succeeded.
func (s *saga) setFailing(dctx workflow.Context, failing bool) {
	if s.st.CompensationFailing == failing {
		return
	}
	s.st.CompensationFailing = failing
	s.upsert(SearchCompensationFailing.ValueSet(failing))
	if failing {
		// The order service allows COMPENSATION_FAILED only after COMPENSATING, whose
		// best-effort move may have failed: record it first. When the order service still
		// cannot take it, only the saga's own view shows the failure.
		compensating := func() bool {
			return s.recorded == orderclient.StatusCompensating || s.recorded == orderclient.StatusCompensationFailed
		}
		if !compensating() {
			_ = s.setStatus(dctx, orderclient.StatusCompensating, s.st.FailureReason, moveBestEffort, nil)
		}
		if !compensating() {
			s.showStatus(orderclient.StatusCompensationFailed)
			return
		}
		_ = s.setStatus(dctx, orderclient.StatusCompensationFailed, "a compensation keeps failing: "+s.st.CurrentStep, moveBestEffort, nil)
		return
	}
	_ = s.setStatus(dctx, orderclient.StatusCompensating, s.st.FailureReason, moveBestEffort, nil)
}

// compensationResult decodes the answer of any compensation activity.
type compensationResult struct {
	Attempt int32 `json:"attempt"`
}

func (r compensationResult) Attempts() int32 { return r.Attempt }

func (s *saga) result() SagaResult {
	return SagaResult{
		OrderID:       s.in.OrderID,
		Status:        s.st.Status,
		FailureReason: s.st.FailureReason,
		Total:         s.st.Total,
		Currency:      s.st.Currency,
	}
}

// exec runs one activity call (locally first with local steps) and returns the attempts it took.
func (s *saga) exec(ctx workflow.Context, c call, retry *temporal.RetryPolicy, out attempter) (int32, error) {
	var local int32
	if s.in.LocalSteps {
		n, done, err := s.execLocal(ctx, c, out)
		if done {
			return n, err
		}
		local = n
	}
	n, err := s.execQueued(ctx, c, retry, out)
	return local + n, err
}

// execQueued runs one activity call on its service's task queue.
func (s *saga) execQueued(ctx workflow.Context, c call, retry *temporal.RetryPolicy, out attempter) (int32, error) {
	retry = s.in.Timing.apply(retry)
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		TaskQueue:           c.queue,
		StartToCloseTimeout: s.in.Timing.activityTimeout(),
		RetryPolicy:         retry,
		Summary:             c.summary,
	})
	if err := workflow.ExecuteActivity(actx, c.activity, c.input).Get(actx, out); err != nil {
		n := attemptsOf(err)
		if n == 0 && retry.MaximumAttempts > 0 && !temporal.IsCanceledError(err) {
			n = retry.MaximumAttempts
		}
		return n, err
	}
	return out.Attempts(), nil
}

// persist runs a call until it succeeds: batch after batch, reporting each failed batch
// and pausing with capped backoff in between. ctx must not be cancellable.
func (s *saga) persist(ctx workflow.Context, c call, retry *temporal.RetryPolicy, out attempter, onFailedBatch func(total int32, err error)) int32 {
	var total int32
	pause := batchPauseFirst
	for {
		n, err := s.exec(ctx, c, retry, out)
		total += n
		if err == nil {
			return total
		}
		onFailedBatch(total, err)
		_ = workflow.Sleep(ctx, pause)
		pause = min(2*pause, batchPauseMax)
	}
}

func forwardRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:        forwardInitialInterval,
		BackoffCoefficient:     2,
		MaximumInterval:        forwardMaxInterval,
		NonRetryableErrorTypes: businessCodes(),
	}
}

func batchRetry() *temporal.RetryPolicy {
	return &temporal.RetryPolicy{
		InitialInterval:    batchInitialInterval,
		BackoffCoefficient: 2,
		MaximumInterval:    batchMaxInterval,
		MaximumAttempts:    batchMaxAttempts,
	}
}
