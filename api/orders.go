package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/danielgtaylor/huma/v2"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/requestid"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/workflows"
)

// memoFingerprint is the memo field holding the placing request's fingerprint, so a
// repeated Idempotency-Key can be checked against the saga itself when Redis forgot it.
const memoFingerprint = "request_fingerprint"

const opPlaceOrder = "place-order"

// NewOrderLine is one requested line.
type NewOrderLine struct {
	SKU      string `json:"sku" minLength:"1" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9_.-]*$" doc:"Stock keeping unit" example:"SKU-1001"`
	Quantity int64  `json:"quantity" minimum:"1" maximum:"10000" doc:"Units wanted" example:"2"`
}

// PlaceOrderRequest is a new order. Prices come from the catalog, never from the client.
type PlaceOrderRequest struct {
	CustomerID   string         `json:"customer_id" minLength:"1" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$" doc:"The ordering customer" example:"cust-42"`
	Lines        []NewOrderLine `json:"lines" minItems:"1" maxItems:"100" doc:"One line per SKU"`
	PaymentToken string         `json:"payment_token" minLength:"1" maxLength:"200" pattern:"^[!-~]+$" doc:"Tokenized payment method" example:"tok_visa"`
}

// Links point at related resources.
type Links struct {
	Self string `json:"self" doc:"This order's URL" example:"/orders/ord_abc"`
}

// OrderLine is an order line; prices are zero until the saga priced the order.
type OrderLine struct {
	SKU       string `json:"sku"`
	Name      string `json:"name,omitempty"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price" doc:"Minor units"`
	LineTotal int64  `json:"line_total" doc:"Minor units"`
}

