package inventory_test

import (
	"net/http"
	"testing"

	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/services/inventory/client"
)

// step is one call in a reservation's life and the answer it must get.
type step struct {
	action     string // reserve, release, commit
	key        string
	lines      []client.ReserveLine
	wantStatus string // reservation status on success
	wantLines  int
	wantErr    int
	wantCode   string
	onHand     int64
	reserved   int64
}

func TestReservationStateMachine(t *testing.T) {
	two := []client.ReserveLine{line("A-1", 2), line("B-2", 1)}
	cases := []struct {
		name  string
		steps []step
	}{
		{
			name: "reserve then release gives stock back; later calls are refused or no-ops",
			steps: []step{
				{action: "reserve", key: "r1", lines: two, wantStatus: client.ReservationReserved, wantLines: 2, onHand: 5, reserved: 2},
				{action: "release", key: "x1", wantStatus: client.ReservationReleased, wantLines: 2, onHand: 5, reserved: 0},
				{action: "release", key: "x2", wantStatus: client.ReservationReleased, wantLines: 2, onHand: 5, reserved: 0},
				{action: "commit", key: "c1", wantErr: http.StatusConflict, wantCode: problem.CodeAlreadyReleased, onHand: 5, reserved: 0},
				{action: "reserve", key: "r2", lines: two, wantErr: http.StatusConflict, wantCode: problem.CodeAlreadyReleased, onHand: 5, reserved: 0},
			},
		},
		{
			name: "reserve then commit sells the stock; release after it is refused",
			steps: []step{
				{action: "reserve", key: "r1", lines: two, wantStatus: client.ReservationReserved, wantLines: 2, onHand: 5, reserved: 2},
				{action: "commit", key: "c1", wantStatus: client.ReservationCommitted, wantLines: 2, onHand: 3, reserved: 0},
				{action: "commit", key: "c2", wantStatus: client.ReservationCommitted, wantLines: 2, onHand: 3, reserved: 0},
				{action: "release", key: "x1", wantErr: http.StatusConflict, wantCode: problem.CodeAlreadyCommitted, onHand: 3, reserved: 0},
				{action: "reserve", key: "r2", lines: two, wantStatus: client.ReservationCommitted, wantLines: 2, onHand: 3, reserved: 0},
				{action: "reserve", key: "r3", lines: []client.ReserveLine{line("A-1", 1)}, wantErr: http.StatusConflict, wantCode: problem.CodeConflict, onHand: 3, reserved: 0},
			},
		},
		{
			name: "release before reserve leaves a marker that refuses the late reserve",
			steps: []step{
				{action: "release", key: "x1", wantStatus: client.ReservationReleased, wantLines: 0, onHand: 5, reserved: 0},
				{action: "reserve", key: "r1", lines: two, wantErr: http.StatusConflict, wantCode: problem.CodeAlreadyReleased, onHand: 5, reserved: 0},
				{action: "release", key: "x2", wantStatus: client.ReservationReleased, wantLines: 0, onHand: 5, reserved: 0},
				{action: "commit", key: "c1", wantErr: http.StatusConflict, wantCode: problem.CodeAlreadyReleased, onHand: 5, reserved: 0},
			},
		},
		{
			name: "commit without a reservation is not found",
			steps: []step{
				{action: "commit", key: "c1", wantErr: http.StatusNotFound, wantCode: problem.CodeNotFound, onHand: 5, reserved: 0},
			},
		},
		{
			name: "a refused reserve leaves the order free to reserve again",
			steps: []step{
				{action: "reserve", key: "r1", lines: []client.ReserveLine{line("A-1", 9)}, wantErr: http.StatusUnprocessableEntity, wantCode: problem.CodeOutOfStock, onHand: 5, reserved: 0},
				{action: "reserve", key: "r2", lines: two, wantStatus: client.ReservationReserved, wantLines: 2, onHand: 5, reserved: 2},
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			e.product("A-1", 1000, "USD", 5)
			e.product("B-2", 250, "USD", 2)
			for i, s := range tc.steps {
				var got client.Reservation
				var err error
				switch s.action {
				case "reserve":
					got, err = e.client.Reserve(ctx(t), s.key, reserveReq("order-1", s.lines...))
				case "release":
					got, err = e.client.Release(ctx(t), "order-1", s.key)
				case "commit":
					got, err = e.client.Commit(ctx(t), "order-1", s.key)
				}
				if s.wantErr != 0 {
					apiError(t, err, s.wantErr, s.wantCode)
				} else {
					if err != nil {
						t.Fatalf("step %d %s: %v", i, s.action, err)
					}
					if got.Status != s.wantStatus || len(got.Lines) != s.wantLines || got.OrderID != "order-1" {
						t.Fatalf("step %d %s: got %s with %d lines, want %s with %d", i, s.action, got.Status, len(got.Lines), s.wantStatus, s.wantLines)
					}
				}
				e.wantLevels("A-1", s.onHand, s.reserved)
				e.checkLedger()
			}
		})
	}
}

