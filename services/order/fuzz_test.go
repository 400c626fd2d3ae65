package order_test

import (
	"testing"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/services/order"
	"github.com/sagaflow/sagaflow/test/badinput"
	"github.com/sagaflow/sagaflow/test/testenv"
)

// FuzzCreateOrder posts arbitrary bodies and Idempotency-Keys to the real create-order
// handler on a real database: never a 5xx, every refusal a clean problem document, and a
// refused request records no order.
func FuzzCreateOrder(f *testing.F) {
	_, db := testenv.ServiceDatabase(f, "order")
	// Who may call is test/svcauthz's subject: here every caller is let through.
	handler := order.NewGuardedHandler(order.NewService(db, logging.Discard()), auth.Unprotected(logging.Discard()), logging.Discard(), nil)
	rows := badinput.RowCounter(db, `SELECT (SELECT count(*) FROM orders) + (SELECT count(*) FROM order_lines) + (SELECT count(*) FROM order_status_history)`)
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		badinput.FuzzPost(t, "order", handler, "/orders", body, key, rows)
	})
}
