package api_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/converter"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/requestid"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/workflows"
)

const sampleLine = `{"sku":"SKU-1","quantity":2}`

func TestOrderIDIsDerivedFromSubjectAndKey(t *testing.T) {
	// Ids of requests without authentication are the ones the API always derived.
	if got := api.OrderIDForKey("", "key-1"); got != "ord_yxnnjdmzhnoarz7rx7sr2rmj" {
		t.Fatalf("unauthenticated id of key-1 = %s, the derivation changed", got)
	}
	cases := []struct {
		name           string
		subjectA, keyA string
		subjectB, keyB string
		same           bool
	}{
		{"same subject and key", "cust-1", "key-1", "cust-1", "key-1", true},
		{"another key", "cust-1", "key-1", "cust-1", "key-2", false},
		{"another subject", "cust-1", "key-1", "cust-2", "key-1", false},
		{"subject and no subject", "cust-1", "key-1", "", "key-1", false},
		{"the boundary moved", "cust-1", "key-1", "cust-1key", "-1", false},
		{"subject that looks like a scope prefix", "", "key-1", "subject", "key-1", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, b := api.OrderIDForKey(tc.subjectA, tc.keyA), api.OrderIDForKey(tc.subjectB, tc.keyB)
			if (a == b) != tc.same {
				t.Fatalf("ids %s and %s, want equal: %v", a, b, tc.same)
			}
			for _, id := range []string{a, b} {
				if !strings.HasPrefix(id, "ord_") || len(id) != len("ord_")+24 {
					t.Fatalf("order id %q is not ord_ + 24 characters", id)
				}
			}
		})
	}
}

