package inventory_test

import (
	"net/http"
	"reflect"
	"testing"

	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	"github.com/sagaflow/sagaflow/services/inventory/client"
)

func TestReserve(t *testing.T) {
	type levels struct{ onHand, reserved int64 }
	cases := []struct {
		name       string
		lines      []client.ReserveLine
		wantLines  []client.ReservedLine
		wantStatus int
		wantCode   string
		wantFields []svcclient.FieldError
		wantStock  map[string]levels
	}{
		{
			name:  "every line reserved and priced from the catalog",
			lines: []client.ReserveLine{line("A-1", 2), line("B-2", 1)},
			wantLines: []client.ReservedLine{
				{SKU: "A-1", Name: "Product A-1", Quantity: 2, UnitPrice: 1000, Currency: "USD"},
				{SKU: "B-2", Name: "Product B-2", Quantity: 1, UnitPrice: 250, Currency: "USD"},
			},
			wantStock: map[string]levels{"A-1": {5, 2}, "B-2": {2, 1}},
		},
		{
			name:  "repeated SKUs are merged",
			lines: []client.ReserveLine{line("B-2", 1), line("A-1", 1), line("B-2", 1), line("A-1", 3)},
			wantLines: []client.ReservedLine{
				{SKU: "B-2", Name: "Product B-2", Quantity: 2, UnitPrice: 250, Currency: "USD"},
				{SKU: "A-1", Name: "Product A-1", Quantity: 4, UnitPrice: 1000, Currency: "USD"},
			},
			wantStock: map[string]levels{"A-1": {5, 4}, "B-2": {2, 2}},
		},
		{
			name:  "whole stock of a SKU",
			lines: []client.ReserveLine{line("A-1", 5)},
			wantLines: []client.ReservedLine{
				{SKU: "A-1", Name: "Product A-1", Quantity: 5, UnitPrice: 1000, Currency: "USD"},
			},
			wantStock: map[string]levels{"A-1": {5, 5}, "B-2": {2, 0}},
		},
		{
			name:       "unknown SKUs are each named and nothing is reserved",
			lines:      []client.ReserveLine{line("A-1", 1), line("NOPE-1", 1), line("B-2", 1), line("NOPE-2", 2)},
			wantStatus: http.StatusUnprocessableEntity,
			wantCode:   problem.CodeUnknownSKU,
			wantFields: []svcclient.FieldError{
				{Message: "unknown SKU", Location: "body.lines[1].sku", Value: "NOPE-1"},
				{Message: "unknown SKU", Location: "body.lines[3].sku", Value: "NOPE-2"},
			},
			wantStock: map[string]levels{"A-1": {5, 0}, "B-2": {2, 0}},
		},
		{
			name:       "every short SKU is named",
			lines:      []client.ReserveLine{line("A-1", 6), line("B-2", 3)},
			wantStatus: http.StatusUnprocessableEntity,
			wantCode:   problem.CodeOutOfStock,
			wantFields: []svcclient.FieldError{
				{Message: "requested 6, available 5", Location: "body.lines[0].sku", Value: "A-1"},
				{Message: "requested 3, available 2", Location: "body.lines[1].sku", Value: "B-2"},
			},
			wantStock: map[string]levels{"A-1": {5, 0}, "B-2": {2, 0}},
		},
		{
			name:       "one short line reserves nothing at all",
			lines:      []client.ReserveLine{line("A-1", 1), line("B-2", 3)},
			wantStatus: http.StatusUnprocessableEntity,
			wantCode:   problem.CodeOutOfStock,
			wantFields: []svcclient.FieldError{
				{Message: "requested 3, available 2", Location: "body.lines[1].sku", Value: "B-2"},
			},
			wantStock: map[string]levels{"A-1": {5, 0}, "B-2": {2, 0}},
		},
		{
			name:       "merged quantities are checked against stock",
			lines:      []client.ReserveLine{line("B-2", 2), line("B-2", 1)},
			wantStatus: http.StatusUnprocessableEntity,
			wantCode:   problem.CodeOutOfStock,
			wantFields: []svcclient.FieldError{
				{Message: "requested 3, available 2", Location: "body.lines[0].sku", Value: "B-2"},
			},
			wantStock: map[string]levels{"B-2": {2, 0}},
		},
		{
			name:       "unknown SKUs win over short stock",
			lines:      []client.ReserveLine{line("A-1", 100), line("NOPE-1", 1)},
			wantStatus: http.StatusUnprocessableEntity,
			wantCode:   problem.CodeUnknownSKU,
			wantFields: []svcclient.FieldError{
				{Message: "unknown SKU", Location: "body.lines[1].sku", Value: "NOPE-1"},
			},
			wantStock: map[string]levels{"A-1": {5, 0}},
		},
		{
			name:       "products in different currencies cannot share an order",
			lines:      []client.ReserveLine{line("A-1", 1), line("E-3", 1)},
			wantStatus: http.StatusUnprocessableEntity,
			wantCode:   problem.CodeMixedCurrency,
			wantFields: []svcclient.FieldError{
				{Message: "priced in another currency than the first line", Location: "body.lines[1].sku", Value: "E-3"},
			},
			wantStock: map[string]levels{"A-1": {5, 0}, "E-3": {10, 0}},
		},
		{
			name:       "a total beyond int64 minor units is refused",
			lines:      []client.ReserveLine{line("HUGE", 2)},
			wantStatus: http.StatusUnprocessableEntity,
			wantCode:   problem.CodeAmountOverflow,
			wantStock:  map[string]levels{"HUGE": {5, 0}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.product("A-1", 1000, "USD", 5)
			e.product("B-2", 250, "USD", 2)
			e.product("E-3", 900, "EUR", 10)
			e.product("HUGE", 1<<62, "USD", 5)

			got, err := e.client.Reserve(ctx(t), "key-1", reserveReq("order-1", tc.lines...))
			if tc.wantCode == "" {
				if err != nil {
					t.Fatalf("reserve: %v", err)
				}
				if got.OrderID != "order-1" || got.Status != client.ReservationReserved {
					t.Fatalf("reservation %s %s", got.OrderID, got.Status)
				}
				if !reflect.DeepEqual(got.Lines, tc.wantLines) {
					t.Fatalf("lines:\n got %+v\nwant %+v", got.Lines, tc.wantLines)
				}
				stored, err := e.client.GetReservation(ctx(t), "order-1")
				if err != nil || !reflect.DeepEqual(stored.Lines, tc.wantLines) || stored.Status != client.ReservationReserved {
					t.Fatalf("stored reservation %+v, %v", stored, err)
				}
			} else {
				apiErr := apiError(t, err, tc.wantStatus, tc.wantCode)
				if tc.wantFields != nil && !reflect.DeepEqual(apiErr.Fields, tc.wantFields) {
					t.Fatalf("fields:\n got %+v\nwant %+v", apiErr.Fields, tc.wantFields)
				}
				_, err := e.client.GetReservation(ctx(t), "order-1")
				apiError(t, err, http.StatusNotFound, problem.CodeNotFound)
				if n := e.movements(client.MovementReserve); n != 0 {
					t.Fatalf("%d RESERVE movements after a refusal", n)
				}
			}
			for sku, want := range tc.wantStock {
				e.wantLevels(sku, want.onHand, want.reserved)
			}
			e.checkLedger()
		})
	}
}

