package api_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/requestid"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/tools/devauth"
	"github.com/sagaflow/sagaflow/workflows"
)

// sagaInput reads the input the order's saga was started with.
func (h *harness) sagaInput(orderID string) workflows.OrderInput {
	h.t.Helper()
	iter := h.temporal.GetWorkflowHistory(context.Background(), workflows.WorkflowID(orderID), "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	event, err := iter.Next()
	if err != nil {
		h.t.Fatal(err)
	}
	var input workflows.OrderInput
	if err := converter.GetDefaultDataConverter().FromPayloads(event.GetWorkflowExecutionStartedEventAttributes().GetInput(), &input); err != nil {
		h.t.Fatal(err)
	}
	return input
}

// hasSaga reports whether a saga was started for the order.
func (h *harness) hasSaga(orderID string) bool {
	h.t.Helper()
	_, err := h.temporal.DescribeWorkflowExecution(context.Background(), workflows.WorkflowID(orderID), "")
	var nf *serviceerror.NotFound
	if errors.As(err, &nf) {
		return false
	}
	if err != nil {
		h.t.Fatal(err)
	}
	return true
}

// requireForbidden checks a 403 problem and its RFC 6750 challenge.
func requireForbidden(t *testing.T, r response) {
	t.Helper()
	if r.status != http.StatusForbidden || r.problemType(t) != "/problems/forbidden" {
		t.Fatalf("status %d %s, want a 403 forbidden problem", r.status, r.body)
	}
	if c := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(c, "Bearer ") || !strings.Contains(c, `error="insufficient_scope"`) {
		t.Fatalf("WWW-Authenticate %q, want an insufficient_scope challenge", c)
	}
}

// requireNotFoundLikeMissing checks r is the 404 a missing order gets, word for word.
func requireNotFoundLikeMissing(t *testing.T, h *harness, r response, id string, header map[string]string) {
	t.Helper()
	missing := "ord_" + strings.Repeat("z", 24)
	want := h.do(http.MethodGet, "/orders/"+missing, header, "")
	if r.status != http.StatusNotFound || want.status != http.StatusNotFound {
		t.Fatalf("status %d %s (a missing order: %d), want 404", r.status, r.body, want.status)
	}
	if got := bytes.ReplaceAll(r.body, []byte(id), []byte(missing)); !bytes.Equal(got, want.body) {
		t.Fatalf("answer %s differs from a missing order's %s", r.body, want.body)
	}
}

// TestPlaceOrderIsTheSubjects: the order is the token subject's. The body may leave the
// customer out or repeat it (the same request either way), never name another customer;
// a refusal starts nothing and claims no key.
func TestPlaceOrderIsTheSubjects(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name     string
		subject  string
		scopes   []string
		customer string // "" leaves customer_id out
		want     int
	}{
		{name: "customer_id left out", subject: "cust-a", scopes: devauth.CustomerScopes, want: http.StatusAccepted},
		{name: "customer_id repeats the subject", subject: "cust-b", scopes: devauth.CustomerScopes, customer: "cust-b", want: http.StatusAccepted},
		{name: "customer_id names another customer", subject: "cust-c", scopes: devauth.CustomerScopes, customer: "cust-a", want: http.StatusForbidden},
		{name: "subject that cannot be a customer id", subject: "idp|cust-d", scopes: devauth.CustomerScopes, want: http.StatusForbidden},
		{name: "a token that may only read", subject: "cust-e", scopes: []string{auth.ScopeOrdersRead}, want: http.StatusForbidden},
		{name: "an operator's token", subject: "ops-f", scopes: devauth.OperatorScopes, want: http.StatusForbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			key := "subject-" + requestid.New()
			body := `{"payment_token":"tok_visa","lines":[` + sampleLine + `]}`
			if tc.customer != "" {
				body = orderBody(tc.customer, sampleLine)
			}
			caller := h.as(tc.subject, tc.scopes...)
			r := h.placeOrder(key, body, caller)
			id := api.OrderIDForKey(tc.subject, key)
			if tc.want != http.StatusAccepted {
				requireForbidden(t, r)
				if h.hasSaga(id) || h.hasSaga(api.OrderIDForKey(tc.customer, key)) {
					t.Fatal("a refused order started a saga")
				}
				if keys, err := h.redis.Keys(t.Context(), h.prefix+"idempotency:*").Result(); err != nil || slices.ContainsFunc(keys, func(k string) bool { return strings.HasSuffix(k, id) }) {
					t.Fatalf("a refused order left an idempotency record (%v): %v", err, keys)
				}
				return
			}
			if r.status != http.StatusAccepted {
				t.Fatalf("status %d %s, want 202", r.status, r.body)
			}
			if input := h.sagaInput(id); input.CustomerID != tc.subject || input.OrderID != id {
				t.Fatalf("saga input customer %q order %q, want %q and %q", input.CustomerID, input.OrderID, tc.subject, id)
			}
			// Leaving customer_id out and repeating the subject are the same request.
			other := orderBody(tc.subject, sampleLine)
			if tc.customer != "" {
				other = `{"payment_token":"tok_visa","lines":[` + sampleLine + `]}`
			}
			again := h.placeOrder(key, other, caller)
			if again.status != http.StatusAccepted || again.header.Get("Idempotent-Replayed") != "true" || !bytes.Equal(again.body, r.body) {
				t.Fatalf("the same order written the other way: %d %s (replayed %q)", again.status, again.body, again.header.Get("Idempotent-Replayed"))
			}
		})
	}
}