// StatusChange is one status transition in an order's history.
type StatusChange struct {
	From   string    `json:"from,omitempty"`
	To     string    `json:"to"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// SagaStep is one step or compensation of the order saga.
type SagaStep struct {
	Name     string `json:"name" example:"reserve-stock"`
	Status   string `json:"status" enum:"pending,running,completed,failed,skipped,compensated,resolved-by-operator"`
	Attempts int32  `json:"attempts"`
	Error    string `json:"error,omitempty"`
}

// SagaDecision is the approval answer given to a held order.
type SagaDecision struct {
	Kind   string `json:"kind,omitempty" example:"approve"`
	By     string `json:"by,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// SagaState is the live state of the order's saga.
type SagaState struct {
	Status        string        `json:"status" enum:"PENDING,RESERVED,AUTHORIZED,AWAITING_APPROVAL,CAPTURED,COMPENSATING,COMPENSATION_FAILED,CONFIRMED,CANCELLED,FAILED"`
	CurrentStep   string        `json:"current_step,omitempty"`
	Steps         []SagaStep    `json:"steps"`
	Compensations []SagaStep    `json:"compensations"`
	PastPivot     bool          `json:"past_pivot" doc:"True once the payment capture started: cancel is no longer possible"`
	Decision      *SagaDecision `json:"decision,omitempty"`
}

// Order is an order as clients see it. An accepted (202) answer carries only id, status
// and links; the other fields appear once known.
type Order struct {
	ID            string         `json:"id" example:"ord_mfrggzdfmztwq2lknnwg23tp"`
	Status        string         `json:"status" enum:"PENDING,RESERVED,AUTHORIZED,AWAITING_APPROVAL,CAPTURED,COMPENSATING,COMPENSATION_FAILED,CONFIRMED,CANCELLED,FAILED"`
	CustomerID    string         `json:"customer_id,omitempty"`
	Lines         []OrderLine    `json:"lines,omitempty"`
	Total         int64          `json:"total,omitempty" doc:"Minor units; absent until the order is priced"`
	Currency      string         `json:"currency,omitempty" doc:"ISO 4217 code"`
	FailureReason string         `json:"failure_reason,omitempty"`
	History       []StatusChange `json:"history,omitempty"`
	Saga          *SagaState     `json:"saga,omitempty" doc:"The saga's live state, when it can be read"`
	CreatedAt     *time.Time     `json:"created_at,omitempty"`
	UpdatedAt     *time.Time     `json:"updated_at,omitempty"`
	Links         Links          `json:"links"`
}

// OrderPage is one page of orders, newest first.
type OrderPage struct {
	Items      []Order `json:"items"`
	NextCursor string  `json:"next_cursor,omitempty" doc:"Pass as cursor to get the next page; absent on the last page"`
}

type placeOrderInput struct {
	IdempotencyKey string `header:"Idempotency-Key" required:"true" minLength:"1" maxLength:"255" pattern:"^[!-~]+$" doc:"Unique per order attempt; the order id is derived from it. Repeat it with the same body to retry safely."`
	Prefer         string `header:"Prefer" maxLength:"200" doc:"RFC 7240. wait=N waits up to N seconds (capped by the server) for the order's final state."`
	Body           PlaceOrderRequest
}

type placeOrderOutput struct {
	Status            int
	Location          string `header:"Location" doc:"The order's URL"`
	Replayed          string `header:"Idempotent-Replayed" doc:"true when this is the stored answer to an earlier request with the same key"`
	PreferenceApplied string `header:"Preference-Applied"`
	Body              Order
}

type getOrderInput struct {
	OrderID string `path:"order_id" minLength:"1" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9_-]*$"`
}

type orderOutput struct {
	Body Order
}

type listOrdersInput struct {
	CustomerID string `query:"customer_id" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9_.:@-]*$" doc:"Only this customer's orders"`
	Status     string `query:"status" enum:"PENDING,RESERVED,AUTHORIZED,AWAITING_APPROVAL,CAPTURED,COMPENSATING,COMPENSATION_FAILED,CONFIRMED,CANCELLED,FAILED" doc:"Only orders in this status"`
	Limit      int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size"`
	Cursor     string `query:"cursor" maxLength:"512" doc:"next_cursor of the previous page"`
}

type orderPageOutput struct {
	Body OrderPage
}

func (s *Server) registerOrders(api huma.API) {
	huma.Register(api, huma.Operation{
		OperationID: "place-order",
		Method:      http.MethodPost,
		Path:        "/orders",
		Summary:     "Place an order",
		Description: "Starts the order saga and answers 202 with the order's URL. The order id is derived from the Idempotency-Key, " +
			"so retrying with the same key and body never places a second order. With `Prefer: wait=N` the answer waits up to N " +
			"seconds and is 200 with the order when it reached a final state by then.",
		Tags:          []string{tagOrders},
		DefaultStatus: http.StatusAccepted,
		// 100 lines fit in a few kilobytes; anything much larger is not an order.
		MaxBodyBytes: 64 << 10,
		Responses: map[string]*huma.Response{
			"200": {
				Description: "The order reached a final state within the requested wait",
				Content: map[string]*huma.MediaType{"application/json": {
					Schema: api.OpenAPI().Components.Schemas.Schema(reflect.TypeFor[Order](), true, "Order"),
				}},
			},
		},
		Errors: []int{http.StatusBadRequest, http.StatusConflict, http.StatusUnprocessableEntity,
			http.StatusTooManyRequests, http.StatusServiceUnavailable},
	}, s.placeOrder)
	huma.Register(api, huma.Operation{
		OperationID: "get-order",
		Method:      http.MethodGet,
		Path:        "/orders/{order_id}",
		Summary:     "Get an order with its lines, history and saga state",
		Tags:        []string{tagOrders},
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusTooManyRequests, http.StatusServiceUnavailable},
	}, s.getOrder)
	huma.Register(api, huma.Operation{
		OperationID: "list-orders",
		Method:      http.MethodGet,
		Path:        "/orders",
		Summary:     "List orders, newest first",
		Tags:        []string{tagOrders},
		Errors:      []int{http.StatusBadRequest, http.StatusUnprocessableEntity, http.StatusTooManyRequests, http.StatusServiceUnavailable},
	}, s.listOrders)
}

func orderLocation(id string) string { return "/orders/" + id }

