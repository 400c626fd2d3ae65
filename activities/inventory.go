package activities

import (
	"context"

	"go.temporal.io/sdk/activity"

	invclient "github.com/sagaflow/sagaflow/services/inventory/client"
)

// ReserveInput reserves every line of an order, all or nothing.
type ReserveInput struct {
	IdempotencyKey string `json:"idempotency_key"`
	OrderID        string `json:"order_id"`
	Lines          []Line `json:"lines"`
}

// ReservedLine is a reserved line with the catalog price it was reserved at.
type ReservedLine struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
	Currency  string `json:"currency"`
}

// ReserveResult is the reservation with its priced lines.
type ReserveResult struct {
	Status  string         `json:"status"`
	Lines   []ReservedLine `json:"lines"`
	Attempt int32          `json:"attempt"`
}

// StockInput names the order whose reservation is released or committed.
type StockInput struct {
	IdempotencyKey string `json:"idempotency_key"`
	OrderID        string `json:"order_id"`
}

// StockResult is the reservation's status after a call.
type StockResult struct {
	Status  string `json:"status"`
	Attempt int32  `json:"attempt"`
}

// Inventory calls the inventory service.
type Inventory struct {
	client *invclient.Client
}

// NewInventory returns the inventory activities over the inventory service's client.
func NewInventory(c *invclient.Client) *Inventory {
	return &Inventory{client: c}
}

// Register registers the inventory activities under their names.
func (a *Inventory) Register(r Registry) {
	r.RegisterActivityWithOptions(a.Reserve, registerOptions(InventoryReserve))
	r.RegisterActivityWithOptions(a.Release, registerOptions(InventoryRelease))
	r.RegisterActivityWithOptions(a.Commit, registerOptions(InventoryCommit))
}

// Reserve holds stock for every line and returns the lines priced from the catalog.
func (a *Inventory) Reserve(ctx context.Context, in ReserveInput) (ReserveResult, error) {
	if a.client == nil {
		return ReserveResult{}, errNoClient("inventory")
	}
	l := logger(ctx, in.OrderID)
	req := invclient.ReserveRequest{OrderID: in.OrderID, Lines: make([]invclient.ReserveLine, 0, len(in.Lines))}
	for _, line := range in.Lines {
		req.Lines = append(req.Lines, invclient.ReserveLine{SKU: line.SKU, Quantity: line.Quantity})
	}
	res, err := a.client.Reserve(ctx, in.IdempotencyKey, req)
	if err := finish(ctx, l, "reserve stock", err); err != nil {
		return ReserveResult{}, err
	}
	out := ReserveResult{Status: res.Status, Lines: make([]ReservedLine, 0, len(res.Lines)), Attempt: attempt(ctx)}
	for _, line := range res.Lines {
		out.Lines = append(out.Lines, ReservedLine{
			SKU: line.SKU, Name: line.Name, Quantity: line.Quantity, UnitPrice: line.UnitPrice, Currency: line.Currency,
		})
	}
	return out, nil
}

// Release gives the order's reserved stock back (or leaves a marker refusing a late reserve).
func (a *Inventory) Release(ctx context.Context, in StockInput) (StockResult, error) {
	if a.client == nil {
		return StockResult{}, errNoClient("inventory")
	}
	l := logger(ctx, in.OrderID)
	res, err := a.client.Release(ctx, in.OrderID, in.IdempotencyKey)
	if err := finish(ctx, l, "release stock", err); err != nil {
		return StockResult{}, err
	}
	return StockResult{Status: res.Status, Attempt: attempt(ctx)}, nil
}

// Commit turns the order's reserved stock into sold stock.
func (a *Inventory) Commit(ctx context.Context, in StockInput) (StockResult, error) {
	if a.client == nil {
		return StockResult{}, errNoClient("inventory")
	}
	l := logger(ctx, in.OrderID)
	res, err := a.client.Commit(ctx, in.OrderID, in.IdempotencyKey)
	if err := finish(ctx, l, "commit stock", err); err != nil {
		return StockResult{}, err
	}
	return StockResult{Status: res.Status, Attempt: attempt(ctx)}, nil
}

func registerOptions(name string) activity.RegisterOptions {
	return activity.RegisterOptions{Name: name}
}