// TestSameKeyTwoCustomers: two customers sending the same Idempotency-Key place two orders;
// neither replays nor blocks the other's, in Redis or, once Redis forgot, in Temporal.
func TestSameKeyTwoCustomers(t *testing.T) {
	h := newHarness(t)
	key := "shared-" + requestid.New()
	a, b := h.as("cust-a", devauth.CustomerScopes...), h.as("cust-b", devauth.CustomerScopes...)
	first := h.placeOrder(key, orderBody("cust-a", sampleLine), a)
	// Another body, which would be refused as a reused key were the keys shared.
	second := h.placeOrder(key, orderBody("cust-b", `{"sku":"SKU-2","quantity":5}`), b)
	for name, r := range map[string]response{"cust-a": first, "cust-b": second} {
		if r.status != http.StatusAccepted || r.header.Get("Idempotent-Replayed") != "" {
			t.Fatalf("%s: %d %s (replayed %q), want a fresh 202", name, r.status, r.body, r.header.Get("Idempotent-Replayed"))
		}
	}
	idA, idB := api.OrderIDForKey("cust-a", key), api.OrderIDForKey("cust-b", key)
	if first.header.Get("Location") != "/orders/"+idA || second.header.Get("Location") != "/orders/"+idB || idA == idB {
		t.Fatalf("orders at %s and %s, want %s and %s", first.header.Get("Location"), second.header.Get("Location"), idA, idB)
	}
	if h.sagaRuns(idA) != 1 || h.sagaRuns(idB) != 1 {
		t.Fatal("want one saga per customer")
	}
	// Each replays their own, with Redis and without.
	for _, flushed := range []bool{false, true} {
		if flushed {
			keys, err := h.redis.Keys(t.Context(), h.prefix+"*").Result()
			if err != nil || len(keys) == 0 {
				t.Fatalf("no records to flush (%v)", err)
			}
			if err := h.redis.Del(t.Context(), keys...).Err(); err != nil {
				t.Fatal(err)
			}
		}
		if r := h.placeOrder(key, orderBody("cust-a", sampleLine), a); r.status != http.StatusAccepted || r.header.Get("Location") != "/orders/"+idA || r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("cust-a again (Redis flushed: %v): %d %s", flushed, r.status, r.body)
		}
	}
}