func TestPlaceOrderStartsSagaAndReplaysSameKey(t *testing.T) {
	h := newHarness(t)
	key := "replay-" + requestid.New()
	id := h.orderID(key)
	body := orderBody(harnessSubject, sampleLine, `{"sku":"SKU-2","quantity":1}`)

	first := h.placeOrder(key, body, map[string]string{requestid.Header: "req-replay-test"})
	if first.status != http.StatusAccepted {
		t.Fatalf("first POST: %d %s", first.status, first.body)
	}
	if loc := first.header.Get("Location"); loc != "/orders/"+id {
		t.Fatalf("Location = %q, want /orders/%s", loc, id)
	}
	if first.header.Get("Idempotent-Replayed") != "" {
		t.Fatal("first answer marked as replayed")
	}
	var accepted struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Links  struct {
			Self string `json:"self"`
		} `json:"links"`
	}
	first.json(t, &accepted)
	if accepted.ID != id || accepted.Status != string(orderclient.StatusPending) || accepted.Links.Self != "/orders/"+id {
		t.Fatalf("accepted body = %s", first.body)
	}

	second := h.placeOrder(key, body, nil)
	if second.status != first.status || !bytes.Equal(second.body, first.body) ||
		second.header.Get("Location") != first.header.Get("Location") {
		t.Fatalf("replay differs: %d %s %q vs %d %s", second.status, second.body, second.header.Get("Location"), first.status, first.body)
	}
	if second.header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("replay not marked with Idempotent-Replayed: true")
	}
	if n := h.sagaRuns(id); n != 1 {
		t.Fatalf("%d sagas for one key, want 1", n)
	}

	// The saga was started as the contract says.
	ctx := context.Background()
	desc, err := h.temporal.DescribeWorkflowExecution(ctx, workflows.WorkflowID(id), "")
	if err != nil {
		t.Fatal(err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetType().GetName() != workflows.OrderSagaName || info.GetTaskQueue() != h.cfg.SagaTaskQueue {
		t.Fatalf("saga type %q on queue %q", info.GetType().GetName(), info.GetTaskQueue())
	}
	attrs := info.GetSearchAttributes().GetIndexedFields()
	var status string
	if p := attrs["OrderStatus"]; p == nil || converter.GetDefaultDataConverter().FromPayload(p, &status) != nil || status != string(orderclient.StatusPending) {
		t.Fatalf("search attribute OrderStatus = %q, want PENDING", status)
	}
	// The customer is in the memo, which the data converter encodes, never in a search
	// attribute, which Temporal keeps in clear.
	if p := attrs["CustomerId"]; p != nil {
		t.Fatalf("search attribute CustomerId set: %s", p.GetData())
	}
	var customer string
	if p := info.GetMemo().GetFields()["customer_id"]; p == nil || converter.GetDefaultDataConverter().FromPayload(p, &customer) != nil || customer != harnessSubject {
		t.Fatalf("memo customer_id = %q, want %q", customer, harnessSubject)
	}
	if summary := desc.GetExecutionConfig().GetUserMetadata().GetSummary(); summary == nil ||
		!strings.Contains(string(summary.GetData()), "Order "+id+" for customer "+harnessSubject+" (2 lines)") {
		t.Fatalf("static summary = %v", summary)
	}
	iter := h.temporal.GetWorkflowHistory(ctx, workflows.WorkflowID(id), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	event, err := iter.Next()
	if err != nil {
		t.Fatal(err)
	}
	var input workflows.OrderInput
	if err := converter.GetDefaultDataConverter().FromPayloads(event.GetWorkflowExecutionStartedEventAttributes().GetInput(), &input); err != nil {
		t.Fatal(err)
	}
	if input.OrderID != id || input.CustomerID != harnessSubject || input.PaymentToken != "tok_visa" || len(input.Lines) != 2 ||
		input.Lines[0] != (workflows.OrderLine{SKU: "SKU-1", Quantity: 2}) || input.RequestID != "req-replay-test" ||
		input.ApprovalThreshold != h.cfg.ApprovalThreshold || input.ApprovalTimeout != h.cfg.ApprovalTimeout {
		t.Fatalf("saga input = %+v", input)
	}
}

func TestPlaceOrderSameKeyDifferentBodyIsRefused(t *testing.T) {
	h := newHarness(t)
	key := "reuse-" + requestid.New()
	if r := h.placeOrder(key, orderBody("cust-1", sampleLine), nil); r.status != http.StatusAccepted {
		t.Fatalf("first POST: %d %s", r.status, r.body)
	}
	r := h.placeOrder(key, orderBody("cust-1", `{"sku":"SKU-1","quantity":3}`), nil)
	if r.status != http.StatusUnprocessableEntity || r.problemType(t) != "/problems/idempotency-key-reused" {
		t.Fatalf("different body: %d %s", r.status, r.body)
	}
}

func TestPlaceOrderConcurrentSameKeyStartsOneSaga(t *testing.T) {
	h := newHarness(t)
	key := "concurrent-" + requestid.New()
	body := orderBody("cust-1", sampleLine)
	const n = 10
	answers := make([]response, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			answers[i] = h.placeOrder(key, body, nil)
		})
	}
	close(start)
	wg.Wait()

	fresh, replays, inFlight := 0, 0, 0
	for _, r := range answers {
		switch {
		case r.status == http.StatusAccepted && r.header.Get("Idempotent-Replayed") == "true":
			replays++
		case r.status == http.StatusAccepted:
			fresh++
		case r.status == http.StatusConflict:
			if r.problemType(t) != "/problems/request-in-flight" || r.header.Get("Retry-After") != "1" {
				t.Fatalf("409 without in-flight problem or Retry-After: %s %v", r.body, r.header)
			}
			inFlight++
		default:
			t.Fatalf("unexpected answer %d %s", r.status, r.body)
		}
	}
	if fresh != 1 || replays+inFlight != n-1 {
		t.Fatalf("fresh=%d replays=%d in-flight=%d, want exactly one fresh answer", fresh, replays, inFlight)
	}
	if runs := h.sagaRuns(h.orderID(key)); runs != 1 {
		t.Fatalf("%d sagas, want 1", runs)
	}
}

