package order_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/requestid"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	"github.com/sagaflow/sagaflow/services/order/client"
)

// allowedMoves is the transition table the order service must enforce.
var allowedMoves = map[client.Status][]client.Status{
	client.StatusPending:            {client.StatusReserved, client.StatusCancelled, client.StatusFailed, client.StatusCompensating},
	client.StatusReserved:           {client.StatusAuthorized, client.StatusCancelled, client.StatusFailed, client.StatusCompensating},
	client.StatusAuthorized:         {client.StatusAwaitingApproval, client.StatusCaptured, client.StatusCancelled, client.StatusFailed, client.StatusCompensating},
	client.StatusAwaitingApproval:   {client.StatusCaptured, client.StatusCancelled, client.StatusFailed, client.StatusCompensating},
	client.StatusCaptured:           {client.StatusConfirmed},
	client.StatusCompensating:       {client.StatusCompensationFailed, client.StatusCancelled, client.StatusFailed},
	client.StatusCompensationFailed: {client.StatusCompensating, client.StatusCancelled, client.StatusFailed},
}

// TestTransitionTable tries every target status from every status: allowed moves
// succeed and are recorded, the same status is a no-op, everything else is a 409.
func TestTransitionTable(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	targets := slices.DeleteFunc(client.Statuses(), func(s client.Status) bool { return s == client.StatusPending })
	n := 0
	for _, from := range client.Statuses() {
		for _, to := range targets {
			n++
			id := fmt.Sprintf("tt-%d", n)
			t.Run(string(from)+"->"+string(to), func(t *testing.T) {
				e.t = t
				before := e.orderIn(id, from)
				req := client.TransitionRequest{Status: to, Reason: "because " + string(to)}
				if to == client.StatusReserved {
					req = pricing()
				}
				got, err := e.c.Transition(ctx, id, e.key(), req)
				switch {
				case from == to:
					if err != nil {
						t.Fatalf("repeat move: %v", err)
					}
					if got.Status != from || len(got.History) != len(before.History) || !got.UpdatedAt.Equal(before.UpdatedAt) {
						t.Fatalf("repeat move changed the order: %+v", got)
					}
				case slices.Contains(allowedMoves[from], to):
					if err != nil {
						t.Fatalf("allowed move refused: %v", err)
					}
					if got.Status != to {
						t.Fatalf("status = %s, want %s", got.Status, to)
					}
					last := got.History[len(got.History)-1]
					if len(got.History) != len(before.History)+1 || last.From != string(from) || last.To != string(to) || last.Reason != req.Reason {
						t.Fatalf("history = %+v, want one more entry %s -> %s (%q)", got.History, from, to, req.Reason)
					}
				default:
					se := serviceError(t, err, http.StatusConflict, problem.CodeInvalidTransition)
					if !strings.Contains(se.Detail, string(from)) || !strings.Contains(se.Detail, string(to)) {
						t.Fatalf("detail %q does not name %s and %s", se.Detail, from, to)
					}
					after, err := e.c.Get(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					if after.Status != from || len(after.History) != len(before.History) {
						t.Fatalf("refused move changed the order: %+v", after)
					}
				}
			})
		}
	}
	e.t = t
	// PENDING is where orders start, never a target.
	e.create("tt-pending", "c")
	_, err := e.c.Transition(ctx, "tt-pending", e.key(), client.TransitionRequest{Status: client.StatusPending})
	serviceError(t, err, http.StatusUnprocessableEntity, "")
	_, err = e.c.Transition(ctx, "tt-missing", e.key(), client.TransitionRequest{Status: client.StatusCancelled})
	serviceError(t, err, http.StatusNotFound, problem.CodeNotFound)
}

func TestRepeatedTransitionIsNoOp(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.create("o1", "c1")
	first := e.move("o1", pricing())
	// A retry with a fresh key (and even other prices) must not reprice or add history.
	retry := pricing()
	retry.Lines[0].UnitPrice = 1
	again := e.move("o1", retry)
	if again.Total != pricedTotal || len(again.History) != len(first.History) || !again.UpdatedAt.Equal(first.UpdatedAt) {
		t.Fatalf("repeat changed the order: first %+v, again %+v", first, again)
	}
	e.move("o1", client.TransitionRequest{Status: client.StatusCancelled, Reason: "customer cancelled"})
	final := e.move("o1", client.TransitionRequest{Status: client.StatusCancelled, Reason: "retry"})
	if final.FailureReason != "customer cancelled" || len(final.History) != 3 {
		t.Fatalf("repeat of a terminal move changed the order: %+v", final)
	}
	if n := e.count(`SELECT count(*) FROM order_status_history WHERE order_id = $1`, "o1"); n != 3 {
		t.Fatalf("history rows = %d, want 3", n)
	}
	got, err := e.c.Get(ctx, "o1")
	if err != nil || got.Status != client.StatusCancelled {
		t.Fatalf("get = %+v, %v", got, err)
	}
}

func TestPricing(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	withLines := func(currency string, lines ...client.PricedLine) client.TransitionRequest {
		return client.TransitionRequest{Status: client.StatusReserved, Reason: "stock reserved", Currency: currency, Lines: lines}
	}
	a := func(qty, price int64) client.PricedLine {
		return client.PricedLine{SKU: "SKU-A", Name: "Widget", Quantity: qty, UnitPrice: price}
	}
	b := func(qty, price int64) client.PricedLine {
		return client.PricedLine{SKU: "SKU-B", Name: "Gadget", Quantity: qty, UnitPrice: price}
	}
	tests := []struct {
		name   string
		req    client.TransitionRequest
		total  int64
		status int
		code   string
	}{
		{name: "priced", req: withLines("EUR", a(2, 1250), b(1, 999)), total: pricedTotal},
		{name: "any line order", req: withLines("USD", b(1, 5), a(2, 7)), total: 19},
		{name: "free", req: withLines("EUR", a(2, 0), b(1, 0)), total: 0},
		{name: "largest total", req: withLines("EUR", a(2, math.MaxInt64/4+1), b(1, math.MaxInt64/2)), total: math.MaxInt64},
		{name: "line overflow", req: withLines("EUR", a(2, math.MaxInt64/2+1), b(1, 1)), status: 422, code: problem.CodeAmountOverflow},
		{name: "total overflow", req: withLines("EUR", a(2, math.MaxInt64/4+1), b(1, math.MaxInt64/2+1)), status: 422, code: problem.CodeAmountOverflow},
		{name: "no currency", req: withLines("", a(2, 1), b(1, 1)), status: 422, code: problem.CodeValidation},
		{name: "bad currency", req: withLines("euro", a(2, 1), b(1, 1)), status: 422},
		{name: "no lines", req: withLines("EUR"), status: 422, code: problem.CodeValidation},
		{name: "missing line", req: withLines("EUR", a(2, 1)), status: 422, code: problem.CodeValidation},
		{name: "extra line", req: withLines("EUR", a(2, 1), b(1, 1), client.PricedLine{SKU: "SKU-C", Quantity: 1}), status: 422, code: problem.CodeValidation},
		{name: "other sku", req: withLines("EUR", a(2, 1), client.PricedLine{SKU: "SKU-C", Quantity: 1}), status: 422, code: problem.CodeValidation},
		{name: "duplicate sku", req: withLines("EUR", a(2, 1), a(2, 1)), status: 422, code: problem.CodeValidation},
		{name: "other quantity", req: withLines("EUR", a(3, 1), b(1, 1)), status: 422, code: problem.CodeValidation},
		{name: "negative price", req: withLines("EUR", a(2, -1), b(1, 1)), status: 422},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			id := fmt.Sprintf("p-%d", i)
			e.create(id, "c")
			got, err := e.c.Transition(ctx, id, e.key(), tc.req)
			if tc.status != 0 {
				serviceError(t, err, tc.status, tc.code)
				after, err := e.c.Get(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if after.Status != client.StatusPending || after.Total != 0 || after.Currency != "" || after.Lines[0].UnitPrice != 0 {
					t.Fatalf("refused pricing left a trace: %+v", after)
				}
				return
			}
			if err != nil {
				t.Fatalf("pricing refused: %v", err)
			}
			stored, err := e.c.Get(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range []client.Order{got, stored} {
				if o.Status != client.StatusReserved || o.Total != tc.total || o.Currency != tc.req.Currency {
					t.Fatalf("order = %s %d %s, want RESERVED %d %s", o.Status, o.Total, o.Currency, tc.total, tc.req.Currency)
				}
				var sum int64
				for _, l := range o.Lines {
					if l.LineTotal != l.Quantity*l.UnitPrice || l.Name == "" {
						t.Fatalf("line %+v is not priced", l)
					}
					sum += l.LineTotal
				}
				if sum != tc.total {
					t.Fatalf("lines sum to %d, want %d", sum, tc.total)
				}
			}
		})
	}
	e.t = t
	// Pricing belongs to the move to RESERVED only.
	e.orderIn("p-late", client.StatusReserved)
	late := pricing()
	late.Status = client.StatusAuthorized
	_, err := e.c.Transition(ctx, "p-late", e.key(), late)
	serviceError(t, err, http.StatusUnprocessableEntity, problem.CodeValidation)
}

func TestHistoryAuditTrail(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	created := e.create("h1", "c1")
	if len(created.History) != 1 || created.History[0].From != "" || created.History[0].To != string(client.StatusPending) ||
		created.History[0].Reason != "order received" {
		t.Fatalf("creation history = %+v", created.History)
	}
	steps := []client.TransitionRequest{
		pricing(),
		{Status: client.StatusAuthorized, Reason: "payment authorized"},
		{Status: client.StatusCompensating, Reason: "approval rejected"},
		{Status: client.StatusCompensationFailed, Reason: "void keeps failing"},
		{Status: client.StatusCompensating, Reason: "void retried"},
		{Status: client.StatusFailed, Reason: "rejected by ops"},
	}
	for _, s := range steps {
		e.move("h1", s)
	}
	got, err := e.c.Get(ctx, "h1")
	if err != nil {
		t.Fatal(err)
	}
	want := []client.HistoryEntry{
		{From: "", To: "PENDING", Reason: "order received"},
		{From: "PENDING", To: "RESERVED", Reason: "stock reserved"},
		{From: "RESERVED", To: "AUTHORIZED", Reason: "payment authorized"},
		{From: "AUTHORIZED", To: "COMPENSATING", Reason: "approval rejected"},
		{From: "COMPENSATING", To: "COMPENSATION_FAILED", Reason: "void keeps failing"},
		{From: "COMPENSATION_FAILED", To: "COMPENSATING", Reason: "void retried"},
		{From: "COMPENSATING", To: "FAILED", Reason: "rejected by ops"},
	}
	if len(got.History) != len(want) {
		t.Fatalf("history = %+v, want %d entries", got.History, len(want))
	}
	for i, w := range want {
		h := got.History[i]
		if h.From != w.From || h.To != w.To || h.Reason != w.Reason || h.At.IsZero() {
			t.Errorf("history[%d] = %+v, want %+v", i, h, w)
		}
		if i > 0 && h.At.Before(got.History[i-1].At) {
			t.Errorf("history[%d] is older than the entry before it", i)
		}
	}
	if got.Status != client.StatusFailed || got.FailureReason != "rejected by ops" || got.Total != pricedTotal {
		t.Fatalf("order = %+v", got)
	}
	e.orderIn("h2", client.StatusAuthorized)
	cancelled := e.move("h2", client.TransitionRequest{Status: client.StatusCancelled, Reason: "customer changed their mind"})
	if cancelled.FailureReason != "customer changed their mind" {
		t.Fatalf("failure reason = %q", cancelled.FailureReason)
	}
}

func TestCreateOrder(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	first := e.create("c1", "cust-1")
	if first.Status != client.StatusPending || first.CustomerID != "cust-1" || first.WorkflowID != "order-c1" ||
		len(first.Lines) != 2 || first.Total != 0 || first.CreatedAt.IsZero() {
		t.Fatalf("created = %+v", first)
	}
	if first.Lines[0].SKU != "SKU-A" || first.Lines[0].Quantity != 2 || first.Lines[1].SKU != "SKU-B" {
		t.Fatalf("lines = %+v", first.Lines)
	}

	same := newOrderRequest("c1", "cust-1")
	reordered := newOrderRequest("c1", "cust-1")
	slices.Reverse(reordered.Lines)
	otherCustomer := newOrderRequest("c1", "cust-2")
	otherQty := newOrderRequest("c1", "cust-1")
	otherQty.Lines[0].Quantity = 3
	fewerLines := newOrderRequest("c1", "cust-1")
	fewerLines.Lines = fewerLines.Lines[:1]
	otherWorkflow := newOrderRequest("c1", "cust-1")
	otherWorkflow.WorkflowID = "another"
	dupSKU := newOrderRequest("c2", "cust-1")
	dupSKU.Lines[1].SKU = "SKU-A"
	tests := []struct {
		name   string
		req    client.CreateOrderRequest
		status int
		code   string
	}{
		{name: "same content", req: same},
		{name: "same lines in another order", req: reordered},
		{name: "other customer", req: otherCustomer, status: http.StatusConflict, code: problem.CodeConflict},
		{name: "other quantity", req: otherQty, status: http.StatusConflict, code: problem.CodeConflict},
		{name: "fewer lines", req: fewerLines, status: http.StatusConflict, code: problem.CodeConflict},
		{name: "other workflow", req: otherWorkflow, status: http.StatusConflict, code: problem.CodeConflict},
		{name: "duplicate sku", req: dupSKU, status: http.StatusUnprocessableEntity, code: problem.CodeValidation},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.c.Create(ctx, e.key(), tc.req)
			if tc.status != 0 {
				serviceError(t, err, tc.status, tc.code)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != first.ID || !got.CreatedAt.Equal(first.CreatedAt) || len(got.History) != 1 {
				t.Fatalf("duplicate create = %+v, want the stored order", got)
			}
		})
	}
	if n := e.count(`SELECT count(*) FROM orders`); n != 1 {
		t.Fatalf("orders = %d, want 1 (refusals must not write)", n)
	}
	if n := e.count(`SELECT count(*) FROM order_status_history`); n != 1 {
		t.Fatalf("history rows = %d, want 1", n)
	}
	// An existing order is returned as it is now, even after it moved on.
	e.move("c1", pricing())
	again, err := e.c.Create(ctx, e.key(), same)
	if err != nil || again.Status != client.StatusReserved {
		t.Fatalf("create after move = %+v, %v", again, err)
	}
}