func TestReserveStatusCodes(t *testing.T) {
	e := newEnv(t)
	e.product("A-1", 1000, "USD", 5)
	body := `{"order_id":"o-1","lines":[{"sku":"A-1","quantity":2}]}`

	status, first := e.raw(http.MethodPost, "/reservations", "k-1", body)
	if status != http.StatusCreated {
		t.Fatalf("first reserve: %d %v", status, first)
	}
	// The original answer is replayed, status included.
	status, replay := e.raw(http.MethodPost, "/reservations", "k-1", body)
	if status != http.StatusCreated || !reflect.DeepEqual(first, replay) {
		t.Fatalf("replay: %d %v, want 201 %v", status, replay, first)
	}
	// Another key for the same order and lines finds the existing reservation.
	status, again := e.raw(http.MethodPost, "/reservations", "k-2", body)
	if status != http.StatusOK || again["status"] != client.ReservationReserved {
		t.Fatalf("same order, new key: %d %v", status, again)
	}
	// Another key with other lines for the same order is a conflict.
	status, conflict := e.raw(http.MethodPost, "/reservations", "k-3", `{"order_id":"o-1","lines":[{"sku":"A-1","quantity":3}]}`)
	if status != http.StatusConflict || conflict["type"] != problem.TypePrefix+problem.CodeConflict {
		t.Fatalf("other lines: %d %v", status, conflict)
	}
	e.wantLevels("A-1", 5, 2)
	e.checkLedger()
}

