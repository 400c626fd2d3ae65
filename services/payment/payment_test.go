package payment_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/requestid"
	"github.com/sagaflow/sagaflow/services/payment"
	"github.com/sagaflow/sagaflow/services/payment/client"
)

func TestAuthorizeByToken(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	cases := []struct {
		token  string
		status int
		code   string
	}{
		{client.TokenVisa, 0, ""},
		{client.TokenMastercard, 0, ""},
		{client.TokenChargeDeclined, http.StatusPaymentRequired, problem.CodeCardDeclined},
		{client.TokenInsufficientFunds, http.StatusPaymentRequired, problem.CodeInsufficientFunds},
		{"tok_unknown", http.StatusUnprocessableEntity, problem.CodeValidation},
	}
	for _, tc := range cases {
		t.Run(tc.token, func(t *testing.T) {
			orderID := "ord-" + tc.token
			key := "auth-" + tc.token
			p, err := e.c.Authorize(ctx, key, authorizeReq(orderID, 4999, tc.token))
			if tc.status == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if p.Status != client.PaymentAuthorized || p.Amount != 4999 || p.Currency != "EUR" || p.Captured != 0 {
					t.Fatalf("unexpected payment %+v", p)
				}
				if !strings.HasPrefix(p.ProcessorRef, "ch_") {
					t.Fatalf("processor ref %q", p.ProcessorRef)
				}
				if got := ledgerKinds(p); !reflect.DeepEqual(got, []string{client.EntryAuthorize}) || p.Ledger[0].Amount != 4999 {
					t.Fatalf("ledger %+v", p.Ledger)
				}
				return
			}
			wantProblem(t, err, tc.status, tc.code)
			if n := e.count(t, `SELECT count(*) FROM payments WHERE order_id = $1`, orderID); n != 0 {
				t.Fatalf("a refused authorization wrote %d payments", n)
			}
			if n := e.count(t, `SELECT count(*) FROM ledger WHERE order_id = $1`, orderID); n != 0 {
				t.Fatalf("a refused authorization wrote %d ledger entries", n)
			}
			if n := e.count(t, `SELECT count(*) FROM idempotency_keys WHERE key = $1 AND status = $2`, key, tc.status); n != 1 {
				t.Fatalf("refusal not recorded under its key (%d rows)", n)
			}
			// The refusal is final for its key ...
			_, err = e.c.Authorize(ctx, key, authorizeReq(orderID, 4999, tc.token))
			wantProblem(t, err, tc.status, tc.code)
			// ... but the order may still be paid with another card under a new key.
			p, err = e.c.Authorize(ctx, key+"-retry", authorizeReq(orderID, 4999, client.TokenVisa))
			if err != nil || p.Status != client.PaymentAuthorized {
				t.Fatalf("second card: %+v %v", p, err)
			}
		})
	}
}