func TestRequestValidation(t *testing.T) {
	e := newEnv(t)
	e.create("v1", "c")
	valid := mustJSON(t, newOrderRequest("v2", "c"))
	tests := []struct {
		name   string
		method string
		path   string
		key    string
		body   string
	}{
		{name: "unknown field on create", method: "POST", path: "/orders", key: "k1",
			body: `{"order_id":"v3","customer_id":"c","workflow_id":"w","lines":[{"sku":"A","quantity":1}],"price":5}`},
		{name: "unknown field in a line", method: "POST", path: "/orders", key: "k2",
			body: `{"order_id":"v3","customer_id":"c","workflow_id":"w","lines":[{"sku":"A","quantity":1,"unit_price":1}]}`},
		{name: "unknown field on transition", method: "POST", path: "/orders/v1/transitions", key: "k3",
			body: `{"status":"CANCELLED","force":true}`},
		{name: "missing idempotency key", method: "POST", path: "/orders", body: valid},
		{name: "oversized idempotency key", method: "POST", path: "/orders", key: strings.Repeat("k", 256), body: valid},
		{name: "malformed json", method: "POST", path: "/orders", key: "k4", body: `{"order_id":`},
		{name: "zero quantity", method: "POST", path: "/orders", key: "k5",
			body: `{"order_id":"v3","customer_id":"c","workflow_id":"w","lines":[{"sku":"A","quantity":0}]}`},
		{name: "negative quantity", method: "POST", path: "/orders", key: "k6",
			body: `{"order_id":"v3","customer_id":"c","workflow_id":"w","lines":[{"sku":"A","quantity":-2}]}`},
		{name: "no lines", method: "POST", path: "/orders", key: "k7",
			body: `{"order_id":"v3","customer_id":"c","workflow_id":"w","lines":[]}`},
		{name: "missing customer", method: "POST", path: "/orders", key: "k8",
			body: `{"order_id":"v3","workflow_id":"w","lines":[{"sku":"A","quantity":1}]}`},
		{name: "unknown status", method: "POST", path: "/orders/v1/transitions", key: "k9", body: `{"status":"SHIPPED"}`},
		{name: "quantity as string", method: "POST", path: "/orders", key: "k10",
			body: `{"order_id":"v3","customer_id":"c","workflow_id":"w","lines":[{"sku":"A","quantity":"1"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.t = t
			status, body := e.raw(tc.method, tc.path, tc.key, tc.body)
			if status < 400 || status > 499 {
				t.Fatalf("status = %d (%s), want 4xx", status, body)
			}
		})
	}
	e.t = t
	if n := e.count(`SELECT count(*) FROM orders`); n != 1 {
		t.Fatalf("orders = %d, want 1: refused requests must not write", n)
	}
	got, err := e.c.Get(context.Background(), "v1")
	if err != nil || got.Status != client.StatusPending {
		t.Fatalf("order v1 = %+v, %v", got, err)
	}
}

func TestIdempotencyKeys(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()

	t.Run("create replay", func(t *testing.T) {
		req := newOrderRequest("i1", "c")
		first, err := e.c.Create(ctx, "create-i1", req)
		if err != nil {
			t.Fatal(err)
		}
		// Moving on does not change what the key answers.
		e.t = t
		e.move("i1", pricing())
		replay, err := e.c.Create(ctx, "create-i1", req)
		if err != nil {
			t.Fatal(err)
		}
		if mustJSON(t, replay) != mustJSON(t, first) {
			t.Fatalf("replay = %+v, want the first answer %+v", replay, first)
		}
		other := newOrderRequest("i1-other", "c")
		_, err = e.c.Create(ctx, "create-i1", other)
		serviceError(t, err, http.StatusUnprocessableEntity, problem.CodeIdempotencyReused)
		if n := e.count(`SELECT count(*) FROM orders WHERE id = 'i1-other'`); n != 0 {
			t.Fatal("a reused key created an order")
		}
	})

	t.Run("transition replay", func(t *testing.T) {
		e.t = t
		e.create("i2", "c")
		req := client.TransitionRequest{Status: client.StatusCancelled, Reason: "customer cancelled"}
		first, err := e.c.Transition(ctx, "i2", "cancel-i2", req)
		if err != nil {
			t.Fatal(err)
		}
		replay, err := e.c.Transition(ctx, "i2", "cancel-i2", req)
		if err != nil {
			t.Fatal(err)
		}
		if mustJSON(t, replay) != mustJSON(t, first) {
			t.Fatalf("replay = %+v, want %+v", replay, first)
		}
		if n := e.count(`SELECT count(*) FROM order_status_history WHERE order_id = 'i2'`); n != 2 {
			t.Fatalf("history rows = %d, want 2", n)
		}
		_, err = e.c.Transition(ctx, "i2", "cancel-i2", client.TransitionRequest{Status: client.StatusFailed, Reason: "other"})
		serviceError(t, err, http.StatusUnprocessableEntity, problem.CodeIdempotencyReused)
		// The same body for another order is another request.
		e.create("i2b", "c")
		_, err = e.c.Transition(ctx, "i2b", "cancel-i2", req)
		serviceError(t, err, http.StatusUnprocessableEntity, problem.CodeIdempotencyReused)
		// A key belongs to one operation.
		_, err = e.c.Create(ctx, "cancel-i2", newOrderRequest("i2c", "c"))
		serviceError(t, err, http.StatusUnprocessableEntity, problem.CodeIdempotencyReused)
	})

	t.Run("refusal replay", func(t *testing.T) {
		e.t = t
		e.create("i3", "c")
		req := client.TransitionRequest{Status: client.StatusCaptured, Reason: "too early"}
		_, err := e.c.Transition(ctx, "i3", "capture-i3", req)
		serviceError(t, err, http.StatusConflict, problem.CodeInvalidTransition)
		// Even once the move would be allowed, the key keeps its recorded refusal.
		for _, m := range pathTo(client.StatusAuthorized) {
			e.move("i3", m)
		}
		_, err = e.c.Transition(ctx, "i3", "capture-i3", req)
		serviceError(t, err, http.StatusConflict, problem.CodeInvalidTransition)
		got, err := e.c.Transition(ctx, "i3", "capture-i3-again", req)
		if err != nil || got.Status != client.StatusCaptured {
			t.Fatalf("capture with a new key = %+v, %v", got, err)
		}
	})

	t.Run("concurrent duplicates", func(t *testing.T) {
		e.t = t
		req := newOrderRequest("i4", "c")
		const n = 8
		var wg sync.WaitGroup
		results := make([]client.Order, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Half share one key, half use their own: all must see one order.
				key := "same-i4"
				if i%2 == 1 {
					key = fmt.Sprintf("own-i4-%d", i)
				}
				results[i], errs[i] = e.c.Create(ctx, key, req)
			}()
		}
		wg.Wait()
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("create %d: %v", i, errs[i])
			}
			if !results[i].CreatedAt.Equal(results[0].CreatedAt) {
				t.Fatalf("creates returned different orders: %+v vs %+v", results[i], results[0])
			}
		}
		if c := e.count(`SELECT count(*) FROM order_status_history WHERE order_id = 'i4'`); c != 1 {
			t.Fatalf("history rows = %d, want 1", c)
		}
	})
}

func TestListOrders(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	customers := []string{"alice", "bob", "carol"}
	type ref struct {
		id, customer string
		status       client.Status
	}
	var all []ref
	for i := range 23 {
		id := fmt.Sprintf("l-%02d", i)
		customer := customers[i%len(customers)]
		e.create(id, customer)
		status := client.StatusPending
		if i%4 == 0 {
			e.move(id, client.TransitionRequest{Status: client.StatusCancelled, Reason: "test"})
			status = client.StatusCancelled
		}
		all = append(all, ref{id, customer, status})
	}
	// Give a run of orders one creation time so pages must break ties by id.
	if _, err := e.db.Exec(`UPDATE orders SET created_at = '2026-01-01T00:00:00Z' WHERE id BETWEEN 'l-05' AND 'l-14'`); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		filter client.ListFilter
		keep   func(ref) bool
	}{
		{name: "all, pages of 4", filter: client.ListFilter{Limit: 4}, keep: func(ref) bool { return true }},
		{name: "all, default page", filter: client.ListFilter{}, keep: func(ref) bool { return true }},
		{name: "all, pages of 1", filter: client.ListFilter{Limit: 1}, keep: func(ref) bool { return true }},
		{name: "one customer", filter: client.ListFilter{CustomerID: "bob", Limit: 3}, keep: func(r ref) bool { return r.customer == "bob" }},
		{name: "one status", filter: client.ListFilter{Status: client.StatusCancelled, Limit: 2}, keep: func(r ref) bool { return r.status == client.StatusCancelled }},
		{name: "customer and status", filter: client.ListFilter{CustomerID: "alice", Status: client.StatusPending, Limit: 2},
			keep: func(r ref) bool { return r.customer == "alice" && r.status == client.StatusPending }},
		{name: "no match", filter: client.ListFilter{CustomerID: "nobody"}, keep: func(ref) bool { return false }},
		{name: "exact multiple of the page", filter: client.ListFilter{CustomerID: "carol", Limit: 7}, keep: func(r ref) bool { return r.customer == "carol" }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := map[string]bool{}
			for _, r := range all {
				if tc.keep(r) {
					want[r.id] = true
				}
			}
			limit := tc.filter.Limit
			if limit == 0 {
				limit = 20
			}
			var got []client.Order
			f := tc.filter
			for pages := 0; ; pages++ {
				if pages > len(all)+1 {
					t.Fatal("pagination does not end")
				}
				page, err := e.c.List(ctx, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Items) > limit {
					t.Fatalf("page has %d items, limit %d", len(page.Items), limit)
				}
				got = append(got, page.Items...)
				if page.NextCursor == "" {
					break
				}
				if len(page.Items) != limit {
					t.Fatalf("a page with a next cursor has %d items, want %d", len(page.Items), limit)
				}
				f.Cursor = page.NextCursor
			}
			seen := map[string]bool{}
			for i, o := range got {
				if seen[o.ID] {
					t.Fatalf("order %s listed twice", o.ID)
				}
				seen[o.ID] = true
				if !want[o.ID] {
					t.Fatalf("order %s (%s, %s) does not match the filter", o.ID, o.CustomerID, o.Status)
				}
				if len(o.Lines) != 2 {
					t.Fatalf("order %s listed with lines %+v", o.ID, o.Lines)
				}
				if i > 0 {
					prev := got[i-1]
					if o.CreatedAt.After(prev.CreatedAt) || (o.CreatedAt.Equal(prev.CreatedAt) && o.ID > prev.ID) {
						t.Fatalf("order %s is listed after the older %s", o.ID, prev.ID)
					}
				}
			}
			if len(seen) != len(want) {
				t.Fatalf("listed %d orders, want %d", len(seen), len(want))
			}
		})
	}
}

func TestListRejectsBadQueries(t *testing.T) {
	e := newEnv(t)
	e.create("b1", "c")
	e.create("b2", "c")
	page, err := e.c.List(context.Background(), client.ListFilter{Limit: 1})
	if err != nil || page.NextCursor == "" {
		t.Fatalf("first page = %+v, %v", page, err)
	}
	enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	tests := []struct {
		name   string
		filter client.ListFilter
	}{
		{name: "cursor not base64", filter: client.ListFilter{Cursor: "***"}},
		{name: "cursor truncated", filter: client.ListFilter{Cursor: page.NextCursor[:len(page.NextCursor)/2]}},
		{name: "cursor not json", filter: client.ListFilter{Cursor: enc("hello")}},
		{name: "cursor without id", filter: client.ListFilter{Cursor: enc(`{"t":"2026-01-01T00:00:00Z"}`)}},
		{name: "cursor with bad time", filter: client.ListFilter{Cursor: enc(`{"t":"soon","id":"b1"}`)}},
		{name: "cursor of wrong shape", filter: client.ListFilter{Cursor: enc(`[1,2,3]`)}},
		{name: "huge cursor", filter: client.ListFilter{Cursor: strings.Repeat("A", 4000)}},
		{name: "unknown status", filter: client.ListFilter{Status: "SHIPPED"}},
		{name: "lower-case status", filter: client.ListFilter{Status: "pending"}},
		{name: "limit too large", filter: client.ListFilter{Limit: 101}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.c.List(context.Background(), tc.filter)
			var se *svcclient.Error
			if !errors.As(err, &se) || se.Status < 400 || se.Status > 499 {
				t.Fatalf("list error = %v, want a 4xx answer", err)
			}
		})
	}
	for _, q := range []string{"limit=0", "limit=-1", "limit=abc"} {
		status, body := e.raw("GET", "/orders?"+q, "", "")
		if status < 400 || status > 499 {
			t.Fatalf("GET /orders?%s = %d %s, want 4xx", q, status, body)
		}
	}
}

func TestGetUnknownOrder(t *testing.T) {
	e := newEnv(t)
	_, err := e.c.Get(context.Background(), "nope")
	serviceError(t, err, http.StatusNotFound, problem.CodeNotFound)
}

func TestInternalErrorsAreGeneric(t *testing.T) {
	e := newEnv(t)
	e.create("x1", "c")
	if _, err := e.db.Exec(`DROP TABLE order_status_history`); err != nil {
		t.Fatal(err)
	}
	ctx := requestid.With(context.Background(), "req-internal-1")
	calls := map[string]func() error{
		"get": func() error { _, err := e.c.Get(ctx, "x1"); return err },
		"create": func() error {
			_, err := e.c.Create(ctx, "x-create", newOrderRequest("x2", "c"))
			return err
		},
		"transition": func() error {
			_, err := e.c.Transition(ctx, "x1", "x-cancel", client.TransitionRequest{Status: client.StatusCancelled})
			return err
		},
	}
	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			se := serviceError(t, call(), http.StatusInternalServerError, problem.CodeInternal)
			for _, leak := range []string{"order_status_history", "relation", "pq:", "does not exist"} {
				if strings.Contains(se.Detail, leak) {
					t.Fatalf("500 detail leaks %q: %s", leak, se.Detail)
				}
			}
		})
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "req-internal-1") || !strings.Contains(logs, "order_status_history") {
		t.Fatalf("the cause is not logged with the request id:\n%s", logs)
	}
	// Failed steps are not recorded, so the keys stay usable.
	if n := e.count(`SELECT count(*) FROM idempotency_keys WHERE key LIKE 'x-%'`); n != 0 {
		t.Fatalf("%d idempotency keys recorded for failed requests", n)
	}
	if n := e.count(`SELECT count(*) FROM orders WHERE id = 'x2'`); n != 0 {
		t.Fatal("a failed create left an order behind")
	}
}
