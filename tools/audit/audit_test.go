package audit_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/internal/auth"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	paymentclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/tools/audit"
)

// logReport prints the report when a test fails, so the reason is visible.
func logReport(t *testing.T, r audit.Report) {
	t.Helper()
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + b.String())
}

func TestConsistentWorlds(t *testing.T) {
	cases := []struct {
		name     string
		build    func(w *world)
		pageSize int
		want     map[orderclient.Status]int
		inFlight int
	}{
		{"no orders", func(w *world) {}, 0, map[orderclient.Status]int{}, 0},
		{"confirmed order", func(w *world) {
			w.confirmed("o-1", line(skuA, 2), line(skuB, 1))
		}, 0, map[orderclient.Status]int{orderclient.StatusConfirmed: 1}, 0},
		{"failed after reserve", func(w *world) { w.failedAfterReserve("o-1") }, 0,
			map[orderclient.Status]int{orderclient.StatusFailed: 1}, 0},
		{"cancelled with void", func(w *world) { w.cancelledWithVoid("o-1") }, 0,
			map[orderclient.Status]int{orderclient.StatusCancelled: 1}, 0},
		{"declined payment", func(w *world) { w.declined("o-1") }, 0,
			map[orderclient.Status]int{orderclient.StatusFailed: 1}, 0},
		{"cancelled before any step, markers left", func(w *world) { w.cancelledEarly("o-1") }, 0,
			map[orderclient.Status]int{orderclient.StatusCancelled: 1}, 0},
		{"cancelled after capture, fully refunded", func(w *world) { w.refundedCancel("o-1") }, 0,
			map[orderclient.Status]int{orderclient.StatusCancelled: 1}, 0},
		{"in flight within the bound", func(w *world) { w.inFlight("o-1") }, 0,
			map[orderclient.Status]int{orderclient.StatusAuthorized: 1}, 1},
		{"markers of compensations for orders never placed", func(w *world) {
			w.release("ghost-1")
			w.void("ghost-2")
		}, 0, map[orderclient.Status]int{}, 0},
		{"everything together, read in pages of two", func(w *world) {
			w.confirmed("o-1", line(skuA, 2), line(skuB, 1))
			w.confirmed("o-2", line(skuC, 1))
			w.confirmed("o-3", line(skuA, 1))
			w.failedAfterReserve("o-4")
			w.cancelledWithVoid("o-5")
			w.declined("o-6")
			w.cancelledEarly("o-7")
			w.refundedCancel("o-8")
			w.inFlight("o-9")
			w.release("ghost-1")
		}, 2, map[orderclient.Status]int{
			orderclient.StatusConfirmed: 3, orderclient.StatusFailed: 2, orderclient.StatusCancelled: 3,
			orderclient.StatusAuthorized: 1,
		}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			tc.build(w)
			r := w.audit(audit.Options{InFlightBound: time.Hour, PageSize: tc.pageSize})
			if !r.OK() {
				logReport(t, r)
				t.Fatalf("a consistent world has %d violations", len(r.Violations))
			}
			total := 0
			for _, n := range tc.want {
				total += n
			}
			if r.Orders != total || r.InFlight != tc.inFlight || len(r.OrdersByStatus) != len(tc.want) {
				logReport(t, r)
				t.Fatalf("orders %d (%v), in flight %d; want %d (%v), %d", r.Orders, r.OrdersByStatus, r.InFlight, total, tc.want, tc.inFlight)
			}
			for s, n := range tc.want {
				if r.OrdersByStatus[s] != n {
					t.Fatalf("%s: %d orders, want %d", s, r.OrdersByStatus[s], n)
				}
			}
			if r.Products != 3 || r.Movements < 3 {
				t.Fatalf("read %d products and %d movements", r.Products, r.Movements)
			}
		})
	}
}

// found is the part of a violation a test pins down: which rule, for which order and SKU.
type found struct{ invariant, orderID, sku string }

