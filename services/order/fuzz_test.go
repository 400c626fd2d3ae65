package order_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sagaflow/sagaflow/internal/badinput"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/testenv"
	"github.com/sagaflow/sagaflow/services/order"
)

// FuzzCreateOrder posts arbitrary bodies and Idempotency-Keys to the real create-order
// handler on a real database: never a 5xx, every refusal a clean problem document, and a
// refused request records no order.
func FuzzCreateOrder(f *testing.F) {
	_, db := testenv.ServiceDatabase(f, "order")
	handler := order.NewHandler(order.NewService(db, logging.Discard()), logging.Discard(), nil)
	rows := func(t *testing.T) int {
		var n int
		err := db.GetContext(context.Background(), &n, `SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM order_lines) + (SELECT count(*) FROM order_status_history)`)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		before := rows(t)
		req := httptest.NewRequest(http.MethodPost, "/orders", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", key)
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		if err := badinput.Check(rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
			t.Fatalf("body %q key %q: %v", body, key, err)
		}
		if rec.Code >= 400 && rows(t) != before {
			t.Fatalf("refused (%d) body %q key %q wrote rows", rec.Code, body, key)
		}
	})
}
