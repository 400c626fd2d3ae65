package inventory_test

import (
	"fmt"
	"net/http"
	"slices"
	"testing"

	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/services/inventory/client"
)

func TestListReservationsPages(t *testing.T) {
	e := newEnv(t)
	e.product("A-1", 1000, "USD", 100)
	c := ctx(t)
	for i := 1; i <= 7; i++ {
		o := fmt.Sprintf("o-%d", i)
		if _, err := e.client.Reserve(c, o+"/reserve", reserveReq(o, line("A-1", 1))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := e.client.Release(c, "o-8", "o-8/release"); err != nil {
		t.Fatal(err)
	}
	// Equal creation times must still page without repeats or gaps (order id breaks ties).
	if _, err := e.db.Exec(`UPDATE reservations SET created_at = '2020-01-01T00:00:00Z' WHERE order_id IN ('o-3', 'o-4', 'o-5')`); err != nil {
		t.Fatal(err)
	}
	full, err := e.client.ListReservations(c, client.ReservationFilter{Limit: 1000})
	if err != nil {
		t.Fatal(err)
	}
	if full.Next != "" {
		t.Fatalf("a complete listing has next %q", full.Next)
	}
	var all []string
	for _, r := range full.Items {
		all = append(all, r.OrderID)
	}
	if len(all) != 8 || !slices.Equal(all[5:], []string{"o-3", "o-4", "o-5"}) {
		t.Fatalf("full listing %v: want 8, oldest o-3, o-4, o-5 last", all)
	}

	cases := []struct {
		name   string
		filter client.ReservationFilter
		want   []string
	}{
		{"all in pages of 3", client.ReservationFilter{Limit: 3}, all},
		{"all in pages of 1", client.ReservationFilter{Limit: 1}, all},
		{"exact page size", client.ReservationFilter{Limit: 8}, all},
		{"by status", client.ReservationFilter{Limit: 2, Status: client.ReservationReserved}, slices.DeleteFunc(slices.Clone(all), func(id string) bool { return id == "o-8" })},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.filter
			var got []string
			for pages := 0; ; pages++ {
				if pages > len(all) {
					t.Fatalf("paging does not end: %v", got)
				}
				page, err := e.client.ListReservations(c, f)
				if err != nil {
					t.Fatal(err)
				}
				if len(page.Items) > f.Limit {
					t.Fatalf("page of %d with limit %d", len(page.Items), f.Limit)
				}
				for _, r := range page.Items {
					got = append(got, r.OrderID)
				}
				if page.Next == "" {
					break
				}
				if page.Next != got[len(got)-1] {
					t.Fatalf("next %q is not the page's last order %q", page.Next, got[len(got)-1])
				}
				f.After = page.Next
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("paged %v, want %v", got, tc.want)
			}
		})
	}

	_, err = e.client.ListReservations(c, client.ReservationFilter{After: "nope"})
	apiError(t, err, http.StatusUnprocessableEntity, problem.CodeValidation)
}