// TestGetOrderIsTheCustomers: a customer reads their own orders; another customer's is
// answered exactly as a missing order, recorded by the order service or known only to its
// saga; an operator reads every order.
func TestGetOrderIsTheCustomers(t *testing.T) {
	h := newHarness(t, withServices())
	recorded := h.orderID("recorded-" + requestid.New())
	if _, err := h.orders.Create(t.Context(), "create-"+recorded, orderclient.CreateOrderRequest{
		OrderID: recorded, CustomerID: "cust-a", WorkflowID: workflows.WorkflowID(recorded),
		Lines: []orderclient.NewLine{{SKU: "SKU-1", Quantity: 1}},
	}); err != nil {
		t.Fatal(err)
	}
	key := "saga-only-" + requestid.New()
	owner := h.as("cust-a", devauth.CustomerScopes...)
	if r := h.placeOrder(key, orderBody("cust-a", sampleLine), owner); r.status != http.StatusAccepted {
		t.Fatalf("place: %d %s", r.status, r.body)
	}
	sagaOnly := api.OrderIDForKey("cust-a", key)
	other := h.as("cust-b", devauth.CustomerScopes...)
	cases := []struct {
		name   string
		caller map[string]string
		mine   bool // 200; otherwise answered as missing
	}{
		{"its customer", owner, true},
		{"another customer", other, false},
		{"another customer who is also an operator without read_all", h.as("cust-b", auth.ScopeOrdersRead, auth.ScopeOrdersApprove), false},
		{"an operator", h.as("ops-1", devauth.OperatorScopes...), true},
		{"read_all alone", h.as("auditor-1", auth.ScopeOrdersReadAll), true},
	}
	for _, tc := range cases {
		for _, id := range []string{recorded, sagaOnly} {
			t.Run(tc.name+"/"+id, func(t *testing.T) {
				r := h.do(http.MethodGet, "/orders/"+id, tc.caller, "")
				if !tc.mine {
					requireNotFoundLikeMissing(t, h, r, id, tc.caller)
					return
				}
				var o orderView
				if r.status != http.StatusOK {
					t.Fatalf("status %d %s, want 200", r.status, r.body)
				}
				if r.json(t, &o); o.ID != id || o.CustomerID != "cust-a" {
					t.Fatalf("order %s", r.body)
				}
			})
		}
	}
	// Without orders:read or orders:read_all the guard refuses before anything is read.
	requireForbidden(t, h.do(http.MethodGet, "/orders/"+recorded, h.as("ops-2", auth.ScopeOrdersApprove), ""))
}

