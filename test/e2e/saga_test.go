package e2e

import (
	"context"
	"errors"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	payclient "github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/test/testenv"
	"github.com/sagaflow/sagaflow/tools/localinfra"
)

// TestEndToEnd drives every saga path through the public API of one running system, then
// checks the invariants over everything the scenarios left behind.
func TestEndToEnd(t *testing.T) {
	s := startSystem(t)
	t.Run("scenarios", func(t *testing.T) {
		t.Run("happy path confirms and charges once", s.testHappyPath)
		t.Run("business failures compensate exactly", s.testBusinessFailures)
		t.Run("cancel after capture is refused", s.testCancelAfterCapture)
		t.Run("approval through the temporal CLI", s.testApprovalThroughCLI)
		t.Run("approval through the API", s.testApprovalThroughAPI)
		t.Run("repeated idempotency key replays the outcome", s.testIdempotentReplay)
		t.Run("last unit goes to exactly one order", s.testLastUnit)
		t.Run("client generated from the OpenAPI document", s.testGeneratedClient)
	})
	if !t.Failed() {
		s.requireInvariants(t)
	}
}

func (s *liveSystem) testHappyPath(t *testing.T) {
	t.Parallel()
	headers := s.customer(t, "cust-happy")
	headers["Idempotency-Key"], headers["Prefer"] = "happy-"+testenv.Suffix(), "wait=20"
	resp := s.do(t, s.apiURL, http.MethodPost, "/orders", headers,
		placeOrder{CustomerID: "cust-happy", PaymentToken: payclient.TokenVisa, Lines: []line{{"BEANS", 2}, {"MUG", 1}}})
	if resp.status != http.StatusOK {
		t.Fatalf("place with wait: %d %s", resp.status, resp.body)
	}
	var placed api.Order
	resp.decode(t, &placed)
	if placed.Status != "CONFIRMED" {
		t.Fatalf("status %s (%s), want CONFIRMED", placed.Status, placed.FailureReason)
	}
	o := s.order(t, placed.ID)
	if o.CustomerID != "cust-happy" {
		t.Fatalf("the order is %q's, want the token's subject", o.CustomerID)
	}
	if want := int64(2*2450 + 1500); o.Total != want || o.Currency != "USD" {
		t.Fatalf("total %d %s, want %d USD", o.Total, o.Currency, want)
	}
	for _, l := range o.Lines {
		if l.UnitPrice == 0 || l.LineTotal != l.UnitPrice*l.Quantity {
			t.Fatalf("line not priced from the catalog: %+v", l)
		}
	}
	if o.Saga == nil {
		t.Fatal("no saga state in the order")
	}
	want := []string{"create-order", "reserve-stock", "authorize-payment", "capture-payment", "commit-stock", "confirm-order"}
	for _, name := range want {
		if !slices.Contains(stepNames(o.Saga.Steps, "completed"), name) {
			t.Fatalf("step %s not completed: %s", name, fmtSteps(o.Saga.Steps))
		}
	}
	if len(stepNames(o.Saga.Compensations, "")) != 0 {
		t.Fatalf("compensations ran on the happy path: %s", fmtSteps(o.Saga.Compensations))
	}
	ctx := context.Background()
	pay, err := s.payments.Get(ctx, placed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if pay.Status != payclient.PaymentCaptured || pay.Captured != o.Total || countKind(pay.Ledger, payclient.EntryCapture) != 1 || countKind(pay.Ledger, payclient.EntryAuthorize) != 1 {
		t.Fatalf("payment %+v, want one authorization and one capture of %d", pay, o.Total)
	}
	res, err := s.inventory.GetReservation(ctx, placed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != invclient.ReservationCommitted {
		t.Fatalf("reservation %s, want COMMITTED", res.Status)
	}
	var history []string
	for _, h := range o.History {
		history = append(history, h.To)
	}
	if !slices.Equal(history, []string{"PENDING", "RESERVED", "AUTHORIZED", "CAPTURED", "CONFIRMED"}) {
		t.Fatalf("history %v", history)
	}
}

func countKind(entries []payclient.LedgerEntry, kind string) int {
	n := 0
	for _, e := range entries {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// act does what a scenario does to a placed order before it ends.
type act func(t *testing.T, s *liveSystem, id string)

// holdThen sends a decision on the held order with the caller's Authorization: the
// decision is recorded as the caller's.
func holdThen(decision string, caller func(t *testing.T, s *liveSystem) map[string]string, body map[string]string) act {
	return func(t *testing.T, s *liveSystem, id string) {
		s.awaitStatus(t, id, "AWAITING_APPROVAL")
		resp := s.do(t, s.apiURL, http.MethodPost, "/orders/"+id+"/"+decision, caller(t, s), body)
		if resp.status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", decision, resp.status, resp.body)
		}
	}
}

func operatorNamed(subject string) func(t *testing.T, s *liveSystem) map[string]string {
	return func(t *testing.T, s *liveSystem) map[string]string { return s.operatorAs(t, subject) }
}

func customerNamed(id string) func(t *testing.T, s *liveSystem) map[string]string {
	return func(t *testing.T, s *liveSystem) map[string]string { return s.customer(t, id) }
}

func (s *liveSystem) testBusinessFailures(t *testing.T) {
	t.Parallel()
	visa := payclient.TokenVisa
	cases := []struct {
		name              string
		api               func(s *liveSystem) string
		token             string
		lines             []line
		then              act
		wantStatus        orderclient.Status
		wantReason        string
		wantCompensations []string // in the order they ran
		authorized        bool
	}{
		{name: "unknown SKU", token: visa, lines: []line{{"BEANS", 1}, {"NO-SUCH-SKU", 1}},
			wantStatus: "FAILED", wantReason: "NO-SUCH-SKU", wantCompensations: []string{"release-stock"}},
		{name: "short stock", token: visa, lines: []line{{"FEW", 4}},
			wantStatus: "FAILED", wantReason: "FEW", wantCompensations: []string{"release-stock"}},
		{name: "declined card", token: payclient.TokenChargeDeclined, lines: []line{{"BEANS", 1}},
			wantStatus: "FAILED", wantReason: "declined", wantCompensations: []string{"void-payment", "release-stock"}},
		{name: "insufficient funds", token: payclient.TokenInsufficientFunds, lines: []line{{"MUG", 3}},
			wantStatus: "FAILED", wantReason: "insufficient", wantCompensations: []string{"void-payment", "release-stock"}},
		{name: "rejected by an operator", token: visa, lines: []line{{"MACHINE", 1}},
			then:       holdThen("reject", operatorNamed("alice"), map[string]string{"reason": "too large"}),
			wantStatus: "FAILED", wantReason: "alice", wantCompensations: []string{"void-payment", "release-stock"}, authorized: true},
		{name: "approval timed out", api: func(s *liveSystem) string { return s.fastTimeout }, token: visa, lines: []line{{"MACHINE", 1}},
			wantStatus: "FAILED", wantReason: "timed out", wantCompensations: []string{"void-payment", "release-stock"}, authorized: true},
		{name: "cancelled while awaiting approval", token: visa, lines: []line{{"MACHINE", 1}},
			then:       holdThen("cancel", customerNamed("cust-fail"), map[string]string{"reason": "changed my mind"}),
			wantStatus: "CANCELLED", wantReason: "cancelled by cust-fail: changed my mind", wantCompensations: []string{"void-payment", "release-stock"}, authorized: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			base := s.apiURL
			if tc.api != nil {
				base = tc.api(s)
			}
			id := s.place(t, base, placeOrder{CustomerID: "cust-fail", PaymentToken: tc.token, Lines: tc.lines})
			if tc.then != nil {
				tc.then(t, s, id)
			}
			s.awaitSagaEnd(t, id)
			o := s.order(t, id)
			if o.Status != tc.wantStatus {
				t.Fatalf("status %s (%s), want %s", o.Status, o.FailureReason, tc.wantStatus)
			}
			if !strings.Contains(strings.ToLower(o.FailureReason), strings.ToLower(tc.wantReason)) {
				t.Fatalf("reason %q does not mention %q", o.FailureReason, tc.wantReason)
			}
			if got := stepNames(o.Saga.Compensations, "completed"); !slices.Equal(got, tc.wantCompensations) {
				t.Fatalf("compensations %v, want %v (%s)", got, tc.wantCompensations, fmtSteps(o.Saga.Compensations))
			}
			ctx := context.Background()
			res, err := s.inventory.GetReservation(ctx, id)
			if err != nil {
				t.Fatalf("reservation: %v", err)
			}
			if res.Status != invclient.ReservationReleased {
				t.Fatalf("reservation %s, want RELEASED", res.Status)
			}
			pay, err := s.payments.Get(ctx, id)
			var notFound *svcclient.Error
			switch {
			case errors.As(err, &notFound) && notFound.Status == http.StatusNotFound:
				if tc.authorized {
					t.Fatal("no payment, but the saga authorized one")
				}
			case err != nil:
				t.Fatal(err)
			default:
				if pay.Status != payclient.PaymentVoided || pay.Captured != 0 {
					t.Fatalf("payment %s captured %d, want VOIDED and nothing captured", pay.Status, pay.Captured)
				}
			}
		})
	}
}

func (s *liveSystem) testCancelAfterCapture(t *testing.T) {
	t.Parallel()
	id := s.place(t, s.apiURL, placeOrder{CustomerID: "cust-late", PaymentToken: payclient.TokenVisa, Lines: []line{{"MUG", 1}}})
	s.awaitSagaEnd(t, id)
	resp := s.do(t, s.apiURL, http.MethodPost, "/orders/"+id+"/cancel", s.customer(t, "cust-late"), map[string]string{"reason": "too late"})
	if resp.status != http.StatusConflict {
		t.Fatalf("cancel after capture: %d %s, want 409", resp.status, resp.body)
	}
	if o := s.order(t, id); o.Status != "CONFIRMED" {
		t.Fatalf("status %s after a refused cancel", o.Status)
	}
}

func (s *liveSystem) testApprovalThroughCLI(t *testing.T) {
	t.Parallel()
	bin, err := localinfra.FindBinary()
	if err != nil {
		t.Fatal(err)
	}
	id := s.place(t, s.apiURL, placeOrder{CustomerID: "cust-big", PaymentToken: payclient.TokenVisa, Lines: []line{{"MACHINE", 1}}})
	s.awaitStatus(t, id, "AWAITING_APPROVAL")
	cmd := exec.Command(bin, "workflow", "signal", "--address", s.temporalAt,
		"--workflow-id", "order-"+id, "--name", "approve", "--input", `{"by":"ops-oncall","reason":"verified by phone"}`)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("temporal workflow signal: %v\n%s", err, out)
	}
	o := s.awaitStatus(t, id, "CONFIRMED")
	if o.Saga == nil || o.Saga.Decision == nil || o.Saga.Decision.By != "ops-oncall" {
		t.Fatalf("decision not recorded: %+v", o.Saga)
	}
}

func (s *liveSystem) testApprovalThroughAPI(t *testing.T) {
	t.Parallel()
	id := s.place(t, s.apiURL, placeOrder{CustomerID: "cust-big", PaymentToken: payclient.TokenVisa, Lines: []line{{"MACHINE", 1}}})
	// The customer may not approve their own held order.
	s.awaitStatus(t, id, "AWAITING_APPROVAL")
	if resp := s.do(t, s.apiURL, http.MethodPost, "/orders/"+id+"/approve", s.customer(t, "cust-big"), nil); resp.status != http.StatusForbidden {
		t.Fatalf("approve by the customer: %d %s, want 403", resp.status, resp.body)
	}
	holdThen("approve", operatorNamed("bob"), map[string]string{"reason": "verified"})(t, s, id)
	o := s.awaitStatus(t, id, "CONFIRMED")
	// The decision is the operator's, as their token says.
	if o.Saga == nil || o.Saga.Decision == nil || o.Saga.Decision.By != "bob" || o.Saga.Decision.Reason != "verified" {
		t.Fatalf("decision recorded as %+v, want bob's", o.Saga)
	}
	// A second approval of a finished order is refused.
	resp := s.do(t, s.apiURL, http.MethodPost, "/orders/"+id+"/approve", s.operatorAs(t, "bob"), nil)
	if resp.status != http.StatusConflict {
		t.Fatalf("approve after confirm: %d %s, want 409", resp.status, resp.body)
	}
}

func (s *liveSystem) testIdempotentReplay(t *testing.T) {
	t.Parallel()
	key := "replay-" + testenv.Suffix()
	body := placeOrder{CustomerID: "cust-replay", PaymentToken: payclient.TokenVisa, Lines: []line{{"BEANS", 1}}}
	headers := s.customer(t, "cust-replay")
	headers["Idempotency-Key"], headers["Prefer"] = key, "wait=20"
	first := s.do(t, s.apiURL, http.MethodPost, "/orders", headers, body)
	if first.status != http.StatusOK {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	for i := 0; i < 3; i++ {
		again := s.do(t, s.apiURL, http.MethodPost, "/orders", headers, body)
		if again.status != first.status || string(again.body) != string(first.body) || again.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay %d: %d %s (replayed=%q), want the first answer", i, again.status, again.body, again.header.Get("Idempotent-Replayed"))
		}
	}
	changed := body
	changed.Lines = []line{{"BEANS", 2}}
	if resp := s.do(t, s.apiURL, http.MethodPost, "/orders", headers, changed); resp.status != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other body: %d %s, want 422", resp.status, resp.body)
	}
	var placed api.Order
	first.decode(t, &placed)
	pay, err := s.payments.Get(context.Background(), placed.ID)
	if err != nil {
		t.Fatal(err)
	}
	if countKind(pay.Ledger, payclient.EntryAuthorize) != 1 || countKind(pay.Ledger, payclient.EntryCapture) != 1 {
		t.Fatalf("ledger %+v, want one authorization and one capture", pay.Ledger)
	}
}

