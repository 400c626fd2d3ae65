package payment

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
	"github.com/sagaflow/sagaflow/services/payment/client"
)

// apiInfo identifies the API in the OpenAPI document.
var apiInfo = svcrun.Info{
	Title:   "sagaflow payment service",
	Version: "1.0.0",
	Description: "Authorizes, captures, voids and refunds the payment of an order through a card processor " +
		"and keeps a ledger of every money movement. Every mutating call takes an Idempotency-Key: a repeated " +
		"call returns the first answer. The built-in processor runs in test mode: tok_visa and tok_mastercard " +
		"approve, tok_chargeDeclined and tok_insufficientFunds decline.",
}

// maxBodyBytes bounds request bodies; payment requests are a few hundred bytes.
const maxBodyBytes = 16 << 10

type authorizeInput struct {
	IdempotencyKey string `header:"Idempotency-Key" required:"true" minLength:"1" maxLength:"255" pattern:"^[!-~]+$" doc:"Printable ASCII without spaces. Unique per intended change; a repeated key returns the first answer"`
	Body           client.AuthorizeRequest
}

type orderInput struct {
	OrderID        string `path:"order_id" minLength:"1" maxLength:"64"`
	IdempotencyKey string `header:"Idempotency-Key" required:"true" minLength:"1" maxLength:"255" pattern:"^[!-~]+$" doc:"Printable ASCII without spaces. Unique per intended change; a repeated key returns the first answer"`
}

type refundInput struct {
	OrderID        string `path:"order_id" minLength:"1" maxLength:"64"`
	IdempotencyKey string `header:"Idempotency-Key" required:"true" minLength:"1" maxLength:"255" pattern:"^[!-~]+$" doc:"Printable ASCII without spaces. Unique per intended change; a repeated key returns the first answer"`
	Body           client.RefundRequest
}

type getInput struct {
	OrderID string `path:"order_id" minLength:"1" maxLength:"64"`
}

type listInput struct {
	Status string `query:"status" enum:"AUTHORIZED,CAPTURED,VOIDED,REFUNDED" doc:"Only payments with this status"`
	After  string `query:"after" maxLength:"64" doc:"Order id to start after (the 'next' of the previous page)"`
	Limit  int    `query:"limit" minimum:"1" maximum:"1000" default:"100"`
}

type paymentOutput struct {
	Body client.Payment
}

type listOutput struct {
	Body client.PaymentList
}

// handlers serve the operations over the service.
type handlers struct{ svc *Service }

