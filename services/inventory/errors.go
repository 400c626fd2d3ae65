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
	ErrProductNotFound     = errors.New("product not found")
	ErrReservationNotFound = errors.New("reservation not found")
	ErrReleased            = errors.New("reservation already released")
	ErrCommitted           = errors.New("reservation already committed")
	ErrLinesDiffer         = errors.New("order already has a reservation with different lines")
	ErrAmountOverflow      = errors.New("order amount overflows")
	ErrStockOverflow       = errors.New("stock level would overflow")
)

// LineRef points at one line of a reserve request.
type LineRef struct {
	Index int // position in the request's lines, first occurrence for merged SKUs
	SKU   string
}

// UnknownSKUError lists every requested SKU the catalog does not have.
type UnknownSKUError struct{ Lines []LineRef }

func (e *UnknownSKUError) Error() string {
	skus := make([]string, len(e.Lines))
	for i, l := range e.Lines {
		skus[i] = l.SKU
	}
	return "unknown SKUs: " + strings.Join(skus, ", ")
}

// Shortage is one line that cannot be covered by available stock.
type Shortage struct {
	LineRef
	Requested int64
	Available int64
}

// OutOfStockError lists every line that is short.
type OutOfStockError struct{ Short []Shortage }

func (e *OutOfStockError) Error() string {
	parts := make([]string, len(e.Short))
	for i, s := range e.Short {
		parts[i] = fmt.Sprintf("%s (requested %d, available %d)", s.SKU, s.Requested, s.Available)
	}
	return "out of stock: " + strings.Join(parts, ", ")
}

// MixedCurrencyError is a reservation whose products are priced in more than one currency.
type MixedCurrencyError struct {
	Lines      []LineRef
	Currencies []string
}

func (e *MixedCurrencyError) Error() string {
	return "products are priced in different currencies: " + strings.Join(e.Currencies, ", ")
}

// ValidationError is a request the handler's schema could not refuse on its own.
type ValidationError struct {
	Location string
	Message  string
	Value    any
}

func (e *ValidationError) Error() string { return e.Location + ": " + e.Message }

// asProblem maps a domain error to the problem clients see. It is the only place that
// knows this mapping; ok is false for unexpected errors, which must stay internal.
func asProblem(err error) (*huma.ErrorModel, bool) {
	if err == nil {
		return nil, false
	}
	if p, ok := problem.As(err); ok {
		return p, true
	}
	var unknown *UnknownSKUError
	var short *OutOfStockError
	var mixed *MixedCurrencyError
	var invalid *ValidationError
	switch {
	case errors.Is(err, ErrProductNotFound):
		return problem.New(http.StatusNotFound, problem.CodeNotFound, "no product with this SKU"), true
	case errors.Is(err, ErrReservationNotFound):
		return problem.New(http.StatusNotFound, problem.CodeNotFound, "no reservation for this order"), true
	case errors.Is(err, ErrReleased):
		return problem.New(http.StatusConflict, problem.CodeAlreadyReleased,
			"the reservation of this order was released; its stock cannot be reserved or committed again"), true
	case errors.Is(err, ErrCommitted):
		return problem.New(http.StatusConflict, problem.CodeAlreadyCommitted,
			"the reservation of this order was committed; its stock is sold and cannot be released"), true
	case errors.Is(err, ErrLinesDiffer):
		return problem.New(http.StatusConflict, problem.CodeConflict,
			"this order already has a reservation with different lines"), true
	case errors.Is(err, ErrAmountOverflow):
		return problem.New(http.StatusUnprocessableEntity, problem.CodeAmountOverflow,
			"the order's amount does not fit in 64-bit minor units"), true
	case errors.Is(err, ErrStockOverflow):
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
	return nil, false
}

// refusal turns a domain error into its problem inside an idempotent step, so the
// refusal is recorded with the key; unexpected errors pass through unchanged.
func refusal(err error) error {
	if p, ok := asProblem(err); ok {
		return p
	}
	return err
}

func lineLocation(i int) string { return fmt.Sprintf("body.lines[%d].sku", i) }
