package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/danielgtaylor/huma/v2"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/requestid"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/workflows"
)

// memoFingerprint is the memo field holding the placing request's fingerprint, so a
// repeated Idempotency-Key can be checked against the saga itself when Redis forgot it.
const memoFingerprint = "request_fingerprint"

// memoCustomer is the memo field holding the ordering customer. The memo goes through the
// client's data converter (and its codec), unlike a search attribute, which Temporal keeps
// and indexes in clear.
const memoCustomer = "customer_id"

const opPlaceOrder = "place-order"

func (s *Server) placeOrder(ctx context.Context, in *placeOrderInput) (*placeOrderOutput, error) {
	if !validIdempotencyKey(in.IdempotencyKey) {
		return nil, problem.New(http.StatusBadRequest, problem.CodeValidation,
			"Idempotency-Key must be 1 to 255 printable ASCII characters without spaces",
			&huma.ErrorDetail{Location: "header.Idempotency-Key", Message: "invalid idempotency key"})
	}
	if err := validateLines(in.Body.Lines); err != nil {
		return nil, err
	}
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	// Refused before anything is claimed or started.
	customer, err := customerFor(p, in.Body.CustomerID)
	if err != nil {
		return nil, err
	}
	// The request as placed: leaving customer_id out or repeating the subject is the same
	// request, with the same fingerprint.
	in.Body.CustomerID = customer
	wait := preferredWait(in.Prefer, s.cfg.OrderWaitMax)
	id := OrderIDForKey(idempotencyScope(p), in.IdempotencyKey)
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
		// No customer here: search attributes are stored and indexed in clear.
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchOrderStatus.ValueSet(string(orderclient.StatusPending)),
		),
		// The summary, details and memo go through the client's data converter.
		StaticSummary: fmt.Sprintf("Order %s for customer %s (%d lines)", id, req.CustomerID, len(req.Lines)),
		StaticDetails: staticDetails(req),
		Memo:          map[string]any{memoFingerprint: fp, memoCustomer: req.CustomerID},
	}
	out := &placeOrderOutput{
		Status:   http.StatusAccepted,
		Location: orderLocation(id),
		Body:     Order{ID: id, Status: orderclient.StatusPending, Links: Links{Self: orderLocation(id)}},
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
		if s.memoString(desc, memoFingerprint) != fp {
			return nil, keyReused()
		}
		out.Replayed = "true"
		// The first answer is gone with the record; the current status is the best stand-in.
		if st := searchKeyword(desc, workflows.SearchOrderStatus.GetName()); st != "" {
			out.Body.Status = orderclient.Status(st)
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
	if !res.Status.IsTerminal() {
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
		// A number of seconds past what the server waits (however many digits) is capped
		// like any other; what is not a positive whole number is not a wait.
		if value == "" || strings.Trim(value, "0123456789") != "" {
			return 0
		}
		n, err := strconv.ParseInt(value, 10, 64)
		if err != nil || n > int64(limit/time.Second) {
			return limit.Truncate(time.Second)
		}
		return time.Duration(n) * time.Second
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
