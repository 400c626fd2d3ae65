package inventory_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/services/inventory"
	"github.com/sagaflow/sagaflow/services/inventory/client"
)

func TestInternalErrorIsGeneric(t *testing.T) {
	e := newEnv(t)
	e.product("A-1", 1000, "USD", 5)
	if err := e.db.Close(); err != nil {
		t.Fatal(err)
	}
	calls := []struct {
		name string
		call func() error
	}{
		{"reserve", func() error {
			_, err := e.client.Reserve(ctx(t), "k-1", reserveReq("o-1", line("A-1", 1)))
			return err
		}},
		{"get product", func() error { _, err := e.client.GetProduct(ctx(t), "A-1"); return err }},
		{"list reservations", func() error {
			_, err := e.client.ListReservations(ctx(t), client.ReservationFilter{})
			return err
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			apiErr := apiError(t, c.call(), http.StatusInternalServerError, problem.CodeInternal)
			if apiErr.Detail != problem.Internal().Detail {
				t.Fatalf("detail leaks: %q", apiErr.Detail)
			}
			if apiErr.Retryable() != true {
				t.Fatal("a 500 must be retryable")
			}
		})
	}
	status, body := e.raw(http.MethodGet, "/products/A-1", "", "")
	if status != http.StatusInternalServerError || strings.Contains(strings.ToLower(body["detail"].(string)), "sql") {
		t.Fatalf("raw answer %d %v", status, body)
	}
	logs := e.logs.String()
	if !strings.Contains(logs, "sql: database is closed") || !strings.Contains(logs, `"request_id"`) {
		t.Fatalf("the cause must be logged with the request id:\n%s", logs)
	}
	status, _ = e.raw(http.MethodGet, "/readyz", "", "")
	if status != http.StatusServiceUnavailable {
		t.Fatalf("readyz with a closed database: %d", status)
	}
}

func TestCatalog(t *testing.T) {
	e := newEnv(t)
	c := ctx(t)
	status, created := e.raw(http.MethodPut, "/products/B-2", "", `{"name":"Beans","unit_price":1899,"currency":"USD"}`)
	if status != http.StatusCreated || created["on_hand"] != float64(0) {
		t.Fatalf("create: %d %v", status, created)
	}
	status, updated := e.raw(http.MethodPut, "/products/B-2", "", `{"name":"Beans 1 kg","unit_price":1999,"currency":"USD"}`)
	if status != http.StatusOK || updated["name"] != "Beans 1 kg" || updated["unit_price"] != float64(1999) {
		t.Fatalf("update: %d %v", status, updated)
	}
	e.product("A-1", 500, "EUR", 3)
	e.product("C-3", 0, "USD", 0)

	// Price changes never touch stock, and reservations keep the price they were made at.
	if _, err := e.client.Reserve(c, "k", reserveReq("o-1", line("A-1", 2))); err != nil {
		t.Fatal(err)
	}
	p, err := e.client.UpsertProduct(c, "A-1", client.UpsertProductRequest{Name: "Renamed", UnitPrice: 700, Currency: "EUR"})
	if err != nil || p.OnHand != 3 || p.Reserved != 2 || p.Available != 1 || p.UnitPrice != 700 {
		t.Fatalf("upsert keeps stock: %+v %v", p, err)
	}
	r, err := e.client.GetReservation(c, "o-1")
	if err != nil || r.Lines[0].UnitPrice != 500 || r.Lines[0].Name != "Product A-1" {
		t.Fatalf("reservation keeps its price: %+v %v", r, err)
	}

	list, err := e.client.ListProducts(c)
	if err != nil {
		t.Fatal(err)
	}
	var skus []string
	for _, p := range list.Items {
		skus = append(skus, p.SKU)
	}
	if !slices.Equal(skus, []string{"A-1", "B-2", "C-3"}) {
		t.Fatalf("products %v", skus)
	}
	_, err = e.client.GetProduct(c, "NOPE")
	apiError(t, err, http.StatusNotFound, problem.CodeNotFound)

	moves, err := e.client.ListMovements(c, "A-1", 0, 0)
	if err != nil || len(moves.Items) != 2 {
		t.Fatalf("movements %+v %v", moves, err)
	}
	if m := moves.Items[0]; m.Kind != client.MovementRestock || m.Quantity != 3 || m.OrderID != "" || m.OnHandAfter != 3 || m.ReservedAfter != 0 {
		t.Fatalf("restock movement %+v", m)
	}
	if m := moves.Items[1]; m.Kind != client.MovementReserve || m.Quantity != 2 || m.OrderID != "o-1" || m.OnHandAfter != 3 || m.ReservedAfter != 2 {
		t.Fatalf("reserve movement %+v", m)
	}
	page, err := e.client.ListMovements(c, "A-1", moves.Items[0].ID, 1)
	if err != nil || len(page.Items) != 1 || page.Items[0].ID != moves.Items[1].ID {
		t.Fatalf("second page %+v %v", page, err)
	}
	_, err = e.client.ListMovements(c, "NOPE", 0, 0)
	apiError(t, err, http.StatusNotFound, problem.CodeNotFound)
}

