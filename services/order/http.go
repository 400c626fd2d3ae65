package order

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-chi/chi/v5"

	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/services/order/client"
)

// API identity in the OpenAPI document.
const (
	apiTitle       = "sagaflow order service"
	apiVersion     = "1.0.0"
	apiDescription = "Records orders and moves them through the order saga's statuses, keeping an audit trail of every move."
	tagOrders      = "orders"
)

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
	CustomerID string `query:"customer_id" maxLength:"64" doc:"Only this customer's orders"`
	Status     string `query:"status" enum:"PENDING,RESERVED,AUTHORIZED,AWAITING_APPROVAL,CAPTURED,COMPENSATING,COMPENSATION_FAILED,CONFIRMED,CANCELLED,FAILED" doc:"Only orders in this status"`
	Limit      int    `query:"limit" minimum:"1" maximum:"100" default:"20" doc:"Page size"`
	Cursor     string `query:"cursor" maxLength:"512" doc:"next_cursor of the previous page"`
}

type orderOutput struct {
	Body client.Order
}

type pageOutput struct {
	Body client.OrderPage
}

type handlers struct{ svc *Service }

// Register adds the order operations to api. It does not touch the database.
func Register(api huma.API, svc *Service) {
	h := &handlers{svc: svc}
	huma.Register(api, huma.Operation{
		OperationID:   "create-order",
		Method:        http.MethodPost,
		Path:          "/orders",
		Summary:       "Record a new order",
		Description:   "Records a PENDING order. Creating the same order id again with the same content returns the stored order; different content is refused with 409.",
		Tags:          []string{tagOrders},
		DefaultStatus: http.StatusCreated,
		Errors:        []int{http.StatusConflict, http.StatusUnprocessableEntity},
	}, h.create)
	huma.Register(api, huma.Operation{
		OperationID: "transition-order",
		Method:      http.MethodPost,
		Path:        "/orders/{order_id}/transitions",
		Summary:     "Move an order to a new status",
		Description: "Moves the order along the transition table and records the move in its history. Pricing (lines and currency) comes with the move to RESERVED. Moving to the current status is a no-op.",
		Tags:        []string{tagOrders},
		Errors:      []int{http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity},
	}, h.transition)
	huma.Register(api, huma.Operation{
		OperationID: "get-order",
		Method:      http.MethodGet,
		Path:        "/orders/{order_id}",
		Summary:     "Get an order with its lines and history",
		Tags:        []string{tagOrders},
		Errors:      []int{http.StatusNotFound},
	}, h.get)
	huma.Register(api, huma.Operation{
		OperationID: "list-orders",
		Method:      http.MethodGet,
		Path:        "/orders",
		Summary:     "List orders, newest first",
		Tags:        []string{tagOrders},
		Errors:      []int{http.StatusBadRequest, http.StatusUnprocessableEntity},
	}, h.list)
}

func (h *handlers) create(ctx context.Context, in *createInput) (*orderOutput, error) {
	o, err := h.svc.Create(ctx, in.IdempotencyKey, in.Body)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &orderOutput{Body: o}, nil
}

func (h *handlers) transition(ctx context.Context, in *transitionInput) (*orderOutput, error) {
	o, err := h.svc.Transition(ctx, in.IdempotencyKey, in.OrderID, in.Body)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &orderOutput{Body: o}, nil
}

func (h *handlers) get(ctx context.Context, in *getInput) (*orderOutput, error) {
	o, err := h.svc.Get(ctx, in.OrderID)
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &orderOutput{Body: o}, nil
}

func (h *handlers) list(ctx context.Context, in *listInput) (*pageOutput, error) {
	page, err := h.svc.List(ctx, ListParams{CustomerID: in.CustomerID, Status: in.Status, Limit: in.Limit, Cursor: in.Cursor})
	if err != nil {
		return nil, h.fail(ctx, err)
	}
	return &pageOutput{Body: page}, nil
}

// fail is the one place errors become answers: business refusals keep their problem,
// anything else is logged with the request id and hidden behind a generic 500.
func (h *handlers) fail(ctx context.Context, err error) error {
	if p, ok := problem.As(err); ok && problem.IsClientError(err) {
		return p
	}
	h.svc.logger.ErrorContext(ctx, "order request failed", "error", err)
	return problem.Internal()
}

// NewHandler builds the service's HTTP handler: the order API, its OpenAPI document and
// docs, and the health endpoints. A nil ready reports ready whenever the process answers.
func NewHandler(svc *Service, logger *slog.Logger, ready *httpserver.Readiness) http.Handler {
	if ready == nil {
		ready = httpserver.NewReadiness(nil)
	}
	router := httpserver.NewRouter(logger)
	api := httpserver.NewAPI(router, apiTitle, apiVersion, apiDescription)
	Register(api, svc)
	httpserver.MountHealth(router, ready)
	return router
}

// Spec returns the service's OpenAPI document.
func Spec() *huma.OpenAPI {
	api := httpserver.NewAPI(chi.NewRouter(), apiTitle, apiVersion, apiDescription)
	Register(api, NewService(nil, logging.Discard()))
	return api.OpenAPI()
}
