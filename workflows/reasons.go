package workflows

import (
	"errors"
	"strings"

	"go.temporal.io/sdk/temporal"

	"github.com/sagaflow/sagaflow/activities"
	"github.com/sagaflow/sagaflow/internal/money"
	"github.com/sagaflow/sagaflow/internal/problem"
)

// priceLines turns the reserved lines into priced lines and the order total. A reason is
// returned when the lines cannot make one total: more than one currency, or a total that
// does not fit in int64 minor units.
func priceLines(reserved []activities.ReservedLine) (lines []PricedLine, total int64, currency, reason string) {
	if len(reserved) == 0 {
		return nil, 0, "", "the reservation holds no lines"
	}
	currency = reserved[0].Currency
	for _, l := range reserved {
		if l.Currency != currency {
			return nil, 0, "", "lines are priced in more than one currency: " + currency + ", " + l.Currency
		}
		lineTotal, err := money.Mul(l.Quantity, l.UnitPrice)
		switch {
		case l.Quantity == 0 || errors.Is(err, money.ErrNegative): // a reserved line is at least one unit
			return nil, 0, "", "invalid price or quantity for " + l.SKU
		case err != nil:
			return nil, 0, "", "order total overflows (line " + l.SKU + ")"
		}
		if total, err = money.Add(total, lineTotal); err != nil {
			return nil, 0, "", "order total overflows"
		}
		lines = append(lines, PricedLine{SKU: l.SKU, Name: l.Name, Quantity: l.Quantity, UnitPrice: l.UnitPrice, LineTotal: lineTotal})
	}
	if !money.IsCurrency(currency) {
		return nil, 0, "", "the lines carry no valid currency"
	}
	return lines, total, currency, ""
}

// businessReason is the human reason a step's final failure gives the order.
func businessReason(step string, err error) string {
	appErr, f := failureOf(err)
	if appErr == nil {
		return step + " failed: " + err.Error()
	}
	switch appErr.Type() {
	case problem.CodeUnknownSKU:
		return withSubjects("unknown SKU", f.Subjects)
	case problem.CodeOutOfStock:
		return withSubjects("out of stock", f.Subjects)
	case problem.CodeCardDeclined:
		return "card declined"
	case problem.CodeInsufficientFunds:
		return "insufficient funds"
	}
	return step + " failed: " + appErr.Message()
}

func withSubjects(what string, subjects []string) string {
	if len(subjects) == 0 {
		return what
	}
	return what + ": " + strings.Join(subjects, ", ")
}

// decisionReason renders "rejected by alice: too large" from a decision.
func decisionReason(verb string, d *Decision) string {
	out := verb
	if d == nil {
		return out
	}
	if d.By != "" {
		out += " by " + d.By
	}
	if d.Reason != "" {
		out += ": " + d.Reason
	}
	return out
}

// errorText is the short error a step reports: the problem code and message instead of
// the activity error's full chain.
func errorText(err error) string {
	if err == nil {
		return ""
	}
	if appErr, _ := failureOf(err); appErr != nil {
		return appErr.Type() + ": " + appErr.Message()
	}
	var timeoutErr *temporal.TimeoutError
	if errors.As(err, &timeoutErr) {
		return "timeout: " + timeoutErr.TimeoutType().String()
	}
	if temporal.IsCanceledError(err) {
		return "cancelled"
	}
	return err.Error()
}

// attemptsOf returns the attempt that produced a failure, when the activity reported it.
func attemptsOf(err error) int32 {
	_, f := failureOf(err)
	return f.Attempt
}

func failureOf(err error) (*temporal.ApplicationError, activities.Failure) {
	var f activities.Failure
	var appErr *temporal.ApplicationError
	if !errors.As(err, &appErr) {
		return nil, f
	}
	if appErr.HasDetails() {
		_ = appErr.Details(&f)
	}
	return appErr, f
}