func TestAuthorizeCaptureRefundLedger(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	const orderID = "ord-flow"

	p, err := e.c.Authorize(ctx, "k-auth", authorizeReq(orderID, 10_000, client.TokenVisa))
	if err != nil {
		t.Fatal(err)
	}
	ref := p.ProcessorRef
	p, err = e.c.Capture(ctx, orderID, "k-capture")
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != client.PaymentCaptured || p.Captured != 10_000 || p.ProcessorRef != ref {
		t.Fatalf("after capture %+v", p)
	}
	// A second capture under another key changes nothing.
	if p, err = e.c.Capture(ctx, orderID, "k-capture-2"); err != nil || len(p.Ledger) != 2 {
		t.Fatalf("repeat capture: %+v %v", p, err)
	}

	steps := []struct {
		amount   int64
		status   string
		refunded int64
	}{
		{3_000, client.PaymentCaptured, 3_000},
		{6_999, client.PaymentCaptured, 9_999},
		{1, client.PaymentRefunded, 10_000},
	}
	for i, s := range steps {
		p, err = e.c.Refund(ctx, orderID, fmt.Sprintf("k-refund-%d", i), client.RefundRequest{Amount: s.amount})
		if err != nil {
			t.Fatalf("refund %d: %v", s.amount, err)
		}
		if p.Status != s.status || p.Refunded != s.refunded || p.Captured != 10_000 {
			t.Fatalf("after refund %d: %+v", s.amount, p)
		}
	}
	_, err = e.c.Refund(ctx, orderID, "k-refund-over", client.RefundRequest{Amount: 1})
	wantProblem(t, err, http.StatusUnprocessableEntity, problem.CodeValidation)

	got, err := e.c.Get(ctx, orderID)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{client.EntryAuthorize, client.EntryCapture, client.EntryRefund, client.EntryRefund, client.EntryRefund}
	if !reflect.DeepEqual(ledgerKinds(got), want) {
		t.Fatalf("ledger kinds %v, want %v", ledgerKinds(got), want)
	}
	sums := e.ledgerSums(t, orderID)
	if sums[client.EntryAuthorize] != 10_000 || sums[client.EntryCapture] != 10_000 || sums[client.EntryRefund] != 10_000 {
		t.Fatalf("ledger sums %v", sums)
	}
	if got.Status != client.PaymentRefunded || got.Refunded != got.Captured {
		t.Fatalf("final payment %+v", got)
	}
}

// op is one call in a transition scenario.
type op struct {
	kind   string // authorize, capture, void, refund
	amount int64
	status int    // expected HTTP status when the call is refused, 0 when it succeeds
	code   string // expected problem code of a refusal
	want   string // expected payment status after a success
}

func (o op) run(ctx context.Context, c *client.Client, orderID, key string) (client.Payment, error) {
	switch o.kind {
	case "authorize":
		return c.Authorize(ctx, key, authorizeReq(orderID, o.amount, client.TokenVisa))
	case "capture":
		return c.Capture(ctx, orderID, key)
	case "void":
		return c.Void(ctx, orderID, key)
	case "refund":
		return c.Refund(ctx, orderID, key, client.RefundRequest{Amount: o.amount})
	}
	panic("unknown op " + o.kind)
}

