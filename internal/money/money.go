// Package money is the one definition of how sagaflow handles money: amounts are int64
// counts of a currency's minor units (cents), never floats, and currencies are ISO 4217
// alphabetic codes. Sums and products are checked, so an order too large to charge is
// refused instead of wrapping around to a small or negative total.
//
// Amounts stay plain int64 and currencies plain strings on the wire and in the databases;
// this package is what every component calls to check and combine them.
package money

import "math"

// Error is a refusal of this package. It is a string type so the refusals below are
// constants that callers match with errors.Is.
type Error string

func (e Error) Error() string { return string(e) }

// Refusals.
const (
	// ErrOverflow: the result does not fit in int64 minor units.
	ErrOverflow Error = "the amount does not fit in 64-bit minor units"
	// ErrNegative: an operand is below zero; prices, quantities and totals never are.
	ErrNegative Error = "amounts and quantities must not be negative"
)

// CurrencyPattern is IsCurrency's rule as a regular expression, for the `pattern` tags of
// request schemas and the databases' CHECK constraints, which cannot call Go (a test keeps
// the tags equal to it).
const CurrencyPattern = `^[A-Z]{3}$`

// IsCurrency reports whether code has the form of an ISO 4217 alphabetic code: three
// capital ASCII letters. Only the form is checked; which currencies are sold is the
// catalog's business.
func IsCurrency(code string) bool {
	if len(code) != 3 {
		return false
	}
	for i := range len(code) {
		if code[i] < 'A' || code[i] > 'Z' {
			return false
		}
	}
	return true
}

// Mul returns quantity × unitPrice: the total of an order line, in minor units.
func Mul(quantity, unitPrice int64) (int64, error) {
	if quantity < 0 || unitPrice < 0 {
		return 0, ErrNegative
	}
	if quantity != 0 && unitPrice > math.MaxInt64/quantity {
		return 0, ErrOverflow
	}
	return quantity * unitPrice, nil
}

// Add returns a + b, both amounts in minor units of the same currency.
func Add(a, b int64) (int64, error) {
	if a < 0 || b < 0 {
		return 0, ErrNegative
	}
	if a > math.MaxInt64-b {
		return 0, ErrOverflow
	}
	return a + b, nil
}
