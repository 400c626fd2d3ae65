package order

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/services/order/client"
)

// Domain refusals. They are final answers: the same request cannot succeed later.

// notFoundError names an order that does not exist.
type notFoundError struct{ OrderID string }

func (e *notFoundError) Error() string { return fmt.Sprintf("order %q does not exist", e.OrderID) }

// conflictError is a create for an order id already taken by other content.
type conflictError struct{ OrderID string }

func (e *conflictError) Error() string {
	return fmt.Sprintf("order %q already exists with different content", e.OrderID)
}

// transitionError is a move the transition table does not allow.
type transitionError struct{ From, To client.Status }

func (e *transitionError) Error() string {
	return fmt.Sprintf("an order cannot move from %s to %s", e.From, e.To)
}

// validationError is a request value the handler's schema could not refuse on its own.
type validationError struct {
	Location string
	Message  string
	Value    any
}

func (e *validationError) Error() string { return e.Location + ": " + e.Message }

// overflowError is an amount that does not fit in 64-bit minor units.
type overflowError struct {
	Location string
	Value    any
}

func (e *overflowError) Error() string { return e.Location + ": amount overflows" }

// cursorError is a list cursor this service did not issue.
type cursorError struct{ Value string }

func (e *cursorError) Error() string { return "malformed cursor" }

// problemFor is the one mapping of the service's errors to the problems clients see: a
// domain refusal becomes its problem, and a 4xx problem (a replayed refusal, a reused
// idempotency key) stays as it is. ok is false for anything else, which must stay internal.
func problemFor(err error) (p *huma.ErrorModel, ok bool) {
	var notFound *notFoundError
	var conflict *conflictError
	var transition *transitionError
	var invalid *validationError
	var overflow *overflowError
	var badCursor *cursorError
	switch {
	case err == nil:
		return nil, false
	case errors.As(err, &notFound):
		return problem.New(http.StatusNotFound, problem.CodeNotFound, notFound.Error()), true
	case errors.As(err, &conflict):
		return problem.New(http.StatusConflict, problem.CodeConflict, conflict.Error()), true
	case errors.As(err, &transition):
		return problem.New(http.StatusConflict, problem.CodeInvalidTransition, transition.Error(),
			&huma.ErrorDetail{Location: "body.status", Message: "not allowed from " + string(transition.From), Value: transition.To}), true
	case errors.As(err, &invalid):
		return problem.New(http.StatusUnprocessableEntity, problem.CodeValidation, invalid.Message,
			&huma.ErrorDetail{Location: invalid.Location, Message: invalid.Message, Value: invalid.Value}), true
	case errors.As(err, &overflow):
		return problem.New(http.StatusUnprocessableEntity, problem.CodeAmountOverflow,
			"the amount does not fit in 64-bit minor units",
			&huma.ErrorDetail{Location: overflow.Location, Message: "amount overflows", Value: overflow.Value}), true
	case errors.As(err, &badCursor):
		return problem.New(http.StatusBadRequest, problem.CodeValidation, "the cursor is not one this service issued",
			&huma.ErrorDetail{Location: "query.cursor", Message: "malformed cursor", Value: badCursor.Value}), true
	}
	if p, isProblem := problem.As(err); isProblem && problem.IsClientError(err) {
		return p, true
	}
	return nil, false
}
