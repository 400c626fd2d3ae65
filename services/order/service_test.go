package order

import (
	"encoding/base64"
	"math"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/services/order/client"
)

func TestCanTransitionMatchesTable(t *testing.T) {
	allowed := map[client.Status][]client.Status{
		client.StatusPending:            {"RESERVED", "CANCELLED", "FAILED", "COMPENSATING"},
		client.StatusReserved:           {"AUTHORIZED", "CANCELLED", "FAILED", "COMPENSATING"},
		client.StatusAuthorized:         {"AWAITING_APPROVAL", "CAPTURED", "CANCELLED", "FAILED", "COMPENSATING"},
		client.StatusAwaitingApproval:   {"CAPTURED", "CANCELLED", "FAILED", "COMPENSATING"},
		client.StatusCaptured:           {"CONFIRMED"},
		client.StatusCompensating:       {"COMPENSATION_FAILED", "CANCELLED", "FAILED"},
		client.StatusCompensationFailed: {"COMPENSATING", "CANCELLED", "FAILED"},
		client.StatusConfirmed:          nil,
		client.StatusCancelled:          nil,
		client.StatusFailed:             nil,
	}
	for _, from := range client.Statuses() {
		for _, to := range client.Statuses() {
			want := slices.Contains(allowed[from], to)
			if got := CanTransition(from, to); got != want {
				t.Errorf("CanTransition(%s, %s) = %v, want %v", from, to, got, want)
			}
		}
		if from.IsTerminal() != (len(allowed[from]) == 0) {
			t.Errorf("IsTerminal(%s) disagrees with the table", from)
		}
	}
	if CanTransition("BOGUS", client.StatusCancelled) || client.Status("BOGUS").Valid() || client.Status("").Valid() {
		t.Error("unknown statuses must not be accepted")
	}
}

func TestPrice(t *testing.T) {
	stored := []client.Line{{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 3}}
	tests := []struct {
		name     string
		priced   []client.PricedLine
		currency string
		total    int64
		code     string
	}{
		{name: "priced", priced: []client.PricedLine{{SKU: "B", Quantity: 3, UnitPrice: 100}, {SKU: "A", Quantity: 2, UnitPrice: 250}}, currency: "EUR", total: 800},
		{name: "free lines", priced: []client.PricedLine{{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 3}}, currency: "EUR", total: 0},
		{name: "no currency", priced: []client.PricedLine{{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 3}}, code: problem.CodeValidation},
		{name: "lower-case currency", priced: []client.PricedLine{{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 3}}, currency: "eur", code: problem.CodeValidation},
		{name: "missing line", priced: []client.PricedLine{{SKU: "A", Quantity: 2}}, currency: "EUR", code: problem.CodeValidation},
		{name: "foreign sku", priced: []client.PricedLine{{SKU: "A", Quantity: 2}, {SKU: "C", Quantity: 3}}, currency: "EUR", code: problem.CodeValidation},
		{name: "duplicate sku", priced: []client.PricedLine{{SKU: "A", Quantity: 2}, {SKU: "A", Quantity: 2}}, currency: "EUR", code: problem.CodeValidation},
		{name: "other quantity", priced: []client.PricedLine{{SKU: "A", Quantity: 2}, {SKU: "B", Quantity: 4}}, currency: "EUR", code: problem.CodeValidation},
		{name: "negative price", priced: []client.PricedLine{{SKU: "A", Quantity: 2, UnitPrice: -1}, {SKU: "B", Quantity: 3}}, currency: "EUR", code: problem.CodeValidation},
		{name: "line overflow", priced: []client.PricedLine{{SKU: "A", Quantity: 2, UnitPrice: math.MaxInt64/2 + 1}, {SKU: "B", Quantity: 3}}, currency: "EUR", code: problem.CodeAmountOverflow},
		{name: "total overflow", priced: []client.PricedLine{{SKU: "A", Quantity: 2, UnitPrice: math.MaxInt64 / 4}, {SKU: "B", Quantity: 3, UnitPrice: math.MaxInt64 / 3}}, currency: "EUR", code: problem.CodeAmountOverflow},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			lines, total, err := price(stored, tc.priced, tc.currency)
			if tc.code != "" {
				p, ok := problemFor(err)
				if !ok || problem.Code(p) != tc.code || p.Status != http.StatusUnprocessableEntity {
					t.Fatalf("price error = %v, want 422 %s", err, tc.code)
				}
				return
			}
			if err != nil {
				t.Fatalf("price: %v", err)
			}
			if total != tc.total {
				t.Errorf("total = %d, want %d", total, tc.total)
			}
			for _, p := range tc.priced {
				if got := lines[p.SKU].LineTotal; got != p.Quantity*p.UnitPrice {
					t.Errorf("line %s total = %d, want %d", p.SKU, got, p.Quantity*p.UnitPrice)
				}
			}
		})
	}
}

func TestValidateNewLines(t *testing.T) {
	tests := []struct {
		name  string
		lines []client.NewLine
		ok    bool
	}{
		{name: "ok", lines: []client.NewLine{{SKU: "A", Quantity: 1}, {SKU: "B", Quantity: 5}}, ok: true},
		{name: "empty", lines: nil},
		{name: "duplicate sku", lines: []client.NewLine{{SKU: "A", Quantity: 1}, {SKU: "A", Quantity: 2}}},
		{name: "zero quantity", lines: []client.NewLine{{SKU: "A", Quantity: 0}}},
		{name: "negative quantity", lines: []client.NewLine{{SKU: "A", Quantity: -3}}},
		{name: "blank sku", lines: []client.NewLine{{SKU: "", Quantity: 1}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := validateNewLines(tc.lines)
			if (err == nil) != tc.ok {
				t.Fatalf("validateNewLines = %v, want ok=%v", err, tc.ok)
			}
			if p, ok := problemFor(err); err != nil && (!ok || p.Status != http.StatusUnprocessableEntity) {
				t.Fatalf("refusal must map to a 422 problem, got %v", err)
			}
		})
	}
}

func TestCursorRoundTrip(t *testing.T) {
	c := cursor{CreatedAt: time.Date(2026, 3, 1, 12, 30, 0, 123456000, time.UTC), ID: "order-42"}
	got, err := decodeCursor(c.encode())
	if err != nil {
		t.Fatalf("decode: %v", err)
	}
	if !got.CreatedAt.Equal(c.CreatedAt) || got.ID != c.ID {
		t.Fatalf("round trip = %+v, want %+v", got, c)
	}
	for _, bad := range []string{
		"%%%",
		base64.RawURLEncoding.EncodeToString([]byte("not json")),
		base64.RawURLEncoding.EncodeToString([]byte(`{"t":"2026-01-01T00:00:00Z"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"id":"x"}`)),
		base64.RawURLEncoding.EncodeToString([]byte(`{"t":"yesterday","id":"x"}`)),
	} {
		_, err := decodeCursor(bad)
		if p, ok := problemFor(err); !ok || p.Status != http.StatusBadRequest {
			t.Errorf("decodeCursor(%q) = %v, want a 400 problem", bad, err)
		}
	}
}