func TestBadInputIsRefusedWith4xx(t *testing.T) {
	e := newEnv(t)
	e.product("A-1", 1000, "USD", 5)
	long := make([]byte, 300)
	for i := range long {
		long[i] = 'k'
	}
	cases := []struct {
		name   string
		method string
		path   string
		key    string
		body   string
		want   int
	}{
		{"unknown field", http.MethodPost, "/reservations", "k", `{"order_id":"o","lines":[{"sku":"A-1","quantity":1}],"price":1}`, 422},
		{"unknown field in a line", http.MethodPost, "/reservations", "k", `{"order_id":"o","lines":[{"sku":"A-1","quantity":1,"unit_price":1}]}`, 422},
		{"malformed JSON", http.MethodPost, "/reservations", "k", `{"order_id":"o","lines":[`, 400},
		{"zero quantity", http.MethodPost, "/reservations", "k", `{"order_id":"o","lines":[{"sku":"A-1","quantity":0}]}`, 422},
		{"negative quantity", http.MethodPost, "/reservations", "k", `{"order_id":"o","lines":[{"sku":"A-1","quantity":-1}]}`, 422},
		{"fractional quantity", http.MethodPost, "/reservations", "k", `{"order_id":"o","lines":[{"sku":"A-1","quantity":1.5}]}`, 422},
		{"no lines", http.MethodPost, "/reservations", "k", `{"order_id":"o","lines":[]}`, 422},
		{"missing lines", http.MethodPost, "/reservations", "k", `{"order_id":"o"}`, 422},
		{"empty order id", http.MethodPost, "/reservations", "k", `{"order_id":"","lines":[{"sku":"A-1","quantity":1}]}`, 422},
		{"empty SKU", http.MethodPost, "/reservations", "k", `{"order_id":"o","lines":[{"sku":"","quantity":1}]}`, 422},
		{"missing idempotency key", http.MethodPost, "/reservations", "", `{"order_id":"o","lines":[{"sku":"A-1","quantity":1}]}`, 422},
		{"oversized idempotency key", http.MethodPost, "/reservations", string(long), `{"order_id":"o","lines":[{"sku":"A-1","quantity":1}]}`, 422},
		{"no body", http.MethodPost, "/reservations", "k", ``, 400},
		{"restock zero", http.MethodPost, "/products/A-1/restock", "k", `{"quantity":0}`, 422},
		{"restock without key", http.MethodPost, "/products/A-1/restock", "", `{"quantity":1}`, 422},
		{"release without key", http.MethodPost, "/reservations/o/release", "", ``, 422},
		{"commit without key", http.MethodPost, "/reservations/o/commit", "", ``, 422},
		{"negative price", http.MethodPut, "/products/A-2", "", `{"name":"x","unit_price":-1,"currency":"USD"}`, 422},
		{"bad currency", http.MethodPut, "/products/A-2", "", `{"name":"x","unit_price":1,"currency":"usd"}`, 422},
		{"bad SKU", http.MethodPut, "/products/-bad%20sku", "", `{"name":"x","unit_price":1,"currency":"USD"}`, 422},
		{"unknown status filter", http.MethodGet, "/reservations?status=LOST", "", ``, 422},
		{"limit too large", http.MethodGet, "/reservations?limit=100000", "", ``, 422},
		{"wrong method", http.MethodDelete, "/reservations", "", ``, 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, body := e.raw(tc.method, tc.path, tc.key, tc.body)
			if status != tc.want {
				t.Fatalf("status %d, want %d: %v", status, tc.want, body)
			}
		})
	}
	e.wantLevels("A-1", 5, 0)
	if n := e.movements(client.MovementReserve); n != 0 {
		t.Fatalf("%d RESERVE movements after bad requests", n)
	}
	var keys int
	if err := e.db.Get(&keys, `SELECT count(*) FROM idempotency_keys WHERE key = 'k'`); err != nil || keys != 0 {
		t.Fatalf("bad requests recorded %d idempotency keys (%v)", keys, err)
	}
}
