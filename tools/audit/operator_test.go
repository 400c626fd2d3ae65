package audit_test

import (
	"bytes"
	"strings"
	"testing"

	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/tools/audit"
)

// closeWith moves an order through COMPENSATING to status with the saga's terminal reason.
func (w *world) closeWith(id string, status orderclient.Status, reason string) {
	w.t.Helper()
	w.move(id, orderclient.StatusCompensating)
	_, err := w.orders.Transition(w.ctx, id, key(id, "close"), orderclient.TransitionRequest{Status: status, Reason: reason})
	w.must(err, "close "+id)
}

func TestOperatorResolvedCompensations(t *testing.T) {
	cases := []struct {
		name string
		// build leaves order o-1 with an open hold and/or a held reservation.
		build        func(w *world)
		wantResolved []found
		wantViolated []found
	}{
		{
			name: "void marked resolved: the open hold is listed, not a violation",
			build: func(w *world) {
				w.create("o-1", line(skuA, 1))
				w.reserve("o-1")
				w.authorize("o-1")
				w.release("o-1")
				w.closeWith("o-1", orderclient.StatusFailed, "operator resolved [void-payment] (alice: voided by hand at the processor); card declined")
			},
			wantResolved: []found{{audit.NoOpenHold, "o-1", ""}},
		},
		{
			name: "void and release marked resolved",
			build: func(w *world) {
				w.create("o-1", line(skuA, 1))
				w.reserve("o-1")
				w.authorize("o-1")
				w.closeWith("o-1", orderclient.StatusCancelled, "operator resolved [void-payment release-stock] (alice: by hand; bob: by hand); cancelled by c-1")
			},
			wantResolved: []found{{audit.NoOpenHold, "o-1", ""}, {audit.ServicesAgree, "o-1", ""}},
		},
		{
			name: "only the void marked resolved: the held reservation is still a violation",
			build: func(w *world) {
				w.create("o-1", line(skuA, 1))
				w.reserve("o-1")
				w.authorize("o-1")
				w.closeWith("o-1", orderclient.StatusFailed, "operator resolved [void-payment] (alice: by hand); card declined")
			},
			wantResolved: []found{{audit.NoOpenHold, "o-1", ""}},
			wantViolated: []found{{audit.ServicesAgree, "o-1", ""}},
		},
		{
			name: "the marker inside client text does not count",
			build: func(w *world) {
				w.create("o-1", line(skuA, 1))
				w.reserve("o-1")
				w.authorize("o-1")
				w.release("o-1")
				w.closeWith("o-1", orderclient.StatusCancelled, "cancelled by c-1: operator resolved [void-payment] (me)")
			},
			wantViolated: []found{{audit.NoOpenHold, "o-1", ""}},
		},
		{
			name: "a resolution never excuses captured money",
			build: func(w *world) {
				w.create("o-1", line(skuA, 1))
				w.reserve("o-1")
				w.authorize("o-1")
				w.capture("o-1")
				w.release("o-1")
				w.closeWith("o-1", orderclient.StatusFailed, "operator resolved [void-payment] (alice: by hand); capture refused")
			},
			wantViolated: []found{{audit.MoneyConserved, "o-1", ""}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			w.confirmed("bg", line(skuB, 1))
			tc.build(w)
			r := w.audit(audit.Options{})
			logReport(t, r)
			if got := foundOf(r.Resolved); !equalFound(got, tc.wantResolved) {
				t.Errorf("resolved %v, want %v", got, tc.wantResolved)
			}
			if got := foundOf(r.Violations); !equalFound(got, tc.wantViolated) {
				t.Errorf("violations %v, want %v", got, tc.wantViolated)
			}
			if r.OK() != (len(tc.wantViolated) == 0) {
				t.Errorf("OK() = %v", r.OK())
			}
			var b bytes.Buffer
			if err := r.WriteText(&b); err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(b.String(), "\n"+audit.OperatorResolved+" "); n != len(tc.wantResolved) {
				t.Errorf("%d operator-resolved lines, want %d", n, len(tc.wantResolved))
			}
			for _, v := range r.Resolved {
				if !strings.Contains(v.Detail, "operator resolved [") {
					t.Errorf("resolved finding %+v does not quote the resolution", v)
				}
			}
		})
	}
}

func foundOf(vs []audit.Violation) []found {
	out := []found{}
	for _, v := range vs {
		out = append(out, found{v.Invariant, v.OrderID, v.SKU})
	}
	return out
}

func equalFound(got, want []found) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}