func TestTransitions(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	cases := []struct {
		name       string
		ops        []op
		wantStatus string   // final status, "" when no payment must exist
		wantLedger []string // final ledger kinds
	}{
		{
			name: "void before authorize refuses the late authorize",
			ops: []op{
				{kind: "void", want: client.PaymentVoided},
				{kind: "authorize", amount: 500, status: http.StatusConflict, code: problem.CodePaymentVoided},
				{kind: "capture", status: http.StatusConflict, code: problem.CodePaymentVoided},
			},
			wantStatus: client.PaymentVoided, wantLedger: []string{},
		},
		{
			name: "capture after void is refused",
			ops: []op{
				{kind: "authorize", amount: 500, want: client.PaymentAuthorized},
				{kind: "void", want: client.PaymentVoided},
				{kind: "capture", status: http.StatusConflict, code: problem.CodePaymentVoided},
				{kind: "authorize", amount: 500, status: http.StatusConflict, code: problem.CodePaymentVoided},
				{kind: "refund", amount: 1, status: http.StatusConflict, code: problem.CodePaymentVoided},
			},
			wantStatus: client.PaymentVoided, wantLedger: []string{client.EntryAuthorize, client.EntryVoid},
		},
		{
			name: "void after capture is refused",
			ops: []op{
				{kind: "authorize", amount: 500, want: client.PaymentAuthorized},
				{kind: "capture", want: client.PaymentCaptured},
				{kind: "void", status: http.StatusConflict, code: problem.CodePaymentCaptured},
			},
			wantStatus: client.PaymentCaptured, wantLedger: []string{client.EntryAuthorize, client.EntryCapture},
		},
		{
			name: "void after full refund is refused",
			ops: []op{
				{kind: "authorize", amount: 500, want: client.PaymentAuthorized},
				{kind: "capture", want: client.PaymentCaptured},
				{kind: "refund", amount: 500, want: client.PaymentRefunded},
				{kind: "void", status: http.StatusConflict, code: problem.CodePaymentCaptured},
			},
			wantStatus: client.PaymentRefunded, wantLedger: []string{client.EntryAuthorize, client.EntryCapture, client.EntryRefund},
		},
		{
			name: "repeated void is a no-op",
			ops: []op{
				{kind: "authorize", amount: 500, want: client.PaymentAuthorized},
				{kind: "void", want: client.PaymentVoided},
				{kind: "void", want: client.PaymentVoided},
			},
			wantStatus: client.PaymentVoided, wantLedger: []string{client.EntryAuthorize, client.EntryVoid},
		},
		{
			name: "authorize again with the same amount returns the payment",
			ops: []op{
				{kind: "authorize", amount: 500, want: client.PaymentAuthorized},
				{kind: "authorize", amount: 500, want: client.PaymentAuthorized},
				{kind: "capture", want: client.PaymentCaptured},
				{kind: "authorize", amount: 500, want: client.PaymentCaptured},
				{kind: "authorize", amount: 501, status: http.StatusConflict, code: problem.CodeConflict},
			},
			wantStatus: client.PaymentCaptured, wantLedger: []string{client.EntryAuthorize, client.EntryCapture},
		},
		{
			name:       "capture without payment is not found",
			ops:        []op{{kind: "capture", status: http.StatusNotFound, code: problem.CodeNotFound}},
			wantStatus: "",
		},
		{
			name:       "refund without payment is not found",
			ops:        []op{{kind: "refund", amount: 1, status: http.StatusNotFound, code: problem.CodeNotFound}},
			wantStatus: "",
		},
		{
			name: "refund of an uncaptured payment is refused",
			ops: []op{
				{kind: "authorize", amount: 500, want: client.PaymentAuthorized},
				{kind: "refund", amount: 100, status: http.StatusConflict, code: problem.CodeInvalidTransition},
			},
			wantStatus: client.PaymentAuthorized, wantLedger: []string{client.EntryAuthorize},
		},
		{
			name: "refund beyond the captured amount is refused",
			ops: []op{
				{kind: "authorize", amount: 500, want: client.PaymentAuthorized},
				{kind: "capture", want: client.PaymentCaptured},
				{kind: "refund", amount: 501, status: http.StatusUnprocessableEntity, code: problem.CodeValidation},
				{kind: "refund", amount: 200, want: client.PaymentCaptured},
				{kind: "refund", amount: 301, status: http.StatusUnprocessableEntity, code: problem.CodeValidation},
			},
			wantStatus: client.PaymentCaptured, wantLedger: []string{client.EntryAuthorize, client.EntryCapture, client.EntryRefund},
		},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orderID := fmt.Sprintf("ord-transition-%d", i)
			for j, o := range tc.ops {
				p, err := o.run(ctx, e.c, orderID, fmt.Sprintf("%s-%d", orderID, j))
				if o.status != 0 {
					wantProblem(t, err, o.status, o.code)
					continue
				}
				if err != nil {
					t.Fatalf("%s: %v", o.kind, err)
				}
				if p.Status != o.want {
					t.Fatalf("%s: status %s, want %s", o.kind, p.Status, o.want)
				}
			}
			got, err := e.c.Get(ctx, orderID)
			if tc.wantStatus == "" {
				wantProblem(t, err, http.StatusNotFound, problem.CodeNotFound)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != tc.wantStatus || !reflect.DeepEqual(ledgerKinds(got), tc.wantLedger) {
				t.Fatalf("final %s %v, want %s %v", got.Status, ledgerKinds(got), tc.wantStatus, tc.wantLedger)
			}
		})
	}
}

