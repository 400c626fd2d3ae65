package payment_test

import (
	"context"
	"testing"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/services/payment"
	"github.com/sagaflow/sagaflow/test/badinput"
	"github.com/sagaflow/sagaflow/test/testenv"
)

// FuzzAuthorize posts arbitrary bodies and Idempotency-Keys to the real authorize handler
// on a real database: never a 5xx, every refusal a clean problem document, a refused
// request moves no money, and every payment's ledger still adds up.
func FuzzAuthorize(f *testing.F) {
	_, db := testenv.ServiceDatabase(f, "payment")
	// Who may call is test/svcauthz's subject: here every caller is let through.
	handler := payment.NewGuardedHandler(payment.NewService(db, logging.Discard(), payment.NewTestProcessor(0)), auth.Unprotected(logging.Discard()), logging.Discard(), nil)
	rows := badinput.RowCounter(db, `SELECT (SELECT count(*) FROM payments) + (SELECT count(*) FROM ledger)`)
	f.Fuzz(func(t *testing.T, body []byte, key string) {
		code := badinput.FuzzPost(t, "payment", handler, "/payments", body, key, rows)
		if code >= 300 {
			return
		}
		var broken int
		err := db.GetContext(context.Background(), &broken, `SELECT count(*) FROM payments p WHERE p.amount < 0
			OR p.amount <> coalesce((SELECT sum(amount) FROM ledger l WHERE l.order_id = p.order_id AND l.kind = 'AUTHORIZE'), 0)`)
		if err != nil {
			t.Fatal(err)
		}
		if broken > 0 {
			t.Fatalf("after body %q: %d payments disagree with their ledger", body, broken)
		}
	})
}
