package inventory

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/internal/problem"
)

// Domain refusals. They are final answers: the same request cannot succeed later
// (except after a restock for out-of-stock, which needs a new idempotency key).
var (
	errProductNotFound     = errors.New("product not found")
	errReservationNotFound = errors.New("reservation not found")
	errReleased            = errors.New("reservation already released")
	errCommitted           = errors.New("reservation already committed")
	errLinesDiffer         = errors.New("order already has a reservation with different lines")
	errAmountOverflow      = errors.New("order amount overflows")
	errStockOverflow       = errors.New("stock level would overflow")
)

// lineRef points at one line of a reserve request.
type lineRef struct {
	Index int // position in the request's lines, first occurrence for merged SKUs
	SKU   string
}

// unknownSKUError lists every requested SKU the catalog does not have.
type unknownSKUError struct{ Lines []lineRef }

func (e *unknownSKUError) Error() string {
	skus := make([]string, len(e.Lines))
	for i, l := range e.Lines {
		skus[i] = l.SKU
	}
	return "unknown SKUs: " + strings.Join(skus, ", ")
}

// shortage is one line that cannot be covered by available stock.
type shortage struct {
	lineRef
	Requested int64
	Available int64
}

// outOfStockError lists every line that is short.
type outOfStockError struct{ Short []shortage }

func (e *outOfStockError) Error() string {
	parts := make([]string, len(e.Short))
	for i, s := range e.Short {
		parts[i] = fmt.Sprintf("%s (requested %d, available %d)", s.SKU, s.Requested, s.Available)
	}
	return "out of stock: " + strings.Join(parts, ", ")
}

// mixedCurrencyError is a reservation whose products are priced in more than one currency.
type mixedCurrencyError struct {
	Lines      []lineRef
	Currencies []string
}

func (e *mixedCurrencyError) Error() string {
	return "products are priced in different currencies: " + strings.Join(e.Currencies, ", ")
}

// validationError is a request value the handler's schema could not refuse on its own.
type validationError struct {
	Location string
	Message  string
	Value    any
}

func (e *validationError) Error() string { return e.Location + ": " + e.Message }

// problemFor is the one mapping of the service's errors to the problems clients see: a
// domain refusal becomes its problem, and a 4xx problem (a replayed refusal, a reused
// idempotency key) stays as it is. ok is false for anything else, which must stay internal.
func problemFor(err error) (p *huma.ErrorModel, ok bool) {
	var unknown *unknownSKUError
	var short *outOfStockError
	var mixed *mixedCurrencyError
	var invalid *validationError
	switch {
	case err == nil:
		return nil, false
	case errors.Is(err, errProductNotFound):
		return problem.New(http.StatusNotFound, problem.CodeNotFound, "no product with this SKU"), true
	case errors.Is(err, errReservationNotFound):
		return problem.New(http.StatusNotFound, problem.CodeNotFound, "no reservation for this order"), true
	case errors.Is(err, errReleased):
		return problem.New(http.StatusConflict, problem.CodeAlreadyReleased,
			"the reservation of this order was released; its stock cannot be reserved or committed again"), true
	case errors.Is(err, errCommitted):
		return problem.New(http.StatusConflict, problem.CodeAlreadyCommitted,
			"the reservation of this order was committed; its stock is sold and cannot be released"), true
	case errors.Is(err, errLinesDiffer):
		return problem.New(http.StatusConflict, problem.CodeConflict,
			"this order already has a reservation with different lines"), true
	case errors.Is(err, errAmountOverflow):
		return problem.New(http.StatusUnprocessableEntity, problem.CodeAmountOverflow,
			"the order's amount does not fit in 64-bit minor units"), true
	case errors.Is(err, errStockOverflow):
		return problem.New(http.StatusUnprocessableEntity, problem.CodeValidation,
			"the stock level would overflow", &huma.ErrorDetail{Location: "body.quantity", Message: "too large for the current stock level"}), true
	case errors.As(err, &unknown):
		details := make([]*huma.ErrorDetail, len(unknown.Lines))
		for i, l := range unknown.Lines {
			details[i] = &huma.ErrorDetail{Message: "unknown SKU", Location: lineLocation(l.Index), Value: l.SKU}
		}
		return problem.New(http.StatusUnprocessableEntity, problem.CodeUnknownSKU, unknown.Error(), details...), true
	case errors.As(err, &short):
		details := make([]*huma.ErrorDetail, len(short.Short))
		for i, s := range short.Short {
			details[i] = &huma.ErrorDetail{
				Message:  fmt.Sprintf("requested %d, available %d", s.Requested, s.Available),
				Location: lineLocation(s.Index),
				Value:    s.SKU,
			}
		}
		return problem.New(http.StatusUnprocessableEntity, problem.CodeOutOfStock, short.Error(), details...), true
	case errors.As(err, &mixed):
		details := make([]*huma.ErrorDetail, len(mixed.Lines))
		for i, l := range mixed.Lines {
			details[i] = &huma.ErrorDetail{Message: "priced in another currency than the first line", Location: lineLocation(l.Index), Value: l.SKU}
		}
		return problem.New(http.StatusUnprocessableEntity, problem.CodeMixedCurrency, mixed.Error(), details...), true
	case errors.As(err, &invalid):
		return problem.New(http.StatusUnprocessableEntity, problem.CodeValidation, invalid.Error(),
			&huma.ErrorDetail{Location: invalid.Location, Message: invalid.Message, Value: invalid.Value}), true
	}
	if p, isProblem := problem.As(err); isProblem && problem.IsClientError(err) {
		return p, true
	}
	return nil, false
}

func lineLocation(i int) string { return fmt.Sprintf("body.lines[%d].sku", i) }
