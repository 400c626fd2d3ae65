package api

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"unicode"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/problem"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/workflows"
)

// DecisionRequest says why; it is optional. Who decided is the token's subject, never
// what the client says.
type DecisionRequest struct {
	Reason string `json:"reason,omitempty" maxLength:"500" doc:"Why" example:"verified by phone"`
}

type decisionInput struct {
	OrderID        string `path:"order_id" minLength:"1" maxLength:"64" pattern:"^[A-Za-z0-9][A-Za-z0-9_-]*$"`
	IdempotencyKey string `header:"Idempotency-Key" maxLength:"255" pattern:"^[!-~]+$" doc:"Optional: a decision applies once whatever the repeats, because the saga only acts on it in the right state"`
	Body           *DecisionRequest
}

// SignalAccepted acknowledges a decision sent to the order's saga.
type SignalAccepted struct {
	ID     string             `json:"id"`
	Status orderclient.Status `json:"status" doc:"The order's status when the decision was sent"`
	Links  Links              `json:"links"`
}

type signalOutput struct {
	Body SignalAccepted
}

// signalKind describes one decision endpoint.
type signalKind struct {
	operationID string
	signal      string
	verb        string
	summary     string
	description string
	// allowed says whether the saga in state st accepts the decision, and why not.
	allowed func(st *workflows.SagaStatus) (bool, string)
	// byStatus: the order status alone decides, and the saga's OrderStatus search
	// attribute (read with the description) tells it, so no status query is needed. A
	// query waits for the workflow task in progress, which with local steps may run
	// every step up to the approval.
	byStatus bool
	// requirement is who may send the decision.
	requirement auth.Requirement
	// everyOrder, when set, is the scope that lets a caller decide on any order; without
	// it a caller decides only on their own orders (another's is answered 404). Unset, the
	// requirement alone decides.
	everyOrder string
}

func awaitingApproval(verb string) func(st *workflows.SagaStatus) (bool, string) {
	return func(st *workflows.SagaStatus) (bool, string) {
		if st.Status == orderclient.StatusAwaitingApproval {
			return true, ""
		}
		return false, fmt.Sprintf("the order is %s; only an order AWAITING_APPROVAL can be %s", st.Status, verb)
	}
}

func cancellable(st *workflows.SagaStatus) (bool, string) {
	switch {
	case st.Status.IsTerminal():
		return false, fmt.Sprintf("the order is already %s", st.Status)
	case st.PastPivot:
		return false, fmt.Sprintf("the order is %s and its payment is being captured; it can no longer be cancelled", st.Status)
	case st.Status == orderclient.StatusCompensating || st.Status == orderclient.StatusCompensationFailed:
		return false, fmt.Sprintf("the order is %s; it is already being undone", st.Status)
	}
	return true, ""
}