func TestVoidMarker(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	p, err := e.c.Void(ctx, "ord-marker", "void-1")
	if err != nil {
		t.Fatal(err)
	}
	if p.Status != client.PaymentVoided || p.Amount != 0 || p.ProcessorRef != "" || p.Currency != "" || len(p.Ledger) != 0 {
		t.Fatalf("marker %+v", p)
	}
	_, err = e.c.Authorize(ctx, "auth-late", authorizeReq("ord-marker", 100, client.TokenVisa))
	wantProblem(t, err, http.StatusConflict, problem.CodePaymentVoided)
	if n := e.count(t, `SELECT count(*) FROM ledger`); n != 0 {
		t.Fatalf("ledger has %d entries", n)
	}
}

func TestIdempotentReplay(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	const orderID = "ord-replay"
	calls := []struct {
		name string
		call func() (client.Payment, error)
	}{
		{"authorize", func() (client.Payment, error) {
			return e.c.Authorize(ctx, "r-auth", authorizeReq(orderID, 2_500, client.TokenVisa))
		}},
		{"capture", func() (client.Payment, error) { return e.c.Capture(ctx, orderID, "r-capture") }},
		{"refund", func() (client.Payment, error) {
			return e.c.Refund(ctx, orderID, "r-refund", client.RefundRequest{Amount: 1_000})
		}},
	}
	for _, c := range calls {
		first, err := c.call()
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		for range 3 {
			again, err := c.call()
			if err != nil {
				t.Fatalf("%s replay: %v", c.name, err)
			}
			if !reflect.DeepEqual(first, again) {
				t.Fatalf("%s replay differs:\n%+v\n%+v", c.name, first, again)
			}
		}
	}
	sums := e.ledgerSums(t, orderID)
	if n := e.count(t, `SELECT count(*) FROM ledger WHERE order_id = $1`, orderID); n != 3 {
		t.Fatalf("ledger has %d entries, want 3 (%v)", n, sums)
	}
	if sums[client.EntryRefund] != 1_000 {
		t.Fatalf("refunded %d", sums[client.EntryRefund])
	}

	// A replayed void of an authorized payment voids once.
	if _, err := e.c.Authorize(ctx, "r-auth-2", authorizeReq("ord-replay-void", 700, client.TokenVisa)); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if p, err := e.c.Void(ctx, "ord-replay-void", "r-void"); err != nil || p.Status != client.PaymentVoided {
			t.Fatalf("void: %+v %v", p, err)
		}
	}
	if n := e.count(t, `SELECT count(*) FROM ledger WHERE order_id = 'ord-replay-void' AND kind = 'VOID'`); n != 1 {
		t.Fatalf("%d VOID entries", n)
	}

	reused := []struct {
		name string
		call func() error
	}{
		{"authorize with another amount", func() error {
			_, err := e.c.Authorize(ctx, "r-auth", authorizeReq(orderID, 2_501, client.TokenVisa))
			return err
		}},
		{"refund with another amount", func() error {
			_, err := e.c.Refund(ctx, orderID, "r-refund", client.RefundRequest{Amount: 999})
			return err
		}},
		{"capture of another order", func() error {
			_, err := e.c.Capture(ctx, "ord-other", "r-capture")
			return err
		}},
		{"another operation", func() error {
			_, err := e.c.Void(ctx, orderID, "r-capture")
			return err
		}},
	}
	for _, r := range reused {
		t.Run(r.name, func(t *testing.T) {
			wantProblem(t, r.call(), http.StatusUnprocessableEntity, problem.CodeIdempotencyReused)
		})
	}
	if n := e.count(t, `SELECT count(*) FROM ledger WHERE order_id = $1`, orderID); n != 3 {
		t.Fatalf("ledger has %d entries after reused keys", n)
	}
}