func TestListReservations(t *testing.T) {
	e := newEnv(t)
	e.product("A-1", 1000, "USD", 10)
	c := ctx(t)
	for _, o := range []string{"o-1", "o-2", "o-3"} {
		if _, err := e.client.Reserve(c, o+"/reserve", reserveReq(o, line("A-1", 1))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.client.Commit(c, "o-1", "o-1/commit"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Release(c, "o-2", "o-2/release"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.client.Release(c, "o-4", "o-4/release"); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		filter client.ReservationFilter
		want   []string
	}{
		{client.ReservationFilter{}, []string{"o-1", "o-2", "o-3", "o-4"}},
		{client.ReservationFilter{Status: client.ReservationReleased}, []string{"o-2", "o-4"}},
		{client.ReservationFilter{Status: client.ReservationCommitted}, []string{"o-1"}},
		{client.ReservationFilter{Status: client.ReservationReserved}, []string{"o-3"}},
		{client.ReservationFilter{OrderID: "o-2"}, []string{"o-2"}},
		{client.ReservationFilter{OrderID: "o-2", Status: client.ReservationReserved}, nil},
		{client.ReservationFilter{Limit: 2}, nil},
	}
	for _, tc := range cases {
		list, err := e.client.ListReservations(c, tc.filter)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range list.Items {
			got = append(got, r.OrderID)
			if r.Lines == nil {
				t.Fatalf("%s: lines must be a list", r.OrderID)
			}
		}
		if tc.filter.Limit > 0 {
			if len(got) != tc.filter.Limit {
				t.Fatalf("limit %d gave %v", tc.filter.Limit, got)
			}
			continue
		}
		slices.Sort(got)
		if !slices.Equal(got, tc.want) {
			t.Fatalf("%+v: got %v, want %v", tc.filter, got, tc.want)
		}
	}
	_, err := e.client.GetReservation(c, "nope")
	apiError(t, err, http.StatusNotFound, problem.CodeNotFound)
}

func TestSpec(t *testing.T) {
	spec := inventory.Spec()
	want := map[string]string{
		"upsert-product":       "PUT /products/{sku}",
		"list-products":        "GET /products",
		"get-product":          "GET /products/{sku}",
		"restock-product":      "POST /products/{sku}/restock",
		"list-stock-movements": "GET /products/{sku}/movements",
		"reserve-stock":        "POST /reservations",
		"release-stock":        "POST /reservations/{order_id}/release",
		"commit-stock":         "POST /reservations/{order_id}/commit",
		"get-reservation":      "GET /reservations/{order_id}",
		"list-reservations":    "GET /reservations",
	}
	got := map[string]string{}
	for path, item := range spec.Paths {
		if item.Get != nil {
			got[item.Get.OperationID] = "GET " + path
		}
		if item.Put != nil {
			got[item.Put.OperationID] = "PUT " + path
		}
		if item.Post != nil {
			got[item.Post.OperationID] = "POST " + path
			if !slices.ContainsFunc(item.Post.Parameters, func(p *huma.Param) bool { return p.Name == "Idempotency-Key" && p.Required }) {
				t.Errorf("%s does not require Idempotency-Key", item.Post.OperationID)
			}
		}
	}
	for id, route := range want {
		if got[id] != route {
			t.Errorf("%s: got %q, want %q", id, got[id], route)
		}
	}
	reserve := spec.Paths["/reservations"].Post
	for _, code := range []string{"200", "201", "409", "422"} {
		if reserve.Responses[code] == nil {
			t.Errorf("reserve-stock does not document %s", code)
		}
	}
}