func (s *Server) registerSignals(api huma.API) {
	kinds := []signalKind{
		{
			operationID: "approve-order", signal: workflows.SignalApprove, verb: "approved",
			summary:     "Approve a held order",
			description: "Sends the approve decision to an order AWAITING_APPROVAL; the saga then captures the payment.",
			allowed:     awaitingApproval("approved"),
			byStatus:    true,
			requirement: auth.Requirement{Scopes: []string{auth.ScopeOrdersApprove}},
		},
		{
			operationID: "reject-order", signal: workflows.SignalReject, verb: "rejected",
			summary:     "Reject a held order",
			description: "Sends the reject decision to an order AWAITING_APPROVAL; the saga then voids the payment and releases the stock.",
			allowed:     awaitingApproval("rejected"),
			byStatus:    true,
			requirement: auth.Requirement{Scopes: []string{auth.ScopeOrdersApprove}},
		},
		{
			operationID: "cancel-order", signal: workflows.SignalCancel, verb: "cancelled",
			summary:     "Cancel an order",
			description: "Cancels an order that has not reached the payment capture; the saga then undoes what it did. After the capture the answer is 409.",
			allowed:     cancellable,
			// A customer cancels their own orders; an operator any order.
			requirement: auth.Requirement{Scopes: []string{auth.ScopeOrdersWrite, auth.ScopeOrdersApprove}},
			everyOrder:  auth.ScopeOrdersApprove,
		},
	}
	for _, k := range kinds {
		description := k.description + " The answer is 202: the saga acts on the decision asynchronously; follow the order's URL. " +
			"The decision is recorded as taken by the token's subject."
		if k.everyOrder != "" {
			description += " Another customer's order is answered 404 unless the token holds " + k.everyOrder + "."
		}
		huma.Register(api, auth.Protect(huma.Operation{
			OperationID:   k.operationID,
			Method:        http.MethodPost,
			Path:          "/orders/{order_id}/" + k.signal,
			Summary:       k.summary,
			Description:   description,
			Tags:          []string{tagOrders},
			DefaultStatus: http.StatusAccepted,
			MaxBodyBytes:  8 << 10,
			Errors: []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity,
				http.StatusTooManyRequests, http.StatusServiceUnavailable},
		}, k.requirement), func(ctx context.Context, in *decisionInput) (*signalOutput, error) {
			return s.decide(ctx, k, in)
		})
	}
}

// decide checks the saga's state, then signals it. The check gives clients a clear 409;
// the saga still decides for itself, so a decision racing a state change stays harmless.
func (s *Server) decide(ctx context.Context, k signalKind, in *decisionInput) (*signalOutput, error) {
	p, err := s.caller(ctx)
	if err != nil {
		return nil, err
	}
	// Who decided is who the token says; nobody is known while authentication is off.
	d := workflows.Decision{By: p.Subject}
	if p.Unauthenticated {
		d.By = anonymous
	}
	if in.Body != nil {
		if hasControl(in.Body.Reason) {
			return nil, problem.New(http.StatusUnprocessableEntity, problem.CodeValidation, "reason must not contain control characters")
		}
		d.Reason = in.Body.Reason
	}
	saga, err := s.describeSaga(ctx, in.OrderID)
	if err != nil {
		return nil, s.fail(ctx, err)
	}
	// Another customer's order answers as a missing one, before its state can show.
	if saga == nil || (k.everyOrder != "" && !mayAccess(p, saga.customerID, k.everyOrder)) {
		return nil, orderNotFound(in.OrderID)
	}
	if !saga.running {
		return nil, problem.New(http.StatusConflict, problem.CodeInvalidTransition,
			fmt.Sprintf("the order's saga has finished (status %s); it can no longer be %s", saga.status, k.verb))
	}
	st := &workflows.SagaStatus{Status: saga.status}
	if !k.byStatus || saga.status == "" {
		if st, err = s.querySaga(ctx, in.OrderID); err != nil {
			return nil, s.fail(ctx, err)
		}
	}
	if ok, why := k.allowed(st); !ok {
		return nil, problem.New(http.StatusConflict, problem.CodeInvalidTransition, why)
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.ServiceCallTimeout)
	defer cancel()
	if err := s.deps.Temporal.SignalWorkflow(sctx, workflows.WorkflowID(in.OrderID), "", k.signal, d); err != nil {
		if isNotFound(err) {
			return nil, problem.New(http.StatusConflict, problem.CodeInvalidTransition,
				"the order's saga finished meanwhile; it can no longer be "+k.verb)
		}
		return nil, s.fail(ctx, dependency(depTemporal, err))
	}
	s.logger.InfoContext(ctx, "decision sent", "order_id", in.OrderID, "signal", k.signal, "by", d.By)
	return &signalOutput{Body: SignalAccepted{ID: in.OrderID, Status: st.Status, Links: Links{Self: orderLocation(in.OrderID)}}}, nil
}

// hasControl reports whether free text carries control characters, which would let it
// forge lines in logs and histories.
func hasControl(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) >= 0
}