func (s *Server) placeOrder(ctx context.Context, in *placeOrderInput) (*placeOrderOutput, error) {
	if !validIdempotencyKey(in.IdempotencyKey) {
		return nil, problem.New(http.StatusBadRequest, problem.CodeValidation,
			"Idempotency-Key must be 1 to 255 printable ASCII characters without spaces",
			&huma.ErrorDetail{Location: "header.Idempotency-Key", Message: "invalid idempotency key"})
	}
	if err := validateLines(in.Body.Lines); err != nil {
		return nil, err
	}
	wait := preferredWait(in.Prefer, s.cfg.OrderWaitMax)
	id := OrderIDForKey(in.IdempotencyKey)
	fp, err := fingerprint(opPlaceOrder, in.Body)
	if err != nil {
		return nil, s.fail(ctx, err)
	}

	key := s.idem.key(opPlaceOrder, id)
	rec, token, err := s.idem.begin(ctx, key, fp)
	fastPath := err == nil
	if !fastPath {
		s.logger.WarnContext(ctx, "idempotency fast path unavailable; relying on the workflow id", "order_id", id, "error", err)
	}
	if rec != nil {
		out, err := s.replay(rec, fp)
		if err != nil {
			return nil, s.fail(ctx, err)
		}
		return out, nil
	}

	out, err := s.startOrder(ctx, in, id, fp, wait)
	if err != nil {
		if fastPath {
			if rerr := s.idem.release(ctx, key, token); rerr != nil {
				s.logger.WarnContext(ctx, "could not release idempotency claim", "order_id", id, "error", rerr)
			}
		}
		return nil, s.fail(ctx, err)
	}
	if fastPath {
		body, err := json.Marshal(out.Body)
		if err == nil {
			err = s.idem.complete(ctx, key, idemRecord{Fingerprint: fp, Status: out.Status, Body: body, Location: out.Location})
		}
		if err != nil {
			s.logger.WarnContext(ctx, "could not store idempotent answer", "order_id", id, "error", err)
		}
	}
	return out, nil
}

func keyReused() error {
	return problem.New(http.StatusUnprocessableEntity, problem.CodeIdempotencyReused,
		"this Idempotency-Key was already used with a different request")
}

// replay answers a repeated key from its Redis record.
func (s *Server) replay(rec *idemRecord, fp string) (*placeOrderOutput, error) {
	if rec.Fingerprint != fp {
		return nil, keyReused()
	}
	if rec.State != stateDone {
		return nil, huma.ErrorWithHeaders(
			problem.New(http.StatusConflict, problem.CodeInFlight, "a request with this Idempotency-Key is still being processed; retry shortly"),
			http.Header{"Retry-After": []string{"1"}})
	}
	out := &placeOrderOutput{Status: rec.Status, Location: rec.Location, Replayed: "true"}
	if err := json.Unmarshal(rec.Body, &out.Body); err != nil {
		return nil, fmt.Errorf("stored answer unreadable: %w", err)
	}
	return out, nil
}