func TestConcurrentDuplicatesAuthorizeOnce(t *testing.T) {
	e := newEnv(t, 200*time.Millisecond)
	ctx := context.Background()
	cases := []struct {
		name string
		key  func(i int) string
	}{
		{"same key", func(int) string { return "c-same" }},
		{"different keys", func(i int) string { return fmt.Sprintf("c-diff-%d", i) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			orderID := "ord-" + strings.ReplaceAll(tc.name, " ", "-")
			const n = 6
			results := make([]client.Payment, n)
			errs := make([]error, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					results[i], errs[i] = e.c.Authorize(ctx, tc.key(i), authorizeReq(orderID, 1_234, client.TokenVisa))
				})
			}
			wg.Wait()
			for i := range n {
				if errs[i] != nil {
					t.Fatalf("call %d: %v", i, errs[i])
				}
				if results[i].ProcessorRef != results[0].ProcessorRef || results[i].Status != client.PaymentAuthorized {
					t.Fatalf("call %d got %+v, call 0 got %+v", i, results[i], results[0])
				}
			}
			if got := e.count(t, `SELECT count(*) FROM ledger WHERE order_id = $1 AND kind = 'AUTHORIZE'`, orderID); got != 1 {
				t.Fatalf("%d AUTHORIZE entries", got)
			}
		})
	}
}

// A void racing its authorization never leaves an open hold: either the void comes
// second and voids it, or it comes first and the authorization is refused.
func TestConcurrentVoidAndAuthorize(t *testing.T) {
	e := newEnv(t, 50*time.Millisecond)
	ctx := context.Background()
	for i := range 4 {
		orderID := fmt.Sprintf("ord-race-%d", i)
		var authErr, voidErr error
		var wg sync.WaitGroup
		wg.Go(func() {
			_, authErr = e.c.Authorize(ctx, orderID+"-auth", authorizeReq(orderID, 300, client.TokenVisa))
		})
		wg.Go(func() { _, voidErr = e.c.Void(ctx, orderID, orderID+"-void") })
		wg.Wait()
		if voidErr != nil {
			t.Fatalf("void: %v", voidErr)
		}
		p, err := e.c.Get(ctx, orderID)
		if err != nil {
			t.Fatal(err)
		}
		if p.Status != client.PaymentVoided {
			t.Fatalf("payment left %s", p.Status)
		}
		if authErr != nil {
			wantProblem(t, authErr, http.StatusConflict, problem.CodePaymentVoided)
			if len(p.Ledger) != 0 {
				t.Fatalf("refused authorization left ledger %v", ledgerKinds(p))
			}
		} else if !reflect.DeepEqual(ledgerKinds(p), []string{client.EntryAuthorize, client.EntryVoid}) {
			t.Fatalf("ledger %v", ledgerKinds(p))
		}
	}
}

