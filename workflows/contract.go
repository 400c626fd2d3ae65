package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"

	orderclient "github.com/sagaflow/sagaflow/services/order/client"
)

// Task queues: the saga workflows run on one, each service's activities on their own,
// so every pool can be scaled alone.
const (
	TaskQueueSagas     = "sagas"
	TaskQueueOrders    = "orders"
	TaskQueuePayments  = "payments"
	TaskQueueInventory = "inventory"
)

// OrderSagaName is the registered workflow type name.
const OrderSagaName = "OrderSaga"

// Signal and query names; operators send the signals with `temporal workflow signal`
// (or `tctl workflow signal`) and a Decision as JSON input.
const (
	SignalApprove = "approve"
	SignalReject  = "reject"
	SignalCancel  = "cancel"
	QueryStatus   = "status"
)

// The operator's escape hatch for a compensation that keeps failing, with a ResolveRequest
// as input. The update (`temporal workflow update execute`) is validated before it enters
// the history, so a refused one answers with the reason; the signal (for tctl, which has no
// update) goes through the same checks and is listed in SagaStatus.Signals as accepted or
// ignored.
const (
	UpdateResolveCompensation = "resolve-compensation"
	SignalResolveCompensation = "resolve-compensation"
)

// Resolve actions.
const (
	// ResolveRetryNow cuts the failing compensation's backoff pause short and retries it at once.
	ResolveRetryNow = "retry-now"
	// ResolveMarkResolved records that an operator settled the compensation outside the
	// system (for example voided the hold at the card processor by hand); the saga stops
	// retrying it and goes on to its terminal state.
	ResolveMarkResolved = "mark-resolved"
)

// ResolveRequest is the input of the resolve-compensation update and signal. By and
// Reason are required: they are the audit trail.
type ResolveRequest struct {
	By     string `json:"by"`
	Reason string `json:"reason"`
	Action string `json:"action"`
}

// Resolution is an accepted resolve-compensation request, as the status query reports it.
type Resolution struct {
	// Step is the compensation it applied to (e.g. void-payment).
	Step   string    `json:"step"`
	Action string    `json:"action"`
	By     string    `json:"by"`
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
	// Via is "update" or "signal".
	Via string `json:"via"`
	// Note says what the saga did with it.
	Note string `json:"note,omitempty"`
}

// Ways a resolution arrives, reported in Resolution.Via.
const (
	ViaUpdate = "update"
	ViaSignal = "signal"
)

// OperatorResolvedPrefix starts the reason of the terminal transition of an order whose
// compensations an operator marked resolved: "operator resolved [void-payment] (alice: …); "
// followed by the original reason. The bracket lists the compensations; the saga writes it
// at the very start, where no client text can appear, so the auditor can trust it
// (see ResolvedCompensations).
const OperatorResolvedPrefix = "operator resolved ["

// WorkflowID is the saga's workflow id for an order; it makes Temporal refuse a second
// saga for the same order.
func WorkflowID(orderID string) string { return "order-" + orderID }

// Search attributes that make sagas findable in the Web UI and with `temporal workflow list --query`.
// OrderStatus holds an orderclient.Status as its plain string. Search attributes are stored
// and shown in clear (the payload codec cannot encrypt them), so they hold nothing private:
// CustomerId is only on sagas started before the saga stopped writing it
// (changeCustomerNotIndexed), and stays registered so those can still be listed.
var (
	SearchOrderStatus         = temporal.NewSearchAttributeKeyKeyword("OrderStatus")
	SearchCustomerID          = temporal.NewSearchAttributeKeyKeyword("CustomerId")
	SearchCompensationFailing = temporal.NewSearchAttributeKeyBool("CompensationFailing")
)

// SearchAttributeTypes lists the custom search attributes and their Temporal types, for
// registering them on a server (`temporal server start-dev --search-attribute NAME=TYPE`).
func SearchAttributeTypes() map[string]string {
	return map[string]string{
		SearchOrderStatus.GetName():         "Keyword",
		SearchCustomerID.GetName():          "Keyword",
		SearchCompensationFailing.GetName(): "Bool",
	}
}

// OrderLine is one requested line: a SKU and a positive quantity.
type OrderLine struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// OrderInput starts a saga. Prices are never taken from the client: the saga gets them
// from the catalog when it reserves the stock.
type OrderInput struct {
	OrderID      string      `json:"order_id"`
	CustomerID   string      `json:"customer_id"`
	Lines        []OrderLine `json:"lines"`
	PaymentToken string      `json:"payment_token"`
	// RequestID correlates every log line of this order across processes.
	RequestID string `json:"request_id,omitempty"`
	// ApprovalThreshold, in minor units: totals at or above it wait for approval (0 = never).
	ApprovalThreshold int64 `json:"approval_threshold"`
	// ApprovalTimeout rejects a held order nobody answered (0 = DefaultApprovalTimeout).
	ApprovalTimeout time.Duration `json:"approval_timeout"`
	// TaskQueues overrides the activity task queues (empty fields = the default queues).
	TaskQueues TaskQueues `json:"task_queues,omitzero"`
	// Timing tunes activity timeouts and retry backoff (zero fields = the defaults).
	Timing Timing `json:"timing,omitzero"`
	// LocalSteps makes the first attempt of every step a local activity of the saga's own
	// worker, so a saga whose calls succeed completes in one workflow task; a step whose
	// local attempt fails for a transient reason goes on to its service's task queue (see
	// local.go). False (and histories recorded before the field existed) keeps every step
	// on its service's queue.
	LocalSteps bool `json:"local_steps,omitempty"`
}

