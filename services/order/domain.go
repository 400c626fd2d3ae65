// Package order is the order service: it records orders, moves them through the saga's
// statuses under a fixed transition table, and keeps an audit trail of every move.
package order

import (
	"fmt"
	"math"
	"net/http"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/services/order/client"
)

// ReasonReceived is the history reason of an order's creation.
const ReasonReceived = "order received"

// Transitions returns the statuses an order in status from may move to; terminal
// statuses have none.
func Transitions(from string) []string {
	switch from {
	case client.StatusPending:
		return []string{client.StatusReserved, client.StatusCancelled, client.StatusFailed, client.StatusCompensating}
	case client.StatusReserved:
		return []string{client.StatusAuthorized, client.StatusCancelled, client.StatusFailed, client.StatusCompensating}
	case client.StatusAuthorized:
		return []string{client.StatusAwaitingApproval, client.StatusCaptured, client.StatusCancelled, client.StatusFailed, client.StatusCompensating}
	case client.StatusAwaitingApproval:
		return []string{client.StatusCaptured, client.StatusCancelled, client.StatusFailed, client.StatusCompensating}
	case client.StatusCaptured:
		return []string{client.StatusConfirmed}
	case client.StatusCompensating:
		return []string{client.StatusCompensationFailed, client.StatusCancelled, client.StatusFailed}
	case client.StatusCompensationFailed:
		return []string{client.StatusCompensating, client.StatusCancelled, client.StatusFailed}
	}
	return nil
}

// IsStatus reports whether s is a known order status.
func IsStatus(s string) bool {
	for _, known := range client.Statuses() {
		if s == known {
			return true
		}
	}
	return false
}

// CanTransition reports whether an order in status from may move to status to. A move to
// the same status is not a transition (callers treat it as a no-op).
func CanTransition(from, to string) bool {
	for _, next := range Transitions(from) {
		if next == to {
			return true
		}
	}
	return false
}

// errInvalidTransition refuses a move the transition table does not allow.
func errInvalidTransition(from, to string) error {
	return problem.New(http.StatusConflict, problem.CodeInvalidTransition,
		fmt.Sprintf("an order cannot move from %s to %s", from, to),
		&huma.ErrorDetail{Location: "body.status", Message: "not allowed from " + from, Value: to})
}

func errNotFound(orderID string) error {
	return problem.New(http.StatusNotFound, problem.CodeNotFound, fmt.Sprintf("order %q does not exist", orderID))
}

func errValidation(detail, location string, value any) error {
	return problem.New(http.StatusUnprocessableEntity, problem.CodeValidation, detail,
		&huma.ErrorDetail{Location: location, Message: detail, Value: value})
}

func errOverflow(location string, value any) error {
	return problem.New(http.StatusUnprocessableEntity, problem.CodeAmountOverflow,
		"the amount does not fit in 64-bit minor units",
		&huma.ErrorDetail{Location: location, Message: "amount overflows", Value: value})
}

// validateNewLines checks lines of a new order: at least one, each SKU once, positive quantities.
func validateNewLines(lines []client.NewLine) error {
	if len(lines) == 0 {
		return errValidation("an order needs at least one line", "body.lines", nil)
	}
	seen := make(map[string]bool, len(lines))
	for i, l := range lines {
		loc := fmt.Sprintf("body.lines[%d]", i)
		if l.SKU == "" {
			return errValidation("sku is required", loc+".sku", l.SKU)
		}
		if l.Quantity <= 0 {
			return errValidation("quantity must be positive", loc+".quantity", l.Quantity)
		}
		if seen[l.SKU] {
			return errValidation("each sku may appear only once", loc+".sku", l.SKU)
		}
		seen[l.SKU] = true
	}
	return nil
}

// isCurrency reports whether c looks like an ISO 4217 code (three capital letters).
func isCurrency(c string) bool {
	if len(c) != 3 {
		return false
	}
	for i := 0; i < len(c); i++ {
		if c[i] < 'A' || c[i] > 'Z' {
			return false
		}
	}
	return true
}

// price checks priced lines against the order's lines (same SKUs, same quantities, each
// once) and returns them keyed by SKU with their totals, plus the order total.
func price(stored []client.Line, priced []client.PricedLine, currency string) (map[string]client.Line, int64, error) {
	if !isCurrency(currency) {
		return nil, 0, errValidation("pricing needs an ISO 4217 currency", "body.currency", currency)
	}
	if len(priced) != len(stored) {
		return nil, 0, errValidation(fmt.Sprintf("pricing must cover exactly the order's %d lines", len(stored)), "body.lines", len(priced))
	}
	want := make(map[string]int64, len(stored))
	for _, l := range stored {
		want[l.SKU] = l.Quantity
	}
	out := make(map[string]client.Line, len(priced))
	var total int64
	for i, p := range priced {
		loc := fmt.Sprintf("body.lines[%d]", i)
		qty, ok := want[p.SKU]
		if !ok {
			return nil, 0, errValidation("sku is not part of this order", loc+".sku", p.SKU)
		}
		if _, dup := out[p.SKU]; dup {
			return nil, 0, errValidation("each sku may appear only once", loc+".sku", p.SKU)
		}
		if p.Quantity != qty {
			return nil, 0, errValidation(fmt.Sprintf("quantity must equal the ordered %d", qty), loc+".quantity", p.Quantity)
		}
		if p.UnitPrice < 0 {
			return nil, 0, errValidation("unit_price must not be negative", loc+".unit_price", p.UnitPrice)
		}
		lineTotal, ok := mulAmount(p.Quantity, p.UnitPrice)
		if !ok {
			return nil, 0, errOverflow(loc+".unit_price", p.UnitPrice)
		}
		if total, ok = addAmount(total, lineTotal); !ok {
			return nil, 0, errOverflow("body.lines", lineTotal)
		}
		out[p.SKU] = client.Line{SKU: p.SKU, Name: p.Name, Quantity: p.Quantity, UnitPrice: p.UnitPrice, LineTotal: lineTotal}
	}
	return out, total, nil
}

// mulAmount multiplies two non-negative amounts, reporting false on overflow.
func mulAmount(a, b int64) (int64, bool) {
	if a < 0 || b < 0 {
		return 0, false
	}
	if a != 0 && b > math.MaxInt64/a {
		return 0, false
	}
	return a * b, true
}

// addAmount adds two non-negative amounts, reporting false on overflow.
func addAmount(a, b int64) (int64, bool) {
	if a < 0 || b < 0 || a > math.MaxInt64-b {
		return 0, false
	}
	return a + b, true
}