func TestInternalErrorIsGeneric(t *testing.T) {
	e := newEnv(t, 0)
	// Hide the ledger so recording the authorization fails inside the database.
	if _, err := e.db.Exec(`ALTER TABLE ledger RENAME TO ledger_hidden`); err != nil {
		t.Fatal(err)
	}
	body := `{"order_id":"ord-broken","amount":100,"currency":"EUR","payment_token":"tok_visa"}`
	const reqID = "req-internal-error-1"
	status, raw := e.raw(t, http.MethodPost, "/payments", "k-broken", body, map[string]string{requestid.Header: reqID})
	if status != http.StatusInternalServerError {
		t.Fatalf("status %d: %s", status, raw)
	}
	var got struct {
		Type   string `json:"type"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	if got.Type != problem.TypePrefix+problem.CodeInternal || got.Detail != problem.Internal().Detail {
		t.Fatalf("problem %s", raw)
	}
	for _, leak := range []string{"ledger", "relation", "pq:", "insert", "SQL"} {
		if strings.Contains(string(raw), leak) {
			t.Fatalf("response leaks %q: %s", leak, raw)
		}
	}
	logs := e.logs.String()
	if !strings.Contains(logs, reqID) || !strings.Contains(logs, "ledger") {
		t.Fatalf("log lacks the request id or the cause:\n%s", logs)
	}
	if n := e.count(t, `SELECT count(*) FROM payments`); n != 0 {
		t.Fatalf("failed authorization left %d payments", n)
	}

	// The failure was not recorded under the key: a retry after recovery succeeds.
	if _, err := e.db.Exec(`ALTER TABLE ledger_hidden RENAME TO ledger`); err != nil {
		t.Fatal(err)
	}
	status, raw = e.raw(t, http.MethodPost, "/payments", "k-broken", body, nil)
	if status != http.StatusCreated {
		t.Fatalf("retry: %d %s", status, raw)
	}
}

func TestRequestValidation(t *testing.T) {
	e := newEnv(t, 0)
	valid := `{"order_id":"ord-v","amount":100,"currency":"EUR","payment_token":"tok_visa"}`
	cases := []struct {
		name, method, path, key, body string
		status                        int
	}{
		{"unknown field", "POST", "/payments", "v1", `{"order_id":"ord-v","amount":100,"currency":"EUR","payment_token":"tok_visa","price":1}`, 422},
		{"zero amount", "POST", "/payments", "v2", `{"order_id":"ord-v","amount":0,"currency":"EUR","payment_token":"tok_visa"}`, 422},
		{"negative amount", "POST", "/payments", "v3", `{"order_id":"ord-v","amount":-5,"currency":"EUR","payment_token":"tok_visa"}`, 422},
		{"amount beyond int64", "POST", "/payments", "v4", `{"order_id":"ord-v","amount":9223372036854775808,"currency":"EUR","payment_token":"tok_visa"}`, 422},
		{"lower-case currency", "POST", "/payments", "v5", `{"order_id":"ord-v","amount":100,"currency":"eur","payment_token":"tok_visa"}`, 422},
		{"missing order id", "POST", "/payments", "v6", `{"amount":100,"currency":"EUR","payment_token":"tok_visa"}`, 422},
		{"malformed json", "POST", "/payments", "v7", `{"order_id":`, 400},
		{"oversized body", "POST", "/payments", "v8", `{"order_id":"` + strings.Repeat("x", 20<<10) + `"}`, 413},
		{"missing idempotency key", "POST", "/payments", "", valid, 422},
		{"oversized idempotency key", "POST", "/payments", strings.Repeat("k", 256), valid, 422},
		{"zero refund", "POST", "/payments/ord-v/refund", "v9", `{"amount":0}`, 422},
		{"refund unknown field", "POST", "/payments/ord-v/refund", "v10", `{"amount":1,"reason":"x"}`, 422},
		{"capture without key", "POST", "/payments/ord-v/capture", "", "", 422},
		{"void without key", "POST", "/payments/ord-v/void", "", "", 422},
		{"order id too long", "POST", "/payments/" + strings.Repeat("o", 65) + "/void", "v11", "", 422},
		{"bad list status", "GET", "/payments?status=PENDING", "", "", 422},
		{"bad list limit", "GET", "/payments?limit=0", "", "", 422},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, raw := e.raw(t, tc.method, tc.path, tc.key, tc.body, nil)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, raw)
			}
			var p struct {
				Status int `json:"status"`
			}
			if err := json.Unmarshal(raw, &p); err != nil || p.Status != tc.status {
				t.Fatalf("not a problem document: %s", raw)
			}
		})
	}
	for _, table := range []string{"payments", "ledger", "idempotency_keys"} {
		if n := e.count(t, `SELECT count(*) FROM `+table); n != 0 {
			t.Fatalf("invalid requests wrote %d rows to %s", n, table)
		}
	}
}

func TestList(t *testing.T) {
	e := newEnv(t, 0)
	ctx := context.Background()
	for i := range 5 {
		orderID := fmt.Sprintf("ord-list-%d", i)
		if _, err := e.c.Authorize(ctx, orderID+"-a", authorizeReq(orderID, int64(100+i), client.TokenVisa)); err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := e.c.Capture(ctx, orderID, orderID+"-c"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := e.c.Void(ctx, "ord-list-9", "marker"); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		status string
		want   []string
	}{
		{"", []string{"ord-list-0", "ord-list-1", "ord-list-2", "ord-list-3", "ord-list-4", "ord-list-9"}},
		{client.PaymentCaptured, []string{"ord-list-0", "ord-list-2", "ord-list-4"}},
		{client.PaymentAuthorized, []string{"ord-list-1", "ord-list-3"}},
		{client.PaymentVoided, []string{"ord-list-9"}},
		{client.PaymentRefunded, []string{}},
	}
	for _, tc := range cases {
		t.Run("status="+tc.status, func(t *testing.T) {
			got := []string{}
			after := ""
			for pages := 0; ; pages++ {
				if pages > 10 {
					t.Fatal("paging does not end")
				}
				page, err := e.c.List(ctx, tc.status, after, 2)
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Items) > 2 {
					t.Fatalf("page of %d", len(page.Items))
				}
				for _, p := range page.Items {
					got = append(got, p.OrderID)
					if p.Status != client.PaymentVoided && len(p.Ledger) == 0 {
						t.Fatalf("%s listed without ledger", p.OrderID)
					}
				}
				if page.Next == "" {
					break
				}
				after = page.Next
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("listed %v, want %v", got, tc.want)
			}
		})
	}
}

func TestHealthAndSpec(t *testing.T) {
	e := newEnv(t, 0)
	for _, path := range []string{"/healthz", "/readyz", "/openapi.json"} {
		if status, raw := e.raw(t, http.MethodGet, path, "", "", nil); status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, status, raw)
		}
	}
	spec := payment.Spec()
	ids := map[string]bool{}
	for _, item := range spec.Paths {
		for _, operation := range []*huma.Operation{item.Get, item.Post} {
			if operation != nil {
				ids[operation.OperationID] = true
			}
		}
	}
	for _, id := range []string{"authorize-payment", "capture-payment", "void-payment", "refund-payment", "get-payment", "list-payments"} {
		if !ids[id] {
			t.Fatalf("spec lacks %s (has %v)", id, ids)
		}
	}
}

// A caller that gives up before a slow processor answers does not undo the operation:
// the service finishes it, and the caller's retry with the same key gets the recorded
// answer instead of starting over (which, with a processor slower than every caller's
// timeout, would never finish). Caught by the fault suite's slow-processor scenario.
func TestSlowProcessorFinishesForTheRetry(t *testing.T) {
	e := newEnv(t, 600*time.Millisecond)
	impatient := client.New(e.url, nil, 200*time.Millisecond)
	ctx := context.Background()
	steps := []struct {
		name string
		call func(c *client.Client) (client.Payment, error)
		want string
	}{
		{"authorize", func(c *client.Client) (client.Payment, error) {
			return c.Authorize(ctx, "slow-auth", authorizeReq("ord-slow", 2_500, client.TokenVisa))
		}, client.PaymentAuthorized},
		{"capture", func(c *client.Client) (client.Payment, error) { return c.Capture(ctx, "ord-slow", "slow-capture") }, client.PaymentCaptured},
	}
	for _, step := range steps {
		if _, err := step.call(impatient); err == nil {
			t.Fatalf("%s: the impatient caller got an answer before the processor's latency", step.name)
		}
		// The retry arrives while the first call is still running at the service.
		p, err := step.call(impatient)
		for attempt := 0; err != nil && attempt < 10; attempt++ {
			p, err = step.call(impatient)
		}
		if err != nil {
			t.Fatalf("%s: retries never got the first call's answer: %v", step.name, err)
		}
		if p.Status != step.want {
			t.Fatalf("%s: status %s, want %s", step.name, p.Status, step.want)
		}
	}
	for kind, want := range map[string]int{"AUTHORIZE": 1, "CAPTURE": 1} {
		if got := e.count(t, `SELECT count(*) FROM ledger WHERE order_id = $1 AND kind = $2`, "ord-slow", kind); got != want {
			t.Fatalf("%d %s entries, want %d", got, kind, want)
		}
	}
}
