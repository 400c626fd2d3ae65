// Package client is the payment service's contract: the request and response documents of
// its HTTP API (the service uses the same types) and a typed client for callers.
package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sagaflow/sagaflow/internal/svcclient"
)

// ServiceName is the payment service's name: its configuration prefix and the audience of the
// service tokens its callers send (auth.Signer.Client).
const ServiceName = "payment"

// Payment statuses.
const (
	PaymentAuthorized = "AUTHORIZED"
	PaymentCaptured   = "CAPTURED"
	PaymentVoided     = "VOIDED"
	PaymentRefunded   = "REFUNDED"
)

// Ledger entry kinds.
const (
	EntryAuthorize = "AUTHORIZE"
	EntryCapture   = "CAPTURE"
	EntryVoid      = "VOID"
	EntryRefund    = "REFUND"
)

// Test card tokens understood by the built-in processor (its test mode).
const (
	TokenVisa              = "tok_visa"
	TokenMastercard        = "tok_mastercard"
	TokenChargeDeclined    = "tok_chargeDeclined"
	TokenInsufficientFunds = "tok_insufficientFunds"
)

// AuthorizeRequest authorizes an amount on a card token for one order.
type AuthorizeRequest struct {
	OrderID      string `json:"order_id" minLength:"1" maxLength:"64"`
	Amount       int64  `json:"amount" minimum:"1" doc:"Minor units"`
	Currency     string `json:"currency" pattern:"^[A-Z]{3}$"`
	PaymentToken string `json:"payment_token" minLength:"1" maxLength:"128" example:"tok_visa"`
}

// RefundRequest refunds part or all of a captured amount.
type RefundRequest struct {
	Amount int64 `json:"amount" minimum:"1" doc:"Minor units"`
}

// LedgerEntry is one money movement of a payment.
type LedgerEntry struct {
	ID        int64     `json:"id"`
	Kind      string    `json:"kind" enum:"AUTHORIZE,CAPTURE,VOID,REFUND"`
	Amount    int64     `json:"amount"`
	CreatedAt time.Time `json:"created_at"`
}

// Payment is the payment of one order.
type Payment struct {
	OrderID      string        `json:"order_id"`
	Status       string        `json:"status" enum:"AUTHORIZED,CAPTURED,VOIDED,REFUNDED"`
	Amount       int64         `json:"amount" doc:"Authorized amount, minor units"`
	Currency     string        `json:"currency"`
	Captured     int64         `json:"captured"`
	Refunded     int64         `json:"refunded"`
	ProcessorRef string        `json:"processor_ref,omitempty"`
	Ledger       []LedgerEntry `json:"ledger"`
	CreatedAt    time.Time     `json:"created_at"`
	UpdatedAt    time.Time     `json:"updated_at"`
}

// PaymentList is a page of payments ordered by order id.
type PaymentList struct {
	Items []Payment `json:"items"`
	Next  string    `json:"next,omitempty" doc:"Pass as 'after' to read the next page; absent on the last page"`
}

// Client calls the payment service.
type Client struct{ c *svcclient.Client }

// New returns a client for the payment service at baseURL.
func New(baseURL string, httpClient *http.Client, timeout time.Duration) *Client {
	return &Client{c: svcclient.New(baseURL, httpClient, timeout)}
}

// Authorize places a hold on the card for the order's total.
func (c *Client) Authorize(ctx context.Context, idempotencyKey string, req AuthorizeRequest) (Payment, error) {
	var out Payment
	err := c.c.Do(ctx, http.MethodPost, "/payments", idempotencyKey, req, &out)
	return out, err
}

// Capture takes the authorized amount.
func (c *Client) Capture(ctx context.Context, orderID, idempotencyKey string) (Payment, error) {
	var out Payment
	err := c.c.Do(ctx, http.MethodPost, "/payments/"+url.PathEscape(orderID)+"/capture", idempotencyKey, nil, &out)
	return out, err
}

// Void cancels an authorization. Voiding before any authorization leaves a marker that
// refuses a late authorization for the order.
func (c *Client) Void(ctx context.Context, orderID, idempotencyKey string) (Payment, error) {
	var out Payment
	err := c.c.Do(ctx, http.MethodPost, "/payments/"+url.PathEscape(orderID)+"/void", idempotencyKey, nil, &out)
	return out, err
}

// Refund returns captured money.
func (c *Client) Refund(ctx context.Context, orderID, idempotencyKey string, req RefundRequest) (Payment, error) {
	var out Payment
	err := c.c.Do(ctx, http.MethodPost, "/payments/"+url.PathEscape(orderID)+"/refund", idempotencyKey, req, &out)
	return out, err
}

// Get returns an order's payment with its ledger.
func (c *Client) Get(ctx context.Context, orderID string) (Payment, error) {
	var out Payment
	err := c.c.Do(ctx, http.MethodGet, "/payments/"+url.PathEscape(orderID), "", nil, &out)
	return out, err
}

// List returns a page of payments ordered by order id, for operators and audits: only those
// with status when it is set, starting after the order id after, at most limit (0 means the
// service default).
func (c *Client) List(ctx context.Context, status, after string, limit int) (PaymentList, error) {
	q := url.Values{}
	if status != "" {
		q.Set("status", status)
	}
	if after != "" {
		q.Set("after", after)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/payments"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out PaymentList
	err := c.c.Do(ctx, http.MethodGet, path, "", nil, &out)
	return out, err
}
