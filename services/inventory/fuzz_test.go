package inventory_test

import (
	"context"
	"testing"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/services/inventory"
	"github.com/sagaflow/sagaflow/services/inventory/client"
	"github.com/sagaflow/sagaflow/test/badinput"
	"github.com/sagaflow/sagaflow/test/testenv"
)

// FuzzReserve posts arbitrary bodies and Idempotency-Keys to the real reserve handler on a
// real database with a small catalog: never a 5xx, every refusal a clean problem document,
// a refused request holds no stock, and stock levels stay sane.
func FuzzReserve(f *testing.F) {
	_, db := testenv.ServiceDatabase(f, "inventory")
	svc := inventory.NewService(db, logging.Discard())
	ctx := context.Background()
	for _, p := range []struct {
		sku   string
		price int64
		stock int64
	}{{"A", 100, 1000000}, {"B", 2500, 10}, {"HUGE", 1 << 62, 5}, {"EUR-1", 100, 5}} {
		currency := "USD"
		if p.sku == "EUR-1" {
			currency = "EUR"
		}
		if _, _, err := svc.UpsertProduct(ctx, p.sku, client.UpsertProductRequest{Name: "Product " + p.sku, UnitPrice: p.price, Currency: currency}); err != nil {
			f.Fatal(err)
		}
		if _, err := svc.Restock(ctx, p.sku, "seed/"+p.sku, client.RestockRequest{Quantity: p.stock}); err != nil {
			f.Fatal(err)
		}
	}
	// Who may call is test/svcauthz's subject: here every caller is let through.
	handler := inventory.NewGuardedHandler(svc, auth.Unprotected(logging.Discard()), logging.Discard(), nil)
	rows := badinput.RowCounter(db, `SELECT (SELECT count(*) FROM reservations) + (SELECT count(*) FROM reservation_lines) + (SELECT count(*) FROM stock_movements)`)
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		code := badinput.FuzzPost(t, "inventory", handler, "/reservations", body, key, rows)
		if code >= 300 {
			return
		}
		var broken int
		err := db.GetContext(ctx, &broken, `SELECT count(*) FROM products p WHERE p.reserved < 0 OR p.reserved > p.on_hand
			OR p.reserved <> coalesce((SELECT sum(l.quantity) FROM reservation_lines l JOIN reservations r ON r.order_id = l.order_id
				WHERE l.sku = p.sku AND r.status = 'RESERVED'), 0)`)
		if err != nil {
			t.Fatal(err)
		}
		if broken > 0 {
			t.Fatalf("after body %q: %d products hold stock their reservations do not explain", body, broken)
		}
	})
}
