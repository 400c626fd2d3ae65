package workflows

import (
	"math"
	"testing"

	"github.com/sagaflow/sagaflow/activities"
)

// TestPriceLines pins the totals and the failure reasons the saga records on the order
// (they are in recorded histories and in what clients read).
func TestPriceLines(t *testing.T) {
	line := func(sku string, qty, unit int64, currency string) activities.ReservedLine {
		return activities.ReservedLine{SKU: sku, Name: "Product " + sku, Quantity: qty, UnitPrice: unit, Currency: currency}
	}
	tests := []struct {
		name     string
		reserved []activities.ReservedLine
		total    int64
		currency string
		reason   string
	}{
		{name: "priced", reserved: []activities.ReservedLine{line("A", 2, 1000, "USD"), line("B", 1, 500, "USD")}, total: 2500, currency: "USD"},
		{name: "free", reserved: []activities.ReservedLine{line("A", 3, 0, "EUR")}, total: 0, currency: "EUR"},
		{name: "largest total", reserved: []activities.ReservedLine{line("A", 1, math.MaxInt64-1, "USD"), line("B", 1, 1, "USD")},
			total: math.MaxInt64, currency: "USD"},
		{name: "no lines", reason: "the reservation holds no lines"},
		{name: "two currencies", reserved: []activities.ReservedLine{line("A", 1, 1, "USD"), line("B", 1, 1, "EUR")},
			reason: "lines are priced in more than one currency: USD, EUR"},
		{name: "zero quantity", reserved: []activities.ReservedLine{line("A", 0, 1, "USD")}, reason: "invalid price or quantity for A"},
		{name: "negative quantity", reserved: []activities.ReservedLine{line("A", -1, 1, "USD")}, reason: "invalid price or quantity for A"},
		{name: "negative price", reserved: []activities.ReservedLine{line("A", 1, 1, "USD"), line("B", 1, -5, "USD")},
			reason: "invalid price or quantity for B"},
		{name: "line overflows", reserved: []activities.ReservedLine{line("A", 2, math.MaxInt64/2+1, "USD")},
			reason: "order total overflows (line A)"},
		{name: "total overflows", reserved: []activities.ReservedLine{line("A", 1, math.MaxInt64, "USD"), line("B", 1, 1, "USD")},
			reason: "order total overflows"},
		{name: "no currency", reserved: []activities.ReservedLine{line("A", 1, 1, "")}, reason: "the lines carry no valid currency"},
		{name: "lower-case currency", reserved: []activities.ReservedLine{line("A", 1, 1, "usd")}, reason: "the lines carry no valid currency"},
		// The currency is checked last: an overflow is reported first.
		{name: "overflow before currency", reserved: []activities.ReservedLine{line("A", 2, math.MaxInt64, "us")},
			reason: "order total overflows (line A)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lines, total, currency, reason := priceLines(tc.reserved)
			if reason != tc.reason {
				t.Fatalf("reason %q, want %q", reason, tc.reason)
			}
			if reason != "" {
				if lines != nil || total != 0 || currency != "" {
					t.Fatalf("a refusal returned pricing: %v %d %q", lines, total, currency)
				}
				return
			}
			if total != tc.total || currency != tc.currency || len(lines) != len(tc.reserved) {
				t.Fatalf("total %d %s over %d lines, want %d %s over %d", total, currency, len(lines), tc.total, tc.currency, len(tc.reserved))
			}
			for i, l := range lines {
				r := tc.reserved[i]
				if l.SKU != r.SKU || l.Name != r.Name || l.Quantity != r.Quantity || l.UnitPrice != r.UnitPrice || l.LineTotal != r.Quantity*r.UnitPrice {
					t.Errorf("line %d = %+v from %+v", i, l, r)
				}
			}
		})
	}
}