func TestBrokenInvariants(t *testing.T) {
	now := time.Now
	cases := []struct {
		name  string
		build func(w *world)
		opts  audit.Options
		want  []found
	}{
		{
			name: "confirmed without capture",
			build: func(w *world) {
				w.create("o-1", line(skuA, 1))
				w.reserve("o-1")
				w.authorize("o-1")
				w.move("o-1", orderclient.StatusCaptured)
				w.commit("o-1")
				w.move("o-1", orderclient.StatusConfirmed)
			},
			want: []found{{audit.MoneyConserved, "o-1", ""}},
		},
		{
			name: "confirmed, then partly refunded",
			build: func(w *world) {
				w.confirmed("o-1", line(skuB, 2))
				w.refund("o-1", 100)
			},
			want: []found{{audit.MoneyConserved, "o-1", ""}},
		},
		{
			name: "confirmed without committing the stock",
			build: func(w *world) {
				w.create("o-1", line(skuA, 2))
				w.reserve("o-1")
				w.authorize("o-1")
				w.capture("o-1")
				w.move("o-1", orderclient.StatusCaptured)
				w.move("o-1", orderclient.StatusConfirmed)
			},
			want: []found{{audit.ServicesAgree, "o-1", ""}},
		},
		{
			name: "confirmed without any reservation",
			build: func(w *world) {
				w.create("o-1", line(skuB, 1))
				w.price("o-1", reservationOf(skuB, 1, 250), 0)
				w.authorize("o-1")
				w.capture("o-1")
				w.move("o-1", orderclient.StatusCaptured)
				w.move("o-1", orderclient.StatusConfirmed)
			},
			want: []found{{audit.ServicesAgree, "o-1", ""}},
		},
		{
			name: "confirmed at other prices than reserved",
			build: func(w *world) {
				w.create("o-1", line(skuA, 1), line(skuB, 1))
				r := w.reserveOnly("o-1")
				w.price("o-1", r, 1)
				w.authorize("o-1")
				w.capture("o-1")
				w.move("o-1", orderclient.StatusCaptured)
				w.commit("o-1")
				w.move("o-1", orderclient.StatusConfirmed)
			},
			want: []found{{audit.ServicesAgree, "o-1", skuA}, {audit.ServicesAgree, "o-1", skuB}},
		},
		{
			name: "payment authorized for another amount than the order total",
			build: func(w *world) {
				w.create("o-1", line(skuA, 1))
				w.reserve("o-1")
				w.must(w.authorizeAmount("o-1", paymentclient.TokenVisa, 1499), "authorize")
				w.move("o-1", orderclient.StatusAuthorized)
				w.capture("o-1")
				w.move("o-1", orderclient.StatusCaptured)
				w.commit("o-1")
				w.move("o-1", orderclient.StatusConfirmed)
			},
			want: []found{{audit.MoneyConserved, "o-1", ""}, {audit.ServicesAgree, "o-1", ""}},
		},
		{
			name: "failed with the reservation still held",
			build: func(w *world) {
				w.create("o-1", line(skuA, 2))
				w.reserve("o-1")
				w.move("o-1", orderclient.StatusFailed)
			},
			want: []found{{audit.ServicesAgree, "o-1", ""}},
		},
		{
			name: "failed with an open authorization",
			build: func(w *world) {
				w.create("o-1", line(skuA, 1))
				w.reserve("o-1")
				w.authorize("o-1")
				w.release("o-1")
				w.move("o-1", orderclient.StatusFailed)
			},
			want: []found{{audit.NoOpenHold, "o-1", ""}},
		},
		{
			name: "cancelled but the captured money kept",
			build: func(w *world) {
				w.create("o-1", line(skuA, 1))
				w.reserve("o-1")
				w.authorize("o-1")
				w.capture("o-1")
				w.move("o-1", orderclient.StatusCompensating)
				w.release("o-1")
				w.move("o-1", orderclient.StatusCancelled)
			},
			want: []found{{audit.MoneyConserved, "o-1", ""}},
		},
		{
			name: "pending beyond the in-flight bound",
			build: func(w *world) {
				w.create("o-1", line(skuA, 1))
				w.reserveOnly("o-1")
			},
			opts: audit.Options{InFlightBound: time.Hour, Now: func() time.Time { return now().Add(2 * time.Hour) }},
			want: []found{{audit.Terminal, "o-1", ""}},
		},
		{
			name: "stuck after a failed compensation, zero bound",
			build: func(w *world) {
				w.create("o-1", line(skuA, 1))
				w.reserve("o-1")
				w.move("o-1", orderclient.StatusCompensating)
				w.move("o-1", orderclient.StatusCompensationFailed)
			},
			opts: audit.Options{Now: func() time.Time { return now().Add(time.Second) }},
			want: []found{{audit.Terminal, "o-1", ""}},
		},
		{
			name: "reservation for an order never placed",
			build: func(w *world) {
				_, err := w.inventory.Reserve(w.ctx, "ghost/reserve", reserveRequest("ghost", skuA, 1))
				w.must(err, "reserve ghost")
			},
			want: []found{{audit.ServicesAgree, "ghost", ""}},
		},
		{
			name: "payment for an order never placed",
			build: func(w *world) {
				w.must(w.authorizeAmount("ghost", paymentclient.TokenVisa, 500), "authorize ghost")
			},
			want: []found{{audit.ServicesAgree, "ghost", ""}},
		},
		{
			name: "on hand changed outside the ledger",
			build: func(w *world) {
				w.exec(w.inventoryDB, `UPDATE products SET on_hand = on_hand + 1 WHERE sku = $1`, skuA)
			},
			want: []found{{audit.StockConserved, "", skuA}},
		},
		{
			name: "reserved changed outside the ledger",
			build: func(w *world) {
				w.exec(w.inventoryDB, `UPDATE products SET reserved = reserved + 1 WHERE sku = $1`, skuB)
			},
			want: []found{{audit.StockConserved, "", skuB}},
		},
		{
			name: "stock ledger entry rewritten",
			build: func(w *world) {
				w.exec(w.inventoryDB, `UPDATE stock_movements SET quantity = quantity + 1 WHERE sku = $1 AND kind = 'RESTOCK'`, skuB)
			},
			want: []found{{audit.LedgerReplays, "", skuB}, {audit.StockConserved, "", skuB}},
		},
		{
			name: "the last unit sold to two orders",
			build: func(w *world) {
				w.confirmed("o-1", line(skuC, 1))
				// Drift puts the sold unit back on the shelf, and a second order takes it.
				w.exec(w.inventoryDB, `UPDATE products SET on_hand = 1 WHERE sku = $1`, skuC)
				w.confirmed("o-2", line(skuC, 1))
			},
			want: []found{{audit.LedgerReplays, "", skuC}, {audit.StockConserved, "", skuC}},
		},
		{
			name: "reservation marked released without giving the stock back",
			build: func(w *world) {
				w.inFlight("o-1")
				w.exec(w.inventoryDB, `UPDATE reservations SET status = 'RELEASED' WHERE order_id = $1`, "o-1")
			},
			want: []found{{audit.StockConserved, "", skuA}, {audit.StockConserved, "o-1", skuA}},
		},
		{
			name: "capture recorded twice",
			build: func(w *world) {
				w.confirmed("o-1", line(skuA, 1))
				w.exec(w.paymentDB, `INSERT INTO ledger (order_id, kind, amount)
					SELECT order_id, kind, amount FROM ledger WHERE order_id = $1 AND kind = 'CAPTURE'`, "o-1")
			},
			want: []found{{audit.ChargedOnce, "o-1", ""}, {audit.LedgerReplays, "o-1", ""}},
		},
		{
			name: "authorization recorded twice",
			build: func(w *world) {
				w.inFlight("o-1")
				w.exec(w.paymentDB, `INSERT INTO ledger (order_id, kind, amount)
					SELECT order_id, kind, amount FROM ledger WHERE order_id = $1 AND kind = 'AUTHORIZE'`, "o-1")
			},
			want: []found{{audit.ChargedOnce, "o-1", ""}, {audit.LedgerReplays, "o-1", ""}},
		},
		{
			name: "payment ledger entry rewritten",
			build: func(w *world) {
				w.confirmed("o-1", line(skuA, 1))
				w.exec(w.paymentDB, `UPDATE ledger SET amount = amount - 1 WHERE order_id = $1 AND kind = 'CAPTURE'`, "o-1")
			},
			want: []found{{audit.LedgerReplays, "o-1", ""}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			w := newWorld(t)
			// A clean order next to the broken one: only the broken one may be reported.
			w.confirmed("bg", line(skuA, 1), line(skuB, 1))
			tc.build(w)
			opts := tc.opts
			if opts.Now == nil {
				opts.InFlightBound = time.Hour
			}
			r := w.audit(opts)
			var got []found
			for _, v := range r.Violations {
				if v.Detail == "" {
					t.Errorf("%s for %s/%s has no detail", v.Invariant, v.OrderID, v.SKU)
				}
				f := found{v.Invariant, v.OrderID, v.SKU}
				if !slices.Contains(got, f) {
					got = append(got, f)
				}
			}
			want := slices.Clone(tc.want)
			less := func(a, b found) int {
				return strings.Compare(a.invariant+"|"+a.orderID+"|"+a.sku, b.invariant+"|"+b.orderID+"|"+b.sku)
			}
			slices.SortFunc(got, less)
			slices.SortFunc(want, less)
			logReport(t, r)
			if !slices.Equal(got, want) || r.OK() {
				t.Fatalf("found %v, want %v", got, want)
			}
		})
	}
}