// startOrder starts the saga, or recognises that this key already started it.
func (s *Server) startOrder(ctx context.Context, in *placeOrderInput, id, fp string, wait time.Duration) (*placeOrderOutput, error) {
	wid := workflows.WorkflowID(id)
	req := in.Body
	lines := make([]workflows.OrderLine, len(req.Lines))
	for i, l := range req.Lines {
		lines[i] = workflows.OrderLine{SKU: l.SKU, Quantity: l.Quantity}
	}
	input := workflows.OrderInput{
		OrderID:           id,
		CustomerID:        req.CustomerID,
		Lines:             lines,
		PaymentToken:      req.PaymentToken,
		RequestID:         requestid.From(ctx),
		ApprovalThreshold: s.cfg.ApprovalThreshold,
		ApprovalTimeout:   s.cfg.ApprovalTimeout,
		Timing: workflows.Timing{
			ActivityTimeout:     s.cfg.SagaActivityTimeout,
			RetryMaxInterval:    s.cfg.SagaRetryMaxInterval,
			LocalAttemptTimeout: s.cfg.SagaLocalAttemptTimeout,
		},
		LocalSteps: s.cfg.SagaLocalSteps,
	}
	opts := client.StartWorkflowOptions{
		ID:        wid,
		TaskQueue: s.cfg.SagaTaskQueue,
		// Never a second saga for the same order, running or finished.
		WorkflowIDReusePolicy:                    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy:                 enumspb.WORKFLOW_ID_CONFLICT_POLICY_FAIL,
		WorkflowExecutionErrorWhenAlreadyStarted: true,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchOrderStatus.ValueSet(workflows.StatusPending),
			workflows.SearchCustomerID.ValueSet(req.CustomerID),
		),
		StaticSummary: fmt.Sprintf("Order %s for customer %s (%d lines)", id, req.CustomerID, len(req.Lines)),
		StaticDetails: staticDetails(req),
		Memo:          map[string]any{memoFingerprint: fp},
	}
	out := &placeOrderOutput{
		Status:   http.StatusAccepted,
		Location: orderLocation(id),
		Body:     Order{ID: id, Status: workflows.StatusPending, Links: Links{Self: orderLocation(id)}},
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.ServiceCallTimeout)
	defer cancel()
	run, err := s.deps.Temporal.ExecuteWorkflow(sctx, opts, workflows.OrderSagaName, input)
	if err != nil {
		var started *serviceerror.WorkflowExecutionAlreadyStarted
		if !errors.As(err, &started) {
			return nil, dependency(depTemporal, err)
		}
		// Redis forgot the key (or a concurrent request raced us): the saga itself says
		// whether this is the same request.
		desc, err := s.deps.Temporal.DescribeWorkflowExecution(sctx, wid, "")
		if err != nil {
			return nil, dependency(depTemporal, err)
		}
		if memoString(desc, memoFingerprint) != fp {
			return nil, keyReused()
		}
		out.Replayed = "true"
		// The first answer is gone with the record; the current status is the best stand-in.
		if st := searchKeyword(desc, workflows.SearchOrderStatus.GetName()); st != "" {
			out.Body.Status = st
		}
		run = s.deps.Temporal.GetWorkflow(ctx, wid, desc.GetWorkflowExecutionInfo().GetExecution().GetRunId())
	}
	if wait > 0 {
		out.PreferenceApplied = "wait=" + strconv.Itoa(int(wait/time.Second))
		if order, ok := s.awaitFinal(ctx, run, id, wait); ok {
			out.Status = http.StatusOK
			out.Body = order
		}
	}
	return out, nil
}

// awaitFinal waits up to wait for the saga's result and returns the final order.
func (s *Server) awaitFinal(ctx context.Context, run client.WorkflowRun, id string, wait time.Duration) (Order, bool) {
	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	var res workflows.SagaResult
	if err := run.Get(wctx, &res); err != nil {
		if wctx.Err() == nil {
			s.logger.WarnContext(ctx, "saga ended without a result", "order_id", id, "error", err)
		}
		return Order{}, false
	}
	if !workflows.IsTerminal(res.Status) {
		return Order{}, false
	}
	if o, err := s.deps.Orders.Get(ctx, id); err == nil && o.Status == res.Status {
		return orderFromService(o), true
	}
	return Order{
		ID:            id,
		Status:        res.Status,
		Total:         res.Total,
		Currency:      res.Currency,
		FailureReason: res.FailureReason,
		Links:         Links{Self: orderLocation(id)},
	}, true
}

// validateLines refuses what the schema cannot express: the same SKU on two lines.
func validateLines(lines []NewOrderLine) error {
	seen := make(map[string]int, len(lines))
	for i, l := range lines {
		if j, dup := seen[l.SKU]; dup {
			return problem.New(http.StatusUnprocessableEntity, problem.CodeValidation,
				fmt.Sprintf("SKU %s appears on lines %d and %d; use one line per SKU", l.SKU, j, i),
				&huma.ErrorDetail{Location: fmt.Sprintf("body.lines[%d].sku", i), Message: "duplicate SKU", Value: l.SKU})
		}
		seen[l.SKU] = i
	}
	return nil
}

