package inventory_test

import (
	"errors"
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	"github.com/sagaflow/sagaflow/services/inventory/client"
)

// TestLastUnit races many orders for few units: exactly the stock is sold, every other
// order is told out-of-stock, and the levels and ledger agree afterwards.
func TestLastUnit(t *testing.T) {
	cases := []struct {
		stock  int64
		orders int
	}{
		{stock: 1, orders: 30},
		{stock: 5, orders: 40},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprintf("stock %d, %d orders", tc.stock, tc.orders), func(t *testing.T) {
			e := newEnv(t)
			e.product("LAST", 500, "USD", tc.stock)

			var wg sync.WaitGroup
			errs := make([]error, tc.orders)
			start := make(chan struct{})
			for i := range tc.orders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					_, errs[i] = e.client.Reserve(ctx(t), fmt.Sprintf("saga-%d/reserve", i), reserveReq(fmt.Sprintf("order-%d", i), line("LAST", 1)))
				}()
			}
			close(start)
			wg.Wait()

			var won []int
			for i, err := range errs {
				if err == nil {
					won = append(won, i)
					continue
				}
				var apiErr *svcclient.Error
				if !errors.As(err, &apiErr) || apiErr.Status != http.StatusUnprocessableEntity || apiErr.Code != problem.CodeOutOfStock {
					t.Fatalf("order %d: want out-of-stock, got %v", i, err)
				}
				if len(apiErr.Fields) != 1 || apiErr.Fields[0].Value != "LAST" {
					t.Fatalf("order %d: out-of-stock names %+v", i, apiErr.Fields)
				}
			}
			if int64(len(won)) != tc.stock {
				t.Fatalf("%d orders got stock, want %d", len(won), tc.stock)
			}
			e.wantLevels("LAST", tc.stock, tc.stock)
			e.checkLedger()
			list, err := e.client.ListReservations(ctx(t), client.ReservationFilter{Status: client.ReservationReserved})
			if err != nil || int64(len(list.Items)) != tc.stock {
				t.Fatalf("reserved reservations: %d (%v), want %d", len(list.Items), err, tc.stock)
			}

			// Settle the winners concurrently: half commit, half release.
			var committed int64
			settleErrs := make([]error, len(won))
			for j, i := range won {
				wg.Add(1)
				commit := j%2 == 0
				if commit {
					committed++
				}
				go func() {
					defer wg.Done()
					order := fmt.Sprintf("order-%d", i)
					if commit {
						_, settleErrs[j] = e.client.Commit(ctx(t), order, order+"/commit")
					} else {
						_, settleErrs[j] = e.client.Release(ctx(t), order, order+"/release")
					}
				}()
			}
			wg.Wait()
			for _, err := range settleErrs {
				if err != nil {
					t.Fatal(err)
				}
			}
			e.wantLevels("LAST", tc.stock-committed, 0)
			e.checkLedger()
		})
	}
}

// TestOverlappingOrdersDoNotDeadlock sends orders over the same SKUs listed in opposite
// orders; with plenty of stock every one must succeed, without a deadlock surfacing.
func TestOverlappingOrdersDoNotDeadlock(t *testing.T) {
	e := newEnv(t)
	skus := []string{"S-1", "S-2", "S-3", "S-4"}
	for _, sku := range skus {
		e.product(sku, 100, "USD", 1000)
	}
	const orders = 40
	var wg sync.WaitGroup
	errs := make([]error, orders)
	for i := range orders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lines []client.ReserveLine
			for j := range skus {
				sku := skus[j]
				if i%2 == 1 {
					sku = skus[len(skus)-1-j]
				}
				lines = append(lines, line(sku, 1))
			}
			order := fmt.Sprintf("order-%d", i)
			if _, errs[i] = e.client.Reserve(ctx(t), order+"/reserve", reserveReq(order, lines...)); errs[i] != nil {
				return
			}
			if i%3 == 0 {
				_, errs[i] = e.client.Release(ctx(t), order, order+"/release")
			} else {
				_, errs[i] = e.client.Commit(ctx(t), order, order+"/commit")
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("order %d: %v", i, err)
		}
	}
	released := int64((orders + 2) / 3)
	for _, sku := range skus {
		e.wantLevels(sku, 1000-(orders-released), 0)
	}
	e.checkLedger()
	var deadlocks int64
	if err := e.db.Get(&deadlocks, `SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()`); err != nil {
		t.Fatal(err)
	}
	if deadlocks != 0 {
		t.Fatalf("%d deadlocks detected", deadlocks)
	}
}

// TestConcurrentDuplicates sends the same keyed request from many goroutines at once:
// every caller gets the same answer and stock moves once.
func TestConcurrentDuplicates(t *testing.T) {
	e := newEnv(t)
	e.product("A-1", 1000, "USD", 10)
	const callers = 20

	run := func(call func() (string, error)) {
		t.Helper()
		var wg sync.WaitGroup
		got := make([]string, callers)
		errs := make([]error, callers)
		start := make(chan struct{})
		for i := range callers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				got[i], errs[i] = call()
			}()
		}
		close(start)
		wg.Wait()
		for i := range callers {
			if errs[i] != nil {
				t.Fatalf("caller %d: %v", i, errs[i])
			}
			if got[i] != got[0] {
				t.Fatalf("caller %d got %s, caller 0 got %s", i, got[i], got[0])
			}
		}
	}

	run(func() (string, error) {
		p, err := e.client.Restock(ctx(t), "A-1", "restock-once", client.RestockRequest{Quantity: 5})
		return fmt.Sprintf("%d/%d", p.OnHand, p.Reserved), err
	})
	e.wantLevels("A-1", 15, 0)

	run(func() (string, error) {
		r, err := e.client.Reserve(ctx(t), "reserve-once", reserveReq("o-1", line("A-1", 3)))
		return fmt.Sprintf("%s %s %v %d", r.OrderID, r.Status, r.CreatedAt.UnixNano(), len(r.Lines)), err
	})
	e.wantLevels("A-1", 15, 3)

	// Different keys for the same order still reserve once.
	var wg sync.WaitGroup
	errs := make([]error, callers)
	for i := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = e.client.Reserve(ctx(t), fmt.Sprintf("retry-%d", i), reserveReq("o-2", line("A-1", 2)))
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	e.wantLevels("A-1", 15, 5)

	run(func() (string, error) {
		r, err := e.client.Commit(ctx(t), "o-1", "commit-once")
		return r.Status, err
	})
	run(func() (string, error) {
		r, err := e.client.Release(ctx(t), "o-2", "release-once")
		return r.Status, err
	})
	e.wantLevels("A-1", 12, 0)
	for kind, want := range map[string]int{client.MovementRestock: 2, client.MovementReserve: 2, client.MovementCommit: 1, client.MovementRelease: 1} {
		if n := e.movements(kind); n != want {
			t.Fatalf("%d %s movements, want %d", n, kind, want)
		}
	}
	e.checkLedger()
}
