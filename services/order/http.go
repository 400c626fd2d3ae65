package order

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/svcrun"
	"github.com/sagaflow/sagaflow/services/order/client"
)

// apiInfo identifies the API in the OpenAPI document.
var apiInfo = svcrun.Info{
	Title:       "sagaflow order service",
	Version:     "1.0.0",
	Description: "Records orders and moves them through the order saga's statuses, keeping an audit trail of every move.",
}

const tagOrders = "orders"

type createInput struct {
	IdempotencyKey string `header:"Idempotency-Key" required:"true" minLength:"1" maxLength:"255" pattern:"^[!-~]+$" doc:"Printable ASCII without spaces. Repeating a key with the same request replays the first answer"`
	Body           client.CreateOrderRequest
}

type transitionInput struct {
	OrderID        string `path:"order_id" minLength:"1" maxLength:"64"`
	IdempotencyKey string `header:"Idempotency-Key" required:"true" minLength:"1" maxLength:"255" pattern:"^[!-~]+$" doc:"Printable ASCII without spaces. Repeating a key with the same request replays the first answer"`
	Body           client.TransitionRequest
}

type getInput struct {
	OrderID string `path:"order_id" minLength:"1" maxLength:"64"`
}

type listInput struct {
	CustomerID string        `query:"customer_id" maxLength:"64" doc:"Only this customer's orders"`
	Status     client.Status `query:"status" doc:"Only orders in this status"`
	Limit      int           `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size"`
	Cursor     string        `query:"cursor" maxLength:"512" doc:"next_cursor of the previous page"`
}

type orderOutput struct {
	Body client.Order
}

type pageOutput struct {
	Body client.OrderPage
}

// handlers serve the operations over the service.
type handlers struct{ svc *Service }

// Register adds the order operations to api, each with the service identities it accepts
// (docs/security.md). It does not touch the database.
func (s *Service) Register(api huma.API) {
	h := &handlers{svc: s}
	// The saga's steps, made by the saga pool (local steps) or the orders pool.
	sagaStep := auth.Requirement{Callers: []string{auth.IdentitySagaWorker, auth.IdentityOrdersWorker}}
	// Reads: the public API shows orders; operators' tools audit them.
	reader := auth.Requirement{Callers: []string{auth.IdentityAPI, auth.IdentityAdmin}}
	huma.Register(api, auth.Protect(huma.Operation{
		OperationID:   opCreate,
		Method:        http.MethodPost,
		Path:          "/orders",
		Summary:       "Record a new order",
		Description:   "Records a PENDING order. Creating the same order id again with the same content returns the stored order; different content is refused with 409.",
		Tags:          []string{tagOrders},
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusConflict, http.StatusUnprocessableEntity},
	}, sagaStep), h.create)
	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: opTransition,
		Method:      http.MethodPost,
		Path:        "/orders/{order_id}/transitions",
		Summary:     "Move an order to a new status",
		Description: "Moves the order along the transition table and records the move in its history. Pricing (lines and currency) comes with the move to RESERVED. Moving to the current status is a no-op.",
		Tags:        []string{tagOrders},
		Errors:      []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, sagaStep), h.transition)
	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: opGet,
		Method:      http.MethodGet,
		Path:        "/orders/{order_id}",
		Summary:     "Get an order with its lines and history",
		Tags:        []string{tagOrders},
		Errors:      []int{http.StatusNotFound},
	}, reader), h.get)
	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: opList,
		Method:      http.MethodGet,
		Path:        "/orders",
		Summary:     "List orders, newest first",
		Tags:        []string{tagOrders},
		Errors:      []int{http.StatusBadRequest, http.StatusUnprocessableEntity},
	}, reader), h.list)
}

func (h *handlers) create(ctx context.Context, in *createInput) (*orderOutput, error) {
	o, err := h.svc.Create(ctx, in.IdempotencyKey, in.Body)
	if err != nil {
		return nil, h.fail(ctx, opCreate, err)
	}
	return &orderOutput{Body: o}, nil
}

func (h *handlers) transition(ctx context.Context, in *transitionInput) (*orderOutput, error) {
	o, err := h.svc.Transition(ctx, in.IdempotencyKey, in.OrderID, in.Body)
	if err != nil {
		return nil, h.fail(ctx, opTransition, err)
	}
	return &orderOutput{Body: o}, nil
}

func (h *handlers) get(ctx context.Context, in *getInput) (*orderOutput, error) {
	o, err := h.svc.Get(ctx, in.OrderID)
	if err != nil {
		return nil, h.fail(ctx, opGet, err)
	}
	return &orderOutput{Body: o}, nil
}

func (h *handlers) list(ctx context.Context, in *listInput) (*pageOutput, error) {
	page, err := h.svc.List(ctx, ListParams{CustomerID: in.CustomerID, Status: in.Status, Limit: in.Limit, Cursor: in.Cursor})
	if err != nil {
		return nil, h.fail(ctx, opList, err)
	}
	return &pageOutput{Body: page}, nil
}

// fail is the one exit for handler errors: a refusal leaves as its problem (problemFor);
// anything else is logged with the request id and answered with a generic 500.
func (h *handlers) fail(ctx context.Context, op string, err error) error {
	if p, ok := problemFor(err); ok {
		return p
	}
	h.svc.logger.ErrorContext(ctx, "request failed", "operation", op, "error", err.Error())
	return problem.Internal()
}

// NewGuardedHandler returns the service's HTTP handler: the API, whose callers guard checks
// before anything else (svcrun.Handler), its OpenAPI document and docs, and /healthz and
// /readyz (a nil ready reports ready whenever the process answers).
func NewGuardedHandler(svc *Service, guard *auth.Guard, logger *slog.Logger, ready *httpserver.Readiness) http.Handler {
	return svcrun.Handler(apiInfo, guard, logger, ready, svc.Register)
}

// Spec returns the service's OpenAPI document.
func Spec() *huma.OpenAPI {
	return svcrun.Spec(apiInfo, NewService(nil, logging.Discard()).Register)
}
