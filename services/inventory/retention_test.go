package inventory_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/services/inventory/client"
)

// A release that overtakes its reserve leaves a RELEASED marker that refuses the late
// reserve. The sweep deletes idempotency records only: within the retention the late
// reserve's retry replays its refusal, past it the retry runs again and the marker, still
// there, refuses it again. No stock is ever held for the order.
func TestReleaseMarkerOutlivesTheSweep(t *testing.T) {
	keep := idempotency.DefaultRetention
	tests := []struct {
		name        string
		age         time.Duration // of every idempotency record when the sweep runs
		wantDeleted int64
	}{
		{name: "within retention", age: keep - time.Hour, wantDeleted: 0},
		{name: "past retention", age: keep + time.Hour, wantDeleted: 3}, // restock, release, reserve
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			c := ctx(t)
			e.product("A-1", 1000, "USD", 5)
			const releaseKey, reserveKey = "order-o-late/release-stock", "order-o-late/reserve-stock"
			marker, err := e.client.Release(c, "o-late", releaseKey)
			if err != nil || marker.Status != client.ReservationReleased || len(marker.Lines) != 0 {
				t.Fatalf("release before reserve: %+v, %v; want a RELEASED marker", marker, err)
			}
			_, err = e.client.Reserve(c, reserveKey, reserveReq("o-late", line("A-1", 2)))
			apiError(t, err, http.StatusConflict, problem.CodeAlreadyReleased)

			if _, err := e.db.Exec(`UPDATE idempotency_keys SET created_at = now() - make_interval(secs => $1)`, tc.age.Seconds()); err != nil {
				t.Fatal(err)
			}
			deleted, _, err := idempotency.Sweep(c, e.db, keep, 100)
			if err != nil || deleted != tc.wantDeleted {
				t.Fatalf("sweep deleted %d (%v), want %d", deleted, err, tc.wantDeleted)
			}

			// The saga's retries of both calls, with their keys, get the same answers.
			_, err = e.client.Reserve(c, reserveKey, reserveReq("o-late", line("A-1", 2)))
			apiError(t, err, http.StatusConflict, problem.CodeAlreadyReleased)
			again, err := e.client.Release(c, "o-late", releaseKey)
			if err != nil || again.Status != client.ReservationReleased || len(again.Lines) != 0 {
				t.Fatalf("repeated release: %+v, %v", again, err)
			}
			e.wantLevels("A-1", 5, 0)
			if n := e.movements(client.MovementReserve); n != 0 {
				t.Fatalf("%d reserve movements for a released order", n)
			}
			e.checkLedger()
		})
	}
}
