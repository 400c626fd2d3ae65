package audit

import (
	"context"
	"fmt"

	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
	orderclient "github.com/sagaflow/sagaflow/services/order/client"
	paymentclient "github.com/sagaflow/sagaflow/services/payment/client"
)

// Largest pages the services serve. Reservation and payment pages stay below the
// service maximum so a page of many-line documents fits the clients' response bound.
const (
	maxOrderPage       = 100
	maxPaymentPage     = 500
	maxReservationPage = 500
	maxMovementPage    = 1000
)

// snapshot is everything one pass read.
type snapshot struct {
	reservations map[string]invclient.Reservation
	payments     map[string]paymentclient.Payment
	stock        []skuStock
	orders       []orderclient.Order
	orderIDs     map[string]bool
}

// skuStock is one product with its ledger. The ledger was read in two parts around the
// product: movements[:before] before it and the rest after it, so the product's levels
// must equal the ledger's replay at the end of movements[:before] or after a later entry.
type skuStock struct {
	product   invclient.Product
	movements []invclient.StockMovement
	before    int
}

// read gathers every record. Reservations and payments are read before the orders: the
// saga records an order before it reserves or charges anything, so every reservation and
// payment seen belongs to an order the later order listing can see.
func (a *Auditor) read(ctx context.Context, pageSize int) (*snapshot, error) {
	s := &snapshot{
		reservations: map[string]invclient.Reservation{},
		payments:     map[string]paymentclient.Payment{},
		orderIDs:     map[string]bool{},
	}
	if err := a.readReservations(ctx, s, pageSize); err != nil {
		return nil, err
	}
	if err := a.readPayments(ctx, s, pageSize); err != nil {
		return nil, err
	}
	if err := a.readStock(ctx, s, pageSize); err != nil {
		return nil, err
	}
	if err := a.readOrders(ctx, s, pageSize); err != nil {
		return nil, err
	}
	return s, nil
}

func pageOf(requested, limit int) int {
	if requested <= 0 || requested > limit {
		return limit
	}
	return requested
}

func (a *Auditor) readReservations(ctx context.Context, s *snapshot, pageSize int) error {
	f := invclient.ReservationFilter{Limit: pageOf(pageSize, maxReservationPage)}
	for {
		page, err := a.inventory.ListReservations(ctx, f)
		if err != nil {
			return fmt.Errorf("audit: list reservations: %w", err)
		}
		for _, r := range page.Items {
			s.reservations[r.OrderID] = r
		}
		if page.Next == "" {
			return nil
		}
		f.After = page.Next
	}
}

func (a *Auditor) readPayments(ctx context.Context, s *snapshot, pageSize int) error {
	limit := pageOf(pageSize, maxPaymentPage)
	after := ""
	for {
		page, err := a.payments.List(ctx, "", after, limit)
		if err != nil {
			return fmt.Errorf("audit: list payments: %w", err)
		}
		for _, p := range page.Items {
			s.payments[p.OrderID] = p
		}
		if page.Next == "" {
			return nil
		}
		after = page.Next
	}
}

func (a *Auditor) readStock(ctx context.Context, s *snapshot, pageSize int) error {
	products, err := a.inventory.ListProducts(ctx)
	if err != nil {
		return fmt.Errorf("audit: list products: %w", err)
	}
	limit := pageOf(pageSize, maxMovementPage)
	for _, listed := range products.Items {
		sku := listed.SKU
		movements, err := a.readMovements(ctx, sku, 0, limit)
		if err != nil {
			return err
		}
		product, err := a.inventory.GetProduct(ctx, sku)
		if err != nil {
			return fmt.Errorf("audit: get product %s: %w", sku, err)
		}
		var last int64
		if n := len(movements); n > 0 {
			last = movements[n-1].ID
		}
		later, err := a.readMovements(ctx, sku, last, limit)
		if err != nil {
			return err
		}
		s.stock = append(s.stock, skuStock{product: product, movements: append(movements, later...), before: len(movements)})
	}
	return nil
}

// readMovements returns a product's ledger entries with an id above after, oldest first.
func (a *Auditor) readMovements(ctx context.Context, sku string, after int64, limit int) ([]invclient.StockMovement, error) {
	var out []invclient.StockMovement
	for {
		page, err := a.inventory.ListMovements(ctx, sku, after, limit)
		if err != nil {
			return nil, fmt.Errorf("audit: list stock movements of %s: %w", sku, err)
		}
		out = append(out, page.Items...)
		if len(page.Items) < limit {
			return out, nil
		}
		after = page.Items[len(page.Items)-1].ID
	}
}

func (a *Auditor) readOrders(ctx context.Context, s *snapshot, pageSize int) error {
	f := orderclient.ListFilter{Limit: pageOf(pageSize, maxOrderPage)}
	for {
		page, err := a.orders.List(ctx, f)
		if err != nil {
			return fmt.Errorf("audit: list orders: %w", err)
		}
		for _, o := range page.Items {
			if !s.orderIDs[o.ID] {
				s.orderIDs[o.ID] = true
				s.orders = append(s.orders, o)
			}
		}
		if page.NextCursor == "" {
			return nil
		}
		f.Cursor = page.NextCursor
	}
}