// preferredWait reads wait=N from a Prefer header (RFC 7240), capped at limit. Preferences
// the server does not understand are ignored, as the RFC asks.
func preferredWait(header string, limit time.Duration) time.Duration {
	for pref := range strings.SplitSeq(header, ",") {
		name, value, ok := strings.Cut(strings.TrimSpace(pref), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "wait") {
			continue
		}
		value = strings.Trim(strings.TrimSpace(value), `"`)
		if i := strings.IndexByte(value, ';'); i >= 0 {
			value = value[:i]
		}
		n, err := strconv.Atoi(value)
		if err != nil || n <= 0 {
			return 0
		}
		if d := time.Duration(n) * time.Second; d < limit {
			return d
		}
		return limit.Truncate(time.Second)
	}
	return 0
}

func staticDetails(req PlaceOrderRequest) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Customer: %s\n\nLines:\n", req.CustomerID)
	for _, l := range req.Lines {
		fmt.Fprintf(&b, "- %s × %d\n", l.SKU, l.Quantity)
	}
	return b.String()
}

func memoString(desc *workflowservice.DescribeWorkflowExecutionResponse, field string) string {
	p := desc.GetWorkflowExecutionInfo().GetMemo().GetFields()[field]
	if p == nil {
		return ""
	}
	var v string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
		return ""
	}
	return v
}

func searchKeyword(desc *workflowservice.DescribeWorkflowExecutionResponse, name string) string {
	p := desc.GetWorkflowExecutionInfo().GetSearchAttributes().GetIndexedFields()[name]
	if p == nil {
		return ""
	}
	var v string
	if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err != nil {
		return ""
	}
	return v
}

// sagaQueryTimeout bounds the status query: a worker answers it in milliseconds, and
// when no worker is polling the server holds the query until the deadline, which a read
// should not wait out for long.
const sagaQueryTimeout = 2 * time.Second

// sagaInfo is what Temporal knows about an order's saga.
type sagaInfo struct {
	running    bool
	status     string // the OrderStatus search attribute
	customerID string
	state      *workflows.SagaStatus // nil when the status query could not be answered
}

// describeSaga returns the saga of an order, or nil when there is none.
func (s *Server) describeSaga(ctx context.Context, id string) (*sagaInfo, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.ServiceCallTimeout)
	defer cancel()
	desc, err := s.deps.Temporal.DescribeWorkflowExecution(ctx, workflows.WorkflowID(id), "")
	if isNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, dependency(depTemporal, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	return &sagaInfo{
		running:    info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING,
		status:     searchKeyword(desc, workflows.SearchOrderStatus.GetName()),
		customerID: searchKeyword(desc, workflows.SearchCustomerID.GetName()),
	}, nil
}

// querySaga asks the saga for its live state.
func (s *Server) querySaga(ctx context.Context, id string) (*workflows.SagaStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, min(s.cfg.ServiceCallTimeout, sagaQueryTimeout))
	defer cancel()
	v, err := s.deps.Temporal.QueryWorkflow(ctx, workflows.WorkflowID(id), "", workflows.QueryStatus)
	if err != nil {
		return nil, dependency(depTemporal, err)
	}
	var st workflows.SagaStatus
	if err := v.Get(&st); err != nil {
		return nil, dependency(depTemporal, err)
	}
	return &st, nil
}

func (s *Server) getOrder(ctx context.Context, in *getOrderInput) (*orderOutput, error) {
	o, err := s.deps.Orders.Get(ctx, in.OrderID)
	recorded := err == nil
	if err != nil && !isNotFound(err) {
		return nil, s.fail(ctx, dependency(depOrders, err))
	}
	saga, err := s.describeSaga(ctx, in.OrderID)
	if err != nil {
		if !recorded {
			return nil, s.fail(ctx, err)
		}
		// The order service's record is still a correct answer without the saga's details.
		s.logger.WarnContext(ctx, "saga state unavailable", "order_id", in.OrderID, "error", err)
	}
	if saga != nil {
		saga.state, err = s.querySaga(ctx, in.OrderID)
		if err != nil {
			s.logger.WarnContext(ctx, "saga status query failed", "order_id", in.OrderID, "error", err)
		}
	}
	switch {
	case recorded:
		view := orderFromService(o)
		if saga != nil && saga.state != nil {
			view.Saga = sagaView(saga.state)
		}
		return &orderOutput{Body: view}, nil
	case saga != nil:
		return &orderOutput{Body: orderFromSaga(in.OrderID, saga)}, nil
	}
	return nil, problem.New(http.StatusNotFound, problem.CodeNotFound, "no order with id "+in.OrderID)
}