func TestReleaseMarkerMovesNoStock(t *testing.T) {
	e := newEnv(t)
	e.product("A-1", 1000, "USD", 5)
	marker, err := e.client.Release(ctx(t), "late-order", "saga/release")
	if err != nil {
		t.Fatal(err)
	}
	if marker.Status != client.ReservationReleased || marker.Lines == nil || len(marker.Lines) != 0 {
		t.Fatalf("marker %+v", marker)
	}
	_, err = e.client.Reserve(ctx(t), "saga/reserve", reserveReq("late-order", line("A-1", 1)))
	apiError(t, err, http.StatusConflict, problem.CodeAlreadyReleased)
	// The refusal is final for this key, even if asked again.
	_, err = e.client.Reserve(ctx(t), "saga/reserve", reserveReq("late-order", line("A-1", 1)))
	apiError(t, err, http.StatusConflict, problem.CodeAlreadyReleased)
	e.wantLevels("A-1", 5, 0)
	for _, kind := range []string{client.MovementReserve, client.MovementRelease} {
		if n := e.movements(kind); n != 0 {
			t.Fatalf("%d %s movements", n, kind)
		}
	}
	got, err := e.client.GetReservation(ctx(t), "late-order")
	if err != nil || got.Status != client.ReservationReleased {
		t.Fatalf("get marker: %+v %v", got, err)
	}
}

func TestIdempotentReplays(t *testing.T) {
	e := newEnv(t)
	e.product("A-1", 1000, "USD", 5)
	c := ctx(t)

	first, err := e.client.Reserve(c, "k-reserve", reserveReq("o-1", line("A-1", 2)))
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.client.Reserve(c, "k-reserve", reserveReq("o-1", line("A-1", 2)))
	if err != nil {
		t.Fatal(err)
	}
	if first.OrderID != again.OrderID || !first.CreatedAt.Equal(again.CreatedAt) || len(again.Lines) != 1 || again.Lines[0] != first.Lines[0] {
		t.Fatalf("replay differs: %+v vs %+v", again, first)
	}
	e.wantLevels("A-1", 5, 2)

	_, err = e.client.Reserve(c, "k-reserve", reserveReq("o-1", line("A-1", 3)))
	apiError(t, err, http.StatusUnprocessableEntity, problem.CodeIdempotencyReused)
	_, err = e.client.Reserve(c, "k-reserve", reserveReq("o-2", line("A-1", 2)))
	apiError(t, err, http.StatusUnprocessableEntity, problem.CodeIdempotencyReused)
	_, err = e.client.Release(c, "o-1", "k-reserve")
	apiError(t, err, http.StatusUnprocessableEntity, problem.CodeIdempotencyReused)
	e.wantLevels("A-1", 5, 2)

	for range 3 {
		p, err := e.client.Restock(c, "A-1", "k-restock", client.RestockRequest{Quantity: 10})
		if err != nil {
			t.Fatal(err)
		}
		if p.OnHand != 15 || p.Reserved != 2 || p.Available != 13 {
			t.Fatalf("restock answer %+v", p)
		}
	}
	_, err = e.client.Restock(c, "A-1", "k-restock", client.RestockRequest{Quantity: 11})
	apiError(t, err, http.StatusUnprocessableEntity, problem.CodeIdempotencyReused)
	e.wantLevels("A-1", 15, 2)

	for range 3 {
		r, err := e.client.Commit(c, "o-1", "k-commit")
		if err != nil || r.Status != client.ReservationCommitted {
			t.Fatalf("commit: %+v %v", r, err)
		}
	}
	_, err = e.client.Commit(c, "o-2", "k-commit")
	apiError(t, err, http.StatusUnprocessableEntity, problem.CodeIdempotencyReused)
	e.wantLevels("A-1", 13, 0)
	if n := e.movements(client.MovementCommit); n != 1 {
		t.Fatalf("%d COMMIT movements, want 1", n)
	}

	// A refusal is recorded with its key: a restock in between does not turn it into a
	// success, while a new key sees the new stock.
	_, err = e.client.Reserve(c, "k-short", reserveReq("o-3", line("A-1", 20)))
	apiError(t, err, http.StatusUnprocessableEntity, problem.CodeOutOfStock)
	if _, err := e.client.Restock(c, "A-1", "k-restock-2", client.RestockRequest{Quantity: 10}); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.Reserve(c, "k-short", reserveReq("o-3", line("A-1", 20)))
	apiError(t, err, http.StatusUnprocessableEntity, problem.CodeOutOfStock)
	if _, err := e.client.Reserve(c, "k-short-2", reserveReq("o-3", line("A-1", 20))); err != nil {
		t.Fatalf("reserve after restock with a new key: %v", err)
	}
	e.wantLevels("A-1", 23, 20)
	e.checkLedger()
}

func TestRestock(t *testing.T) {
	e := newEnv(t)
	e.product("A-1", 1000, "USD", 0)
	_, err := e.client.Restock(ctx(t), "NOPE", "k-1", client.RestockRequest{Quantity: 1})
	apiError(t, err, http.StatusNotFound, problem.CodeNotFound)

	p, err := e.client.Restock(ctx(t), "A-1", "k-2", client.RestockRequest{Quantity: 1_000_000_000})
	if err != nil || p.OnHand != 1_000_000_000 {
		t.Fatalf("restock: %+v %v", p, err)
	}
	if _, err := e.db.Exec(`UPDATE products SET on_hand = 9223372036854775000 WHERE sku = 'A-1'`); err != nil {
		t.Fatal(err)
	}
	_, err = e.client.Restock(ctx(t), "A-1", "k-3", client.RestockRequest{Quantity: 1_000_000_000})
	apiError(t, err, http.StatusUnprocessableEntity, problem.CodeValidation)
}
