package payment_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/services/payment/client"
)

// A void that overtakes its authorization leaves a VOIDED marker that refuses the late
// authorization. The sweep deletes idempotency records only: within the retention the
// late authorization's retry replays its refusal, past it the retry runs again and the
// marker, still there, refuses it again. No hold is ever placed and no money moves.
func TestVoidMarkerOutlivesTheSweep(t *testing.T) {
	keep := idempotency.DefaultRetention
	tests := []struct {
		name        string
		age         time.Duration // of every idempotency record when the sweep runs
		wantDeleted int64
	}{
		{name: "within retention", age: keep - time.Hour, wantDeleted: 0},
		{name: "past retention", age: keep + time.Hour, wantDeleted: 2}, // void, authorize
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 0)
			ctx := context.Background()
			const voidKey, authorizeKey = "order-o-late/void-payment", "order-o-late/authorize-payment"
			marker, err := e.c.Void(ctx, "o-late", voidKey)
			if err != nil || marker.Status != client.PaymentVoided || marker.Amount != 0 {
				t.Fatalf("void before authorization: %+v, %v; want a VOIDED marker", marker, err)
			}
			_, err = e.c.Authorize(ctx, authorizeKey, authorizeReq("o-late", 4999, client.TokenVisa))
			wantProblem(t, err, http.StatusConflict, problem.CodePaymentVoided)

			if _, err := e.db.Exec(`UPDATE idempotency_keys SET created_at = now() - make_interval(secs => $1)`, tc.age.Seconds()); err != nil {
				t.Fatal(err)
			}
			deleted, _, err := idempotency.Sweep(ctx, e.db, keep, 100)
			if err != nil || deleted != tc.wantDeleted {
				t.Fatalf("sweep deleted %d (%v), want %d", deleted, err, tc.wantDeleted)
			}

			// The saga's retries of both calls, with their keys, get the same answers.
			_, err = e.c.Authorize(ctx, authorizeKey, authorizeReq("o-late", 4999, client.TokenVisa))
			wantProblem(t, err, http.StatusConflict, problem.CodePaymentVoided)
			again, err := e.c.Void(ctx, "o-late", voidKey)
			if err != nil || again.Status != client.PaymentVoided || again.Amount != 0 || again.ProcessorRef != "" {
				t.Fatalf("repeated void: %+v, %v", again, err)
			}
			if n := e.count(t, `SELECT count(*) FROM ledger`); n != 0 {
				t.Fatalf("%d ledger entries for a voided order", n)
			}
		})
	}
}
