package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/requestid"
	inventoryclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/tools/devauth"
	"github.com/sagaflow/sagaflow/workflows"
)

type orderView struct {
	ID         string `json:"id"`
	Status     string `json:"status"`
	CustomerID string `json:"customer_id"`
	Lines      []struct {
		SKU      string `json:"sku"`
		Quantity int64  `json:"quantity"`
	} `json:"lines"`
	History []struct {
		To string `json:"to"`
	} `json:"history"`
	Links struct {
		Self string `json:"self"`
	} `json:"links"`
}

func TestGetOrderFromOrderService(t *testing.T) {
	h := newHarness(t, withServices())
	ctx := context.Background()
	id := h.orderID("get-" + requestid.New())
	_, err := h.orders.Create(ctx, "create-"+id, orderclient.CreateOrderRequest{
		OrderID: id, CustomerID: "cust-7", WorkflowID: workflows.WorkflowID(id),
		Lines: []orderclient.NewLine{{SKU: "SKU-1", Quantity: 3}},
	})
	if err != nil {
		t.Fatal(err)
	}
	r := h.do(http.MethodGet, "/orders/"+id, nil, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	var o orderView
	r.json(t, &o)
	if o.ID != id || o.Status != string(orderclient.StatusPending) || o.CustomerID != "cust-7" || len(o.Lines) != 1 ||
		o.Lines[0].SKU != "SKU-1" || o.Lines[0].Quantity != 3 || len(o.History) == 0 || o.Links.Self != "/orders/"+id {
		t.Fatalf("order = %s", r.body)
	}
}

func TestGetOrderFromSagaBeforeTheOrderIsRecorded(t *testing.T) {
	h := newHarness(t, withServices(), withConfig(func(c *api.Config) { c.ServiceCallTimeout = time.Second }))
	key := "saga-only-" + requestid.New()
	customer := h.as("cust-3", devauth.CustomerScopes...)
	if r := h.placeOrder(key, orderBody("cust-3", sampleLine), customer); r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	id := api.OrderIDForKey("cust-3", key)
	// No worker runs the saga: the order service has no record and the status query
	// cannot be answered, yet the order exists, for its customer (from the saga's memo).
	r := h.do(http.MethodGet, "/orders/"+id, customer, "")
	if r.status != http.StatusOK {
		t.Fatalf("GET: %d %s", r.status, r.body)
	}
	var o orderView
	r.json(t, &o)
	if o.ID != id || o.Status != string(orderclient.StatusPending) || o.CustomerID != "cust-3" {
		t.Fatalf("order = %s", r.body)
	}
}

func TestGetOrderNotFoundAndMalformed(t *testing.T) {
	h := newHarness(t, withServices())
	r := h.do(http.MethodGet, "/orders/"+h.orderID("never-"+requestid.New()), nil, "")
	if r.status != http.StatusNotFound || r.problemType(t) != "/problems/not-found" {
		t.Fatalf("unknown order: %d %s", r.status, r.body)
	}
	for _, bad := range []string{"bad%20id", "-dash-first", "a.b", "x%C3%A9"} {
		r := h.do(http.MethodGet, "/orders/"+bad, nil, "")
		if r.status != http.StatusUnprocessableEntity && r.status != http.StatusBadRequest {
			t.Fatalf("GET /orders/%s: %d %s, want 400/422", bad, r.status, r.body)
		}
		r.problemType(t)
	}
}

func TestGetOrderWithOrderServiceDownIsUnavailable(t *testing.T) {
	h := newHarness(t)
	r := h.do(http.MethodGet, "/orders/"+h.orderID("down-"+requestid.New()), nil, "")
	if r.status != http.StatusServiceUnavailable || r.problemType(t) != "/problems/unavailable" {
		t.Fatalf("GET with the order service down: %d %s", r.status, r.body)
	}
}

func TestListOrdersPassesFiltersAndPages(t *testing.T) {
	h := newHarness(t, withServices())
	ctx := context.Background()
	for i := range 3 {
		id := h.orderID("list-" + requestid.New())
		customer := "cust-a"
		if i == 2 {
			customer = "cust-b"
		}
		if _, err := h.orders.Create(ctx, "create-"+id, orderclient.CreateOrderRequest{
			OrderID: id, CustomerID: customer, WorkflowID: workflows.WorkflowID(id),
			Lines: []orderclient.NewLine{{SKU: "SKU-1", Quantity: 1}},
		}); err != nil {
			t.Fatal(err)
		}
	}
	var page struct {
		Items      []orderView `json:"items"`
		NextCursor string      `json:"next_cursor"`
	}
	r := h.do(http.MethodGet, "/orders?customer_id=cust-a&limit=1", nil, "")
	if r.status != http.StatusOK {
		t.Fatalf("list: %d %s", r.status, r.body)
	}
	r.json(t, &page)
	if len(page.Items) != 1 || page.Items[0].CustomerID != "cust-a" || page.NextCursor == "" {
		t.Fatalf("first page = %s", r.body)
	}
	first := page.Items[0].ID
	r = h.do(http.MethodGet, "/orders?customer_id=cust-a&limit=1&cursor="+page.NextCursor, nil, "")
	page.NextCursor = ""
	r.json(t, &page)
	if r.status != http.StatusOK || len(page.Items) != 1 || page.Items[0].ID == first || page.Items[0].CustomerID != "cust-a" {
		t.Fatalf("second page = %d %s", r.status, r.body)
	}
	r = h.do(http.MethodGet, "/orders?status=CONFIRMED", nil, "")
	r.json(t, &page)
	if r.status != http.StatusOK || len(page.Items) != 0 {
		t.Fatalf("CONFIRMED orders = %d %s", r.status, r.body)
	}
	for _, bad := range []string{"status=DONE", "limit=0", "limit=101", "customer_id=a%20b", "limit=x"} {
		r := h.do(http.MethodGet, "/orders?"+bad, nil, "")
		if r.status != http.StatusUnprocessableEntity && r.status != http.StatusBadRequest {
			t.Fatalf("list ?%s: %d %s, want 400/422", bad, r.status, r.body)
		}
		r.problemType(t)
	}
	r = h.do(http.MethodGet, "/orders?cursor=not-a-cursor", nil, "")
	if r.status < 400 || r.status >= 500 {
		t.Fatalf("bad cursor: %d %s, want 4xx", r.status, r.body)
	}
}

func TestListProducts(t *testing.T) {
	h := newHarness(t, withServices())
	ctx := context.Background()
	if _, err := h.inventory.UpsertProduct(ctx, "SKU-P1", inventoryclient.UpsertProductRequest{Name: "Beans", UnitPrice: 1899, Currency: "USD"}); err != nil {
		t.Fatal(err)
	}
	if _, err := h.inventory.Restock(ctx, "SKU-P1", "restock-"+requestid.New(), inventoryclient.RestockRequest{Quantity: 7}); err != nil {
		t.Fatal(err)
	}
	r := h.do(http.MethodGet, "/products", nil, "")
	if r.status != http.StatusOK {
		t.Fatalf("products: %d %s", r.status, r.body)
	}
	var list struct {
		Items []map[string]any `json:"items"`
	}
	r.json(t, &list)
	if len(list.Items) != 1 {
		t.Fatalf("products = %s", r.body)
	}
	p := list.Items[0]
	if p["sku"] != "SKU-P1" || p["name"] != "Beans" || p["unit_price"] != float64(1899) || p["currency"] != "USD" || p["available"] != float64(7) {
		t.Fatalf("product = %v", p)
	}
	if _, leaked := p["on_hand"]; leaked {
		t.Fatal("internal stock levels leaked to the public API")
	}
}

func TestDecisionsOnUnknownOrderAreNotFound(t *testing.T) {
	h := newHarness(t)
	id := h.orderID("nobody-" + requestid.New())
	for _, action := range []string{"approve", "reject", "cancel"} {
		r := h.do(http.MethodPost, "/orders/"+id+"/"+action, nil, `{"reason":"test"}`)
		if r.status != http.StatusNotFound || r.problemType(t) != "/problems/not-found" {
			t.Fatalf("%s: %d %s", action, r.status, r.body)
		}
		// The body is optional.
		r = h.do(http.MethodPost, "/orders/"+id+"/"+action, nil, "")
		if r.status != http.StatusNotFound {
			t.Fatalf("%s without body: %d %s", action, r.status, r.body)
		}
	}
}

func TestDecisionsValidateInput(t *testing.T) {
	h := newHarness(t)
	id := h.orderID("validate-" + requestid.New())
	cases := map[string]struct {
		path   string
		header map[string]string
		body   string
	}{
		"unknown field":     {"/orders/" + id + "/approve", nil, `{"reason":"ops","amount":1}`},
		"long reason":       {"/orders/" + id + "/reject", nil, `{"reason":"` + longString(501) + `"}`},
		"control character": {"/orders/" + id + "/cancel", nil, `{"reason":"a\nb"}`},
		"bad key":           {"/orders/" + id + "/cancel", map[string]string{"Idempotency-Key": "a b"}, ``},
		"bad id":            {"/orders/bad%20id/cancel", nil, ``},
		"malformed JSON":    {"/orders/" + id + "/approve", nil, `{"reason":`},
		// Who decides is the token's subject: a client cannot name anyone.
		"by": {"/orders/" + id + "/approve", nil, `{"by":"ops","reason":"verified"}`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := h.do(http.MethodPost, c.path, c.header, c.body)
			if r.status != http.StatusUnprocessableEntity && r.status != http.StatusBadRequest {
				t.Fatalf("status %d %s, want 400/422", r.status, r.body)
			}
			r.problemType(t)
		})
	}
}

func TestDecisionOnFinishedSagaConflicts(t *testing.T) {
	h := newHarness(t)
	key := "finished-" + requestid.New()
	if r := h.placeOrder(key, orderBody(harnessSubject, sampleLine), nil); r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	id := h.orderID(key)
	if err := h.temporal.TerminateWorkflow(context.Background(), workflows.WorkflowID(id), "", "test"); err != nil {
		t.Fatal(err)
	}
	r := h.do(http.MethodPost, "/orders/"+id+"/cancel", map[string]string{"Idempotency-Key": "cancel-1"}, `{"reason":"ops"}`)
	if r.status != http.StatusConflict || r.problemType(t) != "/problems/invalid-transition" {
		t.Fatalf("cancel after the saga finished: %d %s", r.status, r.body)
	}
}

func longString(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'r'
	}
	return string(b)
}