// Register adds the payment operations to api, each with the service identities it
// accepts (docs/security.md). It does not touch the database.
func (s *Service) Register(api huma.API) {
	h := &handlers{svc: s}
	// Money moves only as the saga's steps, made by the saga pool (local steps) or the
	// payments pool.
	sagaStep := auth.Requirement{Callers: []string{auth.IdentitySagaWorker, auth.IdentityPaymentsWorker}}
	// Reads are for operators' tools (the audit); the public API shows no payment.
	reader := auth.Requirement{Callers: []string{auth.IdentityAdmin}}
	tags := []string{"Payments"}
	mutating := []int{http.StatusBadRequest, http.StatusNotFound, http.StatusConflict, http.StatusUnprocessableEntity, http.StatusInternalServerError}

	huma.Register(api, auth.Protect(huma.Operation{
		OperationID:   opAuthorize,
		Method:        http.MethodPost,
		Path:          "/payments",
		Summary:       "Authorize an order's payment",
		Description:   "Places a hold for the amount on the card token. An order has at most one payment: authorizing it again with the same amount returns it; an order voided first refuses the authorization (payment-voided). Declines answer 402 (card-declined, insufficient-funds).",
		Tags:          tags,
		DefaultStatus: http.StatusCreated,
		MaxBodyBytes:  maxBodyBytes,
		Errors:        append([]int{http.StatusPaymentRequired}, mutating...),
	}, sagaStep), h.authorize)

	huma.Register(api, auth.Protect(huma.Operation{
		OperationID:  opCapture,
		Method:       http.MethodPost,
		Path:         "/payments/{order_id}/capture",
		Summary:      "Capture an authorized payment",
		Description:  "Takes the authorized amount. Capturing a captured payment changes nothing; a voided one answers payment-voided.",
		Tags:         tags,
		MaxBodyBytes: maxBodyBytes,
		Errors:       mutating,
	}, sagaStep), h.capture)

	huma.Register(api, auth.Protect(huma.Operation{
		OperationID:  opVoid,
		Method:       http.MethodPost,
		Path:         "/payments/{order_id}/void",
		Summary:      "Void a payment's authorization",
		Description:  "Releases the hold. Voiding an order that has no payment yet records a void marker that refuses a later authorization; a captured payment answers payment-captured (refund it instead).",
		Tags:         tags,
		MaxBodyBytes: maxBodyBytes,
		Errors:       mutating,
	}, sagaStep), h.void)

	huma.Register(api, auth.Protect(huma.Operation{
		OperationID:  opRefund,
		Method:       http.MethodPost,
		Path:         "/payments/{order_id}/refund",
		Summary:      "Refund captured money",
		Description:  "Returns part or all of the captured amount; the payment becomes REFUNDED when all of it is returned.",
		Tags:         tags,
		MaxBodyBytes: maxBodyBytes,
		Errors:       mutating,
	}, sagaStep), h.refund)

	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: opGet,
		Method:      http.MethodGet,
		Path:        "/payments/{order_id}",
		Summary:     "Get an order's payment with its ledger",
		Tags:        tags,
		Errors:      []int{http.StatusNotFound, http.StatusUnprocessableEntity, http.StatusInternalServerError},
	}, reader), h.get)

	huma.Register(api, auth.Protect(huma.Operation{
		OperationID: opList,
		Method:      http.MethodGet,
		Path:        "/payments",
		Summary:     "List payments",
		Description: "Pages through payments ordered by order id, optionally by status, for operators and audits.",
		Tags:        tags,
		Errors:      []int{http.StatusUnprocessableEntity, http.StatusInternalServerError},
	}, reader), h.list)
}

func (h *handlers) authorize(ctx context.Context, in *authorizeInput) (*paymentOutput, error) {
	p, err := h.svc.Authorize(ctx, in.IdempotencyKey, in.Body)
	if err != nil {
		return nil, h.fail(ctx, opAuthorize, err)
	}
	return &paymentOutput{Body: p}, nil
}

func (h *handlers) capture(ctx context.Context, in *orderInput) (*paymentOutput, error) {
	p, err := h.svc.Capture(ctx, in.IdempotencyKey, in.OrderID)
	if err != nil {
		return nil, h.fail(ctx, opCapture, err)
	}
	return &paymentOutput{Body: p}, nil
}

func (h *handlers) void(ctx context.Context, in *orderInput) (*paymentOutput, error) {
	p, err := h.svc.Void(ctx, in.IdempotencyKey, in.OrderID)
	if err != nil {
		return nil, h.fail(ctx, opVoid, err)
	}
	return &paymentOutput{Body: p}, nil
}

func (h *handlers) refund(ctx context.Context, in *refundInput) (*paymentOutput, error) {
	p, err := h.svc.Refund(ctx, in.IdempotencyKey, in.OrderID, in.Body)
	if err != nil {
		return nil, h.fail(ctx, opRefund, err)
	}
	return &paymentOutput{Body: p}, nil
}

func (h *handlers) get(ctx context.Context, in *getInput) (*paymentOutput, error) {
	p, err := h.svc.Get(ctx, in.OrderID)
	if err != nil {
		return nil, h.fail(ctx, opGet, err)
	}
	return &paymentOutput{Body: p}, nil
}

func (h *handlers) list(ctx context.Context, in *listInput) (*listOutput, error) {
	page, err := h.svc.List(ctx, in.Status, in.After, in.Limit)
	if err != nil {
		return nil, h.fail(ctx, opList, err)
	}
	return &listOutput{Body: page}, nil
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
	return svcrun.Spec(apiInfo, NewService(nil, logging.Discard(), nil).Register)
}