func (s *liveSystem) testLastUnit(t *testing.T) {
	t.Parallel()
	const buyers = 8
	ids := make([]string, buyers)
	var wg sync.WaitGroup
	for i := range buyers {
		wg.Go(func() {
			ids[i] = s.place(t, s.apiURL, placeOrder{CustomerID: "cust-race", PaymentToken: payclient.TokenVisa, Lines: []line{{"LAST-ONE", 1}}})
		})
	}
	wg.Wait()
	confirmed := 0
	for _, id := range ids {
		s.awaitSagaEnd(t, id)
		o := s.order(t, id)
		switch o.Status {
		case "CONFIRMED":
			confirmed++
		case "FAILED":
			if !strings.Contains(strings.ToLower(o.FailureReason), "stock") {
				t.Fatalf("order %s failed for %q, want out of stock", id, o.FailureReason)
			}
		default:
			t.Fatalf("order %s ended %s", id, o.Status)
		}
	}
	if confirmed != 1 {
		t.Fatalf("%d orders got the last unit, want exactly 1", confirmed)
	}
	p, err := s.inventory.GetProduct(context.Background(), "LAST-ONE")
	if err != nil {
		t.Fatal(err)
	}
	if p.OnHand != 0 || p.Reserved != 0 {
		t.Fatalf("LAST-ONE on hand %d reserved %d, want 0 and 0", p.OnHand, p.Reserved)
	}
}