// DefaultApprovalTimeout rejects a held order when the input names no timeout.
const DefaultApprovalTimeout = 24 * time.Hour

// TaskQueues names the task queues of one deployment. Production uses the defaults;
// tests run private queues so parallel runs never take each other's tasks. The saga
// schedules activities on Orders, Payments and Inventory; Sagas is where it runs itself
// (chosen by whoever starts it, listed here for the workers).
type TaskQueues struct {
	Sagas     string `json:"sagas,omitempty"`
	Orders    string `json:"orders,omitempty"`
	Payments  string `json:"payments,omitempty"`
	Inventory string `json:"inventory,omitempty"`
}

// DefaultTaskQueues returns the production task queues.
func DefaultTaskQueues() TaskQueues {
	return TaskQueues{Sagas: TaskQueueSagas, Orders: TaskQueueOrders, Payments: TaskQueuePayments, Inventory: TaskQueueInventory}
}

// WithDefaults fills empty queue names with the production ones.
func (q TaskQueues) WithDefaults() TaskQueues {
	d := DefaultTaskQueues()
	if q.Sagas == "" {
		q.Sagas = d.Sagas
	}
	if q.Orders == "" {
		q.Orders = d.Orders
	}
	if q.Payments == "" {
		q.Payments = d.Payments
	}
	if q.Inventory == "" {
		q.Inventory = d.Inventory
	}
	return q
}

// Decision is the payload of the approve, reject and cancel signals.
type Decision struct {
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// Step names; each is also the suffix of the idempotency key the step sends
// ("<workflow id>/<step>").
const (
	StepCreateOrder      = "create-order"
	StepReserveStock     = "reserve-stock"
	StepPriceOrder       = "price-order"
	StepAuthorizePayment = "authorize-payment"
	StepAwaitApproval    = "await-approval"
	StepCapturePayment   = "capture-payment"
	StepCommitStock      = "commit-stock"
	StepConfirmOrder     = "confirm-order"
	StepReleaseStock     = "release-stock"
	StepVoidPayment      = "void-payment"
	StepCloseOrder       = "close-order"
)

// Step states reported by the status query.
const (
	StepPending     = "pending"
	StepRunning     = "running"
	StepCompleted   = "completed"
	StepFailed      = "failed"
	StepSkipped     = "skipped"
	StepCompensated = "compensated"
	// StepResolvedByOperator: a compensation an operator marked resolved (its Resolution
	// says who, why and when); the saga did not see it succeed.
	StepResolvedByOperator = "resolved-by-operator"
)

// StepState is one step of the saga as the status query reports it.
type StepState struct {
	Name     string `json:"name"`
	Status   string `json:"status"`
	Attempts int32  `json:"attempts"`
	Error    string `json:"error,omitempty"`
	// Resolution is set on a compensation an operator marked resolved.
	Resolution *Resolution `json:"resolution,omitempty"`
}

// PricedLine is an order line with the catalog price the saga reserved it at.
type PricedLine struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
	LineTotal int64  `json:"line_total"`
}

// SagaStatus is the answer to the status query.
type SagaStatus struct {
	OrderID       string             `json:"order_id"`
	Status        orderclient.Status `json:"status"`
	CurrentStep   string             `json:"current_step,omitempty"`
	Steps         []StepState        `json:"steps"`
	Compensations []StepState        `json:"compensations"`
	FailureReason string             `json:"failure_reason,omitempty"`
	Lines         []PricedLine       `json:"lines,omitempty"`
	Total         int64              `json:"total"`
	Currency      string             `json:"currency,omitempty"`
	// PastPivot is true once the capture started: from then on the saga only goes forward
	// and cancel is refused.
	PastPivot bool `json:"past_pivot"`
	// Decision is the approval answer, when one was given.
	Decision     *Decision `json:"decision,omitempty"`
	DecisionKind string    `json:"decision_kind,omitempty"`
	// CompensationFailing is true while a compensation keeps failing (it is retried
	// until it succeeds; its entry in Compensations shows the attempts and last error).
	CompensationFailing bool `json:"compensation_failing"`
	// Signals lists the signals received, newest last, with what the saga did with each.
	Signals []SignalRecord `json:"signals,omitempty"`
	// Resolutions lists the accepted resolve-compensation requests, newest last.
	Resolutions []Resolution `json:"resolutions,omitempty"`
}

// Decision kinds reported in SagaStatus.DecisionKind.
const (
	DecisionApproved = "approved"
	DecisionRejected = "rejected"
	DecisionTimedOut = "timed-out"
)

// Signal outcomes reported in SignalRecord.Outcome.
const (
	SignalAccepted = "accepted"
	SignalIgnored  = "ignored"
)

// SignalRecord is one signal the saga received.
type SignalRecord struct {
	Name   string `json:"name"`
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
	// Action is the resolve-compensation signal's action.
	Action  string    `json:"action,omitempty"`
	At      time.Time `json:"at"`
	Outcome string    `json:"outcome"`
	// Note says why an ignored signal was ignored.
	Note string `json:"note,omitempty"`
}

// SagaResult is the workflow's result: the order's terminal state.
type SagaResult struct {
	OrderID       string             `json:"order_id"`
	Status        orderclient.Status `json:"status"`
	FailureReason string             `json:"failure_reason,omitempty"`
	Total         int64              `json:"total"`
	Currency      string             `json:"currency,omitempty"`
}
