package activities

import (
	"context"

	orderclient "github.com/sagaflow/sagaflow/services/order/client"
)

// Line is one requested order line.
type Line struct {
	SKU      string `json:"sku"`
	Quantity int64  `json:"quantity"`
}

// PricedLine is an order line with its catalog price, sent with the move to RESERVED.
type PricedLine struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price"`
}

// CreateOrderInput records a new PENDING order.
type CreateOrderInput struct {
	IdempotencyKey string `json:"idempotency_key"`
	OrderID        string `json:"order_id"`
	CustomerID     string `json:"customer_id"`
	WorkflowID     string `json:"workflow_id"`
	Lines          []Line `json:"lines"`
}

// TransitionInput moves an order to Status; pricing goes with the move to RESERVED.
type TransitionInput struct {
	IdempotencyKey string             `json:"idempotency_key"`
	OrderID        string             `json:"order_id"`
	Status         orderclient.Status `json:"status"`
	Reason         string             `json:"reason,omitempty"`
	Lines          []PricedLine       `json:"lines,omitempty"`
	Currency       string             `json:"currency,omitempty"`
}

// OrderResult is the order's status after a call.
type OrderResult struct {
	Status  orderclient.Status `json:"status"`
	Attempt int32              `json:"attempt"`
}

// Orders calls the order service.
type Orders struct {
	client *orderclient.Client
}

// NewOrders returns the order activities over the order service's client.
func NewOrders(c *orderclient.Client) *Orders {
	return &Orders{client: c}
}

// Register registers the order activities under their names.
func (a *Orders) Register(r Registry) {
	r.RegisterActivityWithOptions(a.Create, registerOptions(OrdersCreate))
	r.RegisterActivityWithOptions(a.Transition, registerOptions(OrdersTransition))
}

// Create records the order as PENDING.
func (a *Orders) Create(ctx context.Context, in CreateOrderInput) (OrderResult, error) {
	if a.client == nil {
		return OrderResult{}, errNoClient("order")
	}
	l := logger(ctx, in.OrderID)
	req := orderclient.CreateOrderRequest{
		OrderID:    in.OrderID,
		CustomerID: in.CustomerID,
		WorkflowID: in.WorkflowID,
		Lines:      make([]orderclient.NewLine, 0, len(in.Lines)),
	}
	for _, line := range in.Lines {
		req.Lines = append(req.Lines, orderclient.NewLine{SKU: line.SKU, Quantity: line.Quantity})
	}
	order, err := a.client.Create(ctx, in.IdempotencyKey, req)
	if err := finish(ctx, l, "create order", err); err != nil {
		return OrderResult{}, err
	}
	return OrderResult{Status: order.Status, Attempt: attempt(ctx)}, nil
}

// Transition moves the order to a new status (a no-op when it already has it).
func (a *Orders) Transition(ctx context.Context, in TransitionInput) (OrderResult, error) {
	if a.client == nil {
		return OrderResult{}, errNoClient("order")
	}
	l := logger(ctx, in.OrderID)
	req := orderclient.TransitionRequest{Status: in.Status, Reason: in.Reason, Currency: in.Currency}
	for _, line := range in.Lines {
		req.Lines = append(req.Lines, orderclient.PricedLine{
			SKU: line.SKU, Name: line.Name, Quantity: line.Quantity, UnitPrice: line.UnitPrice,
		})
	}
	order, err := a.client.Transition(ctx, in.OrderID, in.IdempotencyKey, req)
	if err := finish(ctx, l, "move order to "+string(in.Status), err); err != nil {
		return OrderResult{}, err
	}
	return OrderResult{Status: order.Status, Attempt: attempt(ctx)}, nil
}