// raceTransport runs hook once, just before the first order listing goes out: a saga
// step landing while the auditor is between two services.
type raceTransport struct {
	once     sync.Once
	hook     func()
	listings atomic.Int32
}

func (rt *raceTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && req.URL.Path == "/orders" {
		rt.listings.Add(1)
		rt.once.Do(rt.hook)
	}
	return http.DefaultTransport.RoundTrip(req)
}

func TestSagaMovingDuringTheAuditIsNotAViolation(t *testing.T) {
	w := newWorld(t)
	w.create("o-1", line(skuA, 2))
	w.reserve("o-1")
	w.authorize("o-1")
	w.capture("o-1")
	w.move("o-1", orderclient.StatusCaptured)
	rt := &raceTransport{hook: func() {
		// The saga finishes after the auditor read the reservation as RESERVED.
		w.commit("o-1")
		w.move("o-1", orderclient.StatusConfirmed)
	}}
	orders := orderclient.New(w.orderURL, &http.Client{Transport: w.keys.Signer(auth.IdentityAdmin).Transport(rt, orderclient.ServiceName)}, 10*time.Second)
	r, err := audit.New(orders, w.admin.Payments, w.admin.Inventory).Run(w.ctx, audit.Options{InFlightBound: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.OrdersByStatus[orderclient.StatusConfirmed] != 1 {
		logReport(t, r)
		t.Fatal("a step landing between two reads was reported")
	}
	if rt.listings.Load() < 2 {
		t.Fatalf("the first pass saw the moving saga, so a second pass must have read the orders again; listings: %d", rt.listings.Load())
	}
}

func TestWriteText(t *testing.T) {
	w := newWorld(t)
	w.confirmed("o-1", line(skuA, 1))
	w.create("o-2", line(skuB, 2))
	w.reserve("o-2")
	w.move("o-2", orderclient.StatusFailed)
	r := w.audit(audit.Options{InFlightBound: time.Hour})
	var b bytes.Buffer
	if err := r.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	text := b.String()
	for _, want := range []string{
		"FAILED, 1 violation(s)",
		"orders: 2 (CONFIRMED 1, FAILED 1), in flight: 0",
		"products: 3",
		"violation services-agree order=o-2 sku=-: FAILED but its reservation is RESERVED, not RELEASED",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("report lacks %q:\n%s", want, text)
		}
	}
	if n := strings.Count(text, "\nviolation "); n != 1 {
		t.Errorf("%d violation lines:\n%s", n, text)
	}

	w.release("o-2")
	b.Reset()
	if err := w.audit(audit.Options{InFlightBound: time.Hour}).WriteText(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), ": OK\n") || strings.Contains(b.String(), "violation") {
		t.Errorf("clean report:\n%s", b.String())
	}
}

func TestUnreadableServiceIsAnError(t *testing.T) {
	w := newWorld(t)
	w.confirmed("o-1", line(skuA, 1))
	w.paymentSrv.Close()
	r, err := w.auditor().Run(w.ctx, audit.Options{InFlightBound: time.Hour})
	if err == nil || !strings.Contains(err.Error(), "list payments") {
		t.Fatalf("audit with the payment service down: %v (report %+v)", err, r)
	}
}