func (s *Server) listOrders(ctx context.Context, in *listOrdersInput) (*orderPageOutput, error) {
	page, err := s.deps.Orders.List(ctx, orderclient.ListFilter{
		CustomerID: in.CustomerID, Status: in.Status, Limit: in.Limit, Cursor: in.Cursor,
	})
	if err != nil {
		return nil, s.fail(ctx, dependency(depOrders, err))
	}
	out := OrderPage{Items: make([]Order, 0, len(page.Items)), NextCursor: page.NextCursor}
	for _, o := range page.Items {
		out.Items = append(out.Items, orderFromService(o))
	}
	return &orderPageOutput{Body: out}, nil
}

func orderFromService(o orderclient.Order) Order {
	view := Order{
		ID:            o.ID,
		Status:        o.Status,
		CustomerID:    o.CustomerID,
		Total:         o.Total,
		Currency:      o.Currency,
		FailureReason: o.FailureReason,
		Links:         Links{Self: orderLocation(o.ID)},
	}
	for _, l := range o.Lines {
		view.Lines = append(view.Lines, OrderLine{SKU: l.SKU, Name: l.Name, Quantity: l.Quantity, UnitPrice: l.UnitPrice, LineTotal: l.LineTotal})
	}
	for _, h := range o.History {
		view.History = append(view.History, StatusChange{From: h.From, To: h.To, Reason: h.Reason, At: h.At})
	}
	if !o.CreatedAt.IsZero() {
		view.CreatedAt = &o.CreatedAt
	}
	if !o.UpdatedAt.IsZero() {
		view.UpdatedAt = &o.UpdatedAt
	}
	return view
}

// orderFromSaga answers for an order the order service has not recorded yet.
func orderFromSaga(id string, saga *sagaInfo) Order {
	view := Order{ID: id, Status: workflows.StatusPending, CustomerID: saga.customerID, Links: Links{Self: orderLocation(id)}}
	if saga.status != "" {
		view.Status = saga.status
	}
	if st := saga.state; st != nil {
		if st.Status != "" {
			view.Status = st.Status
		}
		view.Total = st.Total
		view.Currency = st.Currency
		view.FailureReason = st.FailureReason
		for _, l := range st.Lines {
			view.Lines = append(view.Lines, OrderLine{SKU: l.SKU, Name: l.Name, Quantity: l.Quantity, UnitPrice: l.UnitPrice, LineTotal: l.LineTotal})
		}
		view.Saga = sagaView(st)
	}
	return view
}

func sagaView(st *workflows.SagaStatus) *SagaState {
	v := &SagaState{
		Status:        st.Status,
		CurrentStep:   st.CurrentStep,
		Steps:         stepsView(st.Steps),
		Compensations: stepsView(st.Compensations),
		PastPivot:     st.PastPivot,
	}
	if st.Decision != nil {
		v.Decision = &SagaDecision{Kind: st.DecisionKind, By: st.Decision.By, Reason: st.Decision.Reason}
	}
	return v
}

func stepsView(steps []workflows.StepState) []SagaStep {
	out := make([]SagaStep, 0, len(steps))
	for _, s := range steps {
		out = append(out, SagaStep{Name: s.Name, Status: s.Status, Attempts: s.Attempts, Error: s.Error})
	}
	return out
}

// hasControl reports whether free text carries control characters, which would let it
// forge lines in logs and histories.
func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}