func TestPlaceOrderWithoutRedisRecordUsesTheSaga(t *testing.T) {
	h := newHarness(t)
	key := "flushed-" + requestid.New()
	body := orderBody("cust-1", sampleLine)
	first := h.placeOrder(key, body, nil)
	if first.status != http.StatusAccepted {
		t.Fatalf("first POST: %d %s", first.status, first.body)
	}
	flush := func() {
		ctx := context.Background()
		keys, err := h.redis.Keys(ctx, h.prefix+"*").Result()
		if err != nil {
			t.Fatal(err)
		}
		if len(keys) == 0 {
			t.Fatal("no idempotency record was stored in Redis")
		}
		if err := h.redis.Del(ctx, keys...).Err(); err != nil {
			t.Fatal(err)
		}
	}
	flush()

	again := h.placeOrder(key, body, nil)
	if again.status != first.status || !bytes.Equal(again.body, first.body) || again.header.Get("Location") != first.header.Get("Location") {
		t.Fatalf("answer after Redis lost the record: %d %s, first was %d %s", again.status, again.body, first.status, first.body)
	}
	if again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatal("saga-backed replay not marked as replayed")
	}
	if runs := h.sagaRuns(h.orderID(key)); runs != 1 {
		t.Fatalf("%d sagas, want 1", runs)
	}

	// The saga's memo also tells a different body apart.
	flush()
	r := h.placeOrder(key, orderBody(harnessSubject, `{"sku":"SKU-2","quantity":2}`), nil)
	if r.status != http.StatusUnprocessableEntity || r.problemType(t) != "/problems/idempotency-key-reused" {
		t.Fatalf("different body after Redis lost the record: %d %s", r.status, r.body)
	}
	// And the refused request left no claim behind: the original body still replays.
	if r := h.placeOrder(key, body, nil); r.status != http.StatusAccepted {
		t.Fatalf("original body after a refused one: %d %s", r.status, r.body)
	}
}

func TestPlaceOrderWithRedisDownFallsBackToSaga(t *testing.T) {
	dead := newDeadRedis(t)
	h := newHarness(t, withRedis(dead))
	key := "no-redis-" + requestid.New()
	body := orderBody("cust-1", sampleLine)
	first := h.placeOrder(key, body, nil)
	if first.status != http.StatusAccepted {
		t.Fatalf("POST without Redis: %d %s", first.status, first.body)
	}
	again := h.placeOrder(key, body, nil)
	if again.status != http.StatusAccepted || !bytes.Equal(again.body, first.body) || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeat without Redis: %d %s", again.status, again.body)
	}
	if r := h.placeOrder(key, orderBody(harnessSubject, `{"sku":"SKU-9","quantity":1}`), nil); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("different body without Redis: %d %s", r.status, r.body)
	}
	if runs := h.sagaRuns(h.orderID(key)); runs != 1 {
		t.Fatalf("%d sagas, want 1", runs)
	}
}

func TestPlaceOrderPreferWaitGivesUpAfterTheWait(t *testing.T) {
	h := newHarness(t, withConfig(func(c *api.Config) { c.OrderWaitMax = time.Second }))
	key := "wait-" + requestid.New()
	started := time.Now()
	// wait=30 is capped at ORDER_WAIT_MAX (1s); nothing runs the saga, so it stays PENDING.
	r := h.placeOrder(key, orderBody("cust-1", sampleLine), map[string]string{"Prefer": "respond-async, wait=30"})
	elapsed := time.Since(started)
	if r.status != http.StatusAccepted {
		t.Fatalf("POST with Prefer: %d %s", r.status, r.body)
	}
	if elapsed < 900*time.Millisecond || elapsed > 8*time.Second {
		t.Fatalf("answered after %s, want about the 1s cap", elapsed)
	}
	if got := r.header.Get("Preference-Applied"); got != "wait=1" {
		t.Fatalf("Preference-Applied = %q, want wait=1", got)
	}
}