// TestListOrdersIsTheCustomers: a customer lists their own orders and may not name another
// customer (403, not an empty page); an operator lists everyone's, and filters.
func TestListOrdersIsTheCustomers(t *testing.T) {
	h := newHarness(t, withServices())
	for _, customer := range []string{"cust-a", "cust-a", "cust-b"} {
		id := h.orderID("list-" + requestid.New())
		if _, err := h.orders.Create(t.Context(), "create-"+id, orderclient.CreateOrderRequest{
			OrderID: id, CustomerID: customer, WorkflowID: workflows.WorkflowID(id),
			Lines: []orderclient.NewLine{{SKU: "SKU-1", Quantity: 1}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	customer, operator := h.as("cust-a", devauth.CustomerScopes...), h.as("ops-1", devauth.OperatorScopes...)
	cases := []struct {
		name   string
		caller map[string]string
		query  string
		want   []string // customers of the listed orders; nil = 403
	}{
		{"a customer", customer, "", []string{"cust-a", "cust-a"}},
		{"a customer naming themselves", customer, "?customer_id=cust-a", []string{"cust-a", "cust-a"}},
		{"a customer naming another", customer, "?customer_id=cust-b", nil},
		{"a customer without orders", h.as("cust-z", devauth.CustomerScopes...), "", []string{}},
		{"an operator", operator, "", []string{"cust-a", "cust-a", "cust-b"}},
		{"an operator filtering", operator, "?customer_id=cust-b", []string{"cust-b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.do(http.MethodGet, "/orders"+tc.query, tc.caller, "")
			if tc.want == nil {
				requireForbidden(t, r)
				return
			}
			var page struct {
				Items []orderView `json:"items"`
			}
			if r.status != http.StatusOK {
				t.Fatalf("status %d %s", r.status, r.body)
			}
			r.json(t, &page)
			got := []string{}
			for _, o := range page.Items {
				got = append(got, o.CustomerID)
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Fatalf("listed customers %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDecisionsNeedTheirScope: approving and rejecting are for operators; a customer may
// not even learn whether another customer's order exists through cancel. (Decisions that
// reach a running saga are in test/authz and test/e2e, where workers run it.)
func TestDecisionsNeedTheirScope(t *testing.T) {
	h := newHarness(t)
	key := "decide-" + requestid.New()
	owner := h.as("cust-a", devauth.CustomerScopes...)
	if r := h.placeOrder(key, orderBody("cust-a", sampleLine), owner); r.status != http.StatusAccepted {
		t.Fatalf("place: %d %s", r.status, r.body)
	}
	id := api.OrderIDForKey("cust-a", key)
	operator := h.as("ops-1", devauth.OperatorScopes...)
	for _, action := range []string{"approve", "reject"} {
		requireForbidden(t, h.do(http.MethodPost, "/orders/"+id+"/"+action, owner, `{"reason":"mine"}`))
		// The operator gets through to the saga's state: PENDING is not held.
		if r := h.do(http.MethodPost, "/orders/"+id+"/"+action, operator, ""); r.status != http.StatusConflict {
			t.Fatalf("%s by an operator: %d %s, want 409", action, r.status, r.body)
		}
	}
	r := h.do(http.MethodPost, "/orders/"+id+"/cancel", h.as("cust-b", devauth.CustomerScopes...), `{"reason":"not mine"}`)
	missing := "ord_" + strings.Repeat("z", 24)
	want := h.do(http.MethodPost, "/orders/"+missing+"/cancel", h.as("cust-b", devauth.CustomerScopes...), `{"reason":"not mine"}`)
	if r.status != http.StatusNotFound || !bytes.Equal(bytes.ReplaceAll(r.body, []byte(id), []byte(missing)), want.body) {
		t.Fatalf("cancel of another's order: %d %s, want what a missing order gets: %d %s", r.status, r.body, want.status, want.body)
	}
}

// reversedCodec stands in for an encrypting codec: what it encodes is not readable as
// the SDK's default converter writes it.
type reversedCodec struct{}

const reversedEncoding = "binary/reversed"

func (reversedCodec) Encode(in []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(in))
	for i, p := range in {
		raw, err := p.Marshal()
		if err != nil {
			return nil, err
		}
		slices.Reverse(raw)
		out[i] = &commonpb.Payload{Metadata: map[string][]byte{converter.MetadataEncoding: []byte(reversedEncoding)}, Data: raw}
	}
	return out, nil
}

func (reversedCodec) Decode(in []*commonpb.Payload) ([]*commonpb.Payload, error) {
	out := make([]*commonpb.Payload, len(in))
	for i, p := range in {
		if string(p.GetMetadata()[converter.MetadataEncoding]) != reversedEncoding {
			out[i] = p
			continue
		}
		raw := slices.Clone(p.GetData())
		slices.Reverse(raw)
		out[i] = &commonpb.Payload{}
		if err := out[i].Unmarshal(raw); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// TestSagaCustomerLivesInTheMemo: the customer goes into the saga's memo, through the
// client's data converter, not into a search attribute; the API reads it back with the
// converter in Deps, and an API that cannot decode it treats the order as nobody's.
func TestSagaCustomerLivesInTheMemo(t *testing.T) {
	h := newHarness(t, withServices())
	dc := converter.NewCodecDataConverter(converter.GetDefaultDataConverter(), reversedCodec{})
	coded, err := client.NewClientFromExisting(h.temporal, client.Options{DataConverter: dc})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(coded.Close)
	codedURL := h.serve(api.Deps{Temporal: coded, Redis: h.redis, Orders: h.orders, Inventory: h.inventory, DataConverter: dc}, nil)

	const customer = "cust-memo"
	owner := h.as(customer, devauth.CustomerScopes...)
	key := "memo-" + requestid.New()
	id := api.OrderIDForKey(customer, key)
	place := h.doAt(codedURL, http.MethodPost, "/orders", merge(owner, map[string]string{"Idempotency-Key": key}), orderBody(customer, sampleLine))
	if place.status != http.StatusAccepted {
		t.Fatalf("place: %d %s", place.status, place.body)
	}
	h.terminateLater(id)

	desc, err := h.temporal.DescribeWorkflowExecution(t.Context(), workflows.WorkflowID(id), "")
	if err != nil {
		t.Fatal(err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if p := info.GetSearchAttributes().GetIndexedFields()["CustomerId"]; p != nil {
		t.Fatalf("search attribute CustomerId set: %s", p.GetData())
	}
	memo := info.GetMemo().GetFields()["customer_id"]
	if memo == nil || string(memo.GetMetadata()[converter.MetadataEncoding]) != reversedEncoding || bytes.Contains(memo.GetData(), []byte(customer)) {
		t.Fatalf("memo customer_id %v, want it encoded by the client's codec", memo)
	}

	// Read through the converter the client wrote with: the customer's order, and no
	// one else's.
	r := h.doAt(codedURL, http.MethodGet, "/orders/"+id, owner, "")
	var o orderView
	if r.status != http.StatusOK {
		t.Fatalf("its customer: %d %s", r.status, r.body)
	}
	if r.json(t, &o); o.CustomerID != customer {
		t.Fatalf("order %s", r.body)
	}
	other := h.as("cust-other", devauth.CustomerScopes...)
	if r := h.doAt(codedURL, http.MethodGet, "/orders/"+id, other, ""); r.status != http.StatusNotFound {
		t.Fatalf("another customer: %d %s, want 404", r.status, r.body)
	}
	// An API whose converter cannot decode the memo knows no customer: not even the owner
	// reads the order, while an operator still does.
	requireNotFoundLikeMissing(t, h, h.do(http.MethodGet, "/orders/"+id, owner, ""), id, owner)
	if r := h.do(http.MethodGet, "/orders/"+id, h.as("ops-1", devauth.OperatorScopes...), ""); r.status != http.StatusOK {
		t.Fatalf("an operator: %d %s", r.status, r.body)
	}
}

func merge(maps ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range maps {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// TestOlderSagaCustomerFromSearchAttribute: a saga started before the memo held the
// customer still tells whose order it is, from its CustomerId search attribute.
func TestOlderSagaCustomerFromSearchAttribute(t *testing.T) {
	h := newHarness(t, withServices())
	id := h.orderID("older-" + requestid.New())
	_, err := h.temporal.ExecuteWorkflow(t.Context(), client.StartWorkflowOptions{
		ID:        workflows.WorkflowID(id),
		TaskQueue: h.cfg.SagaTaskQueue,
		TypedSearchAttributes: temporal.NewSearchAttributes(
			workflows.SearchOrderStatus.ValueSet(string(orderclient.StatusPending)),
			workflows.SearchCustomerID.ValueSet("cust-old"),
		),
	}, workflows.OrderSagaName, workflows.OrderInput{OrderID: id, CustomerID: "cust-old", PaymentToken: "tok_visa",
		Lines: []workflows.OrderLine{{SKU: "SKU-1", Quantity: 1}}, ApprovalTimeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	h.terminateLater(id)
	r := h.do(http.MethodGet, "/orders/"+id, h.as("cust-old", devauth.CustomerScopes...), "")
	var o orderView
	if r.status != http.StatusOK {
		t.Fatalf("its customer: %d %s", r.status, r.body)
	}
	if r.json(t, &o); o.CustomerID != "cust-old" {
		t.Fatalf("order %s", r.body)
	}
	other := h.as("cust-new", devauth.CustomerScopes...)
	requireNotFoundLikeMissing(t, h, h.do(http.MethodGet, "/orders/"+id, other, ""), id, other)
}

// TestInsecureModeKeepsTheBodysCustomer: with authentication off (local use), no token is
// asked for, the body names the customer (required), and order ids are derived from the
// key alone, as before authentication.
func TestInsecureModeKeepsTheBodysCustomer(t *testing.T) {
	h := newHarness(t, withInsecure(), withServices())
	key := "insecure-" + requestid.New()
	r := h.placeOrder(key, `{"payment_token":"tok_visa","lines":[`+sampleLine+`]}`, nil)
	if r.status != http.StatusUnprocessableEntity || r.problemType(t) != "/problems/validation" {
		t.Fatalf("no customer_id: %d %s, want 422", r.status, r.body)
	}
	if h.hasSaga(api.OrderIDForKey("", key)) {
		t.Fatal("a refused order started a saga")
	}
	r = h.placeOrder(key, orderBody("cust-x", sampleLine), nil)
	id := api.OrderIDForKey("", key)
	if r.status != http.StatusAccepted || r.header.Get("Location") != "/orders/"+id {
		t.Fatalf("place: %d %s at %q, want 202 at /orders/%s", r.status, r.body, r.header.Get("Location"), id)
	}
	if input := h.sagaInput(id); input.CustomerID != "cust-x" {
		t.Fatalf("saga customer %q", input.CustomerID)
	}
	for _, path := range []string{"/orders/" + id, "/orders?customer_id=cust-x", "/products"} {
		if r := h.do(http.MethodGet, path, nil, ""); r.status != http.StatusOK {
			t.Fatalf("GET %s without a token: %d %s", path, r.status, r.body)
		}
	}
}
