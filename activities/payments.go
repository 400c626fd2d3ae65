package activities

import (
	"context"

	payclient "github.com/sagaflow/sagaflow/services/payment/client"
)

// AuthorizeInput authorizes an order's total on a card token.
type AuthorizeInput struct {
	IdempotencyKey string `json:"idempotency_key"`
	OrderID        string `json:"order_id"`
	Amount         int64  `json:"amount"`
	Currency       string `json:"currency"`
	PaymentToken   string `json:"payment_token"`
}

// PaymentInput names the order whose payment is captured or voided.
type PaymentInput struct {
	IdempotencyKey string `json:"idempotency_key"`
	OrderID        string `json:"order_id"`
}

// PaymentResult is the payment's state after a call.
type PaymentResult struct {
	Status   string `json:"status"`
	Amount   int64  `json:"amount"`
	Captured int64  `json:"captured"`
	Attempt  int32  `json:"attempt"`
}

// Payments calls the payment service.
type Payments struct {
	client *payclient.Client
}

// NewPayments returns the payment activities over the payment service's client.
func NewPayments(c *payclient.Client) *Payments {
	return &Payments{client: c}
}

// Register registers the payment activities under their names.
func (a *Payments) Register(r Registry) {
	r.RegisterActivityWithOptions(a.Authorize, registerOptions(PaymentsAuthorize))
	r.RegisterActivityWithOptions(a.Capture, registerOptions(PaymentsCapture))
	r.RegisterActivityWithOptions(a.Void, registerOptions(PaymentsVoid))
}

// Authorize places a hold on the card for the order's total.
func (a *Payments) Authorize(ctx context.Context, in AuthorizeInput) (PaymentResult, error) {
	if a.client == nil {
		return PaymentResult{}, errNoClient("payment")
	}
	l := logger(ctx, in.OrderID)
	p, err := a.client.Authorize(ctx, in.IdempotencyKey, payclient.AuthorizeRequest{
		OrderID: in.OrderID, Amount: in.Amount, Currency: in.Currency, PaymentToken: in.PaymentToken,
	})
	if err := finish(ctx, l, "authorize payment", err); err != nil {
		return PaymentResult{}, err
	}
	return result(ctx, p), nil
}

// Capture takes the authorized amount.
func (a *Payments) Capture(ctx context.Context, in PaymentInput) (PaymentResult, error) {
	if a.client == nil {
		return PaymentResult{}, errNoClient("payment")
	}
	l := logger(ctx, in.OrderID)
	p, err := a.client.Capture(ctx, in.OrderID, in.IdempotencyKey)
	if err := finish(ctx, l, "capture payment", err); err != nil {
		return PaymentResult{}, err
	}
	return result(ctx, p), nil
}

// Void cancels the authorization (or leaves a marker refusing a late one).
func (a *Payments) Void(ctx context.Context, in PaymentInput) (PaymentResult, error) {
	if a.client == nil {
		return PaymentResult{}, errNoClient("payment")
	}
	l := logger(ctx, in.OrderID)
	p, err := a.client.Void(ctx, in.OrderID, in.IdempotencyKey)
	if err := finish(ctx, l, "void payment", err); err != nil {
		return PaymentResult{}, err
	}
	return result(ctx, p), nil
}

func result(ctx context.Context, p payclient.Payment) PaymentResult {
	return PaymentResult{Status: p.Status, Amount: p.Amount, Captured: p.Captured, Attempt: attempt(ctx)}
}
