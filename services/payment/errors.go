package payment

import (
	"errors"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/internal/problem"
)

// Domain refusals. They are final answers: the same request cannot succeed later.
var (
	errNotFound       = errors.New("payment not found")
	errVoided         = errors.New("payment voided")
	errCaptured       = errors.New("payment captured")
	errAmountMismatch = errors.New("payment exists with another amount or currency")
	errNotCaptured    = errors.New("payment not captured")
	errRefundExceeds  = errors.New("refund exceeds the refundable amount")
)

// validationError is a request value the handler's schema could not refuse on its own.
type validationError struct {
	Location string
	Message  string
	Value    any
}

func (e *validationError) Error() string { return e.Location + ": " + e.Message }

// problemFor is the one mapping of the service's errors to the problems clients see: a
// domain refusal or a processor refusal (processor.go) becomes its problem, and a 4xx
// problem (a replayed refusal, a reused idempotency key) stays as it is. ok is false for
// anything else, which must stay internal.
func problemFor(err error) (p *huma.ErrorModel, ok bool) {
	var invalid *validationError
	switch {
	case err == nil:
		return nil, false
	case errors.As(err, &invalid):
		return problem.New(http.StatusUnprocessableEntity, problem.CodeValidation, "validation failed",
			&huma.ErrorDetail{Location: invalid.Location, Message: invalid.Message, Value: invalid.Value}), true
	case errors.Is(err, ErrCardDeclined):
		return problem.New(http.StatusPaymentRequired, problem.CodeCardDeclined, "the card was declined"), true
	case errors.Is(err, ErrInsufficientFunds):
		return problem.New(http.StatusPaymentRequired, problem.CodeInsufficientFunds, "the card has insufficient funds"), true
	case errors.Is(err, ErrUnknownToken):
		return problem.New(http.StatusUnprocessableEntity, problem.CodeValidation, "unknown test token",
			&huma.ErrorDetail{Location: "body.payment_token", Message: "unknown test token; use tok_visa, tok_mastercard, tok_chargeDeclined or tok_insufficientFunds"}), true
	case errors.Is(err, errNotFound):
		return problem.New(http.StatusNotFound, problem.CodeNotFound, "no payment exists for this order"), true
	case errors.Is(err, errVoided):
		return problem.New(http.StatusConflict, problem.CodePaymentVoided, "the payment of this order was voided"), true
	case errors.Is(err, errCaptured):
		return problem.New(http.StatusConflict, problem.CodePaymentCaptured, "the payment is captured and cannot be voided; refund it instead"), true
	case errors.Is(err, errAmountMismatch):
		return problem.New(http.StatusConflict, problem.CodeConflict, "the order already has a payment with another amount or currency"), true
	case errors.Is(err, errNotCaptured):
		return problem.New(http.StatusConflict, problem.CodeInvalidTransition, "the payment is not captured; void it instead"), true
	case errors.Is(err, errRefundExceeds):
		return problem.New(http.StatusUnprocessableEntity, problem.CodeValidation, "the refund exceeds the captured amount not yet refunded",
			&huma.ErrorDetail{Location: "body.amount", Message: "exceeds the refundable amount"}), true
	}
	if p, isProblem := problem.As(err); isProblem && problem.IsClientError(err) {
		return p, true
	}
	return nil, false
}