func TestPlaceOrderRejectsBadIdempotencyKeys(t *testing.T) {
	h := newHarness(t)
	body := orderBody("cust-1", sampleLine)
	cases := map[string]*string{
		"missing":   nil,
		"empty":     ptr(""),
		"too long":  ptr(strings.Repeat("k", 256)),
		"non-ASCII": ptr("ключ-" + requestid.New()),
		"space":     ptr("two words"),
		"tab":       ptr("a\tb"),
	}
	for name, key := range cases {
		t.Run(name, func(t *testing.T) {
			header := map[string]string{}
			if key != nil {
				header["Idempotency-Key"] = *key
			}
			r := h.do(http.MethodPost, "/orders", header, body)
			if r.status < 400 || r.status >= 500 {
				t.Fatalf("status %d %s, want 4xx", r.status, r.body)
			}
			r.problemType(t)
		})
	}
	// The longest valid key is accepted.
	if r := h.placeOrder(strings.Repeat("k", 250)+requestid.New()[:5], body, nil); r.status != http.StatusAccepted {
		t.Fatalf("255-character key: %d %s", r.status, r.body)
	}
}

func TestPlaceOrderRejectsBadBodies(t *testing.T) {
	h := newHarness(t)
	manyLines := make([]string, 101)
	for i := range manyLines {
		manyLines[i] = fmt.Sprintf(`{"sku":"SKU-%d","quantity":1}`, i)
	}
	cases := map[string]string{
		"malformed JSON":      `{"customer_id":"cust-1",`,
		"not an object":       `[1,2]`,
		"unknown field":       `{"customer_id":"cust-1","payment_token":"tok","lines":[` + sampleLine + `],"price":1}`,
		"unknown line field":  orderBody("cust-1", `{"sku":"SKU-1","quantity":1,"unit_price":1}`),
		"quantity 0":          orderBody("cust-1", `{"sku":"SKU-1","quantity":0}`),
		"quantity -1":         orderBody("cust-1", `{"sku":"SKU-1","quantity":-1}`),
		"quantity 1.5":        orderBody("cust-1", `{"sku":"SKU-1","quantity":1.5}`),
		"quantity string":     orderBody("cust-1", `{"sku":"SKU-1","quantity":"3"}`),
		"quantity huge":       orderBody("cust-1", `{"sku":"SKU-1","quantity":10001}`),
		"quantity overflow":   orderBody("cust-1", `{"sku":"SKU-1","quantity":99999999999999999999}`),
		"missing quantity":    orderBody("cust-1", `{"sku":"SKU-1"}`),
		"empty lines":         orderBody("cust-1"),
		"too many lines":      orderBody("cust-1", manyLines...),
		"duplicate SKUs":      orderBody("cust-1", sampleLine, `{"sku":"SKU-1","quantity":5}`),
		"empty SKU":           orderBody("cust-1", `{"sku":"","quantity":1}`),
		"SKU with space":      orderBody("cust-1", `{"sku":"SKU 1","quantity":1}`),
		"bad customer":        orderBody("cust 1", sampleLine),
		"long customer":       orderBody(strings.Repeat("c", 65), sampleLine),
		"missing token":       `{"customer_id":"cust-1","lines":[` + sampleLine + `]}`,
		"empty body":          ``,
		"null body":           `null`,
		"lines not an array":  `{"customer_id":"cust-1","payment_token":"tok","lines":{}}`,
		"oversized body":      orderBody("cust-1", sampleLine) + strings.Repeat(" ", 70<<10),
		"payment token space": `{"customer_id":"cust-1","payment_token":"tok visa","lines":[` + sampleLine + `]}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			key := "bad-body-" + requestid.New()
			r := h.placeOrder(key, body, nil)
			if r.status < 400 || r.status >= 500 {
				t.Fatalf("status %d %s, want 4xx", r.status, r.body)
			}
			r.problemType(t)
			// A refused request starts nothing and leaves no claim on its key.
			_, err := h.temporal.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(h.orderID(key)), "")
			if err == nil {
				t.Fatal("a refused request started a saga")
			}
		})
	}
	if r := h.placeOrder("dup-sku-"+requestid.New(), orderBody("cust-1", sampleLine, sampleLine), nil); r.status != http.StatusUnprocessableEntity {
		t.Fatalf("duplicate SKUs: %d, want 422", r.status)
	}
}

func ptr[T any](v T) *T { return &v }
