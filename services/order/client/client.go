// Package client is the order service's contract: the request and response documents of
// its HTTP API (the service uses the same types) and a typed client for callers.
package client

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/danielgtaylor/huma/v2"

	"github.com/sagaflow/sagaflow/internal/svcclient"
)

// ServiceName is the order service's name: its configuration prefix and the audience of the
// service tokens its callers send (auth.Signer.Client).
const ServiceName = "order"

// NewLine is one requested line of a new order.
type NewLine struct {
	SKU      string `json:"sku" minLength:"1" maxLength:"64"`
	Quantity int64  `json:"quantity" minimum:"1" maximum:"1000000"`
}

// CreateOrderRequest records a new PENDING order. Creating the same order id again with
// the same content returns the existing order.
type CreateOrderRequest struct {
	OrderID    string    `json:"order_id" minLength:"1" maxLength:"64"`
	CustomerID string    `json:"customer_id" minLength:"1" maxLength:"64"`
	WorkflowID string    `json:"workflow_id" minLength:"1" maxLength:"128"`
	Lines      []NewLine `json:"lines" minItems:"1" maxItems:"100"`
}

// PricedLine is an order line priced from the catalog.
type PricedLine struct {
	SKU       string `json:"sku" minLength:"1" maxLength:"64"`
	Name      string `json:"name" maxLength:"200"`
	Quantity  int64  `json:"quantity" minimum:"1"`
	UnitPrice int64  `json:"unit_price" minimum:"0" doc:"Minor units"`
}

// TransitionRequest moves an order to a new status, with the reason kept in its history.
// Pricing is set once, with the transition to RESERVED. Moving to the status the order
// already has is a no-op, so retries are safe.
type TransitionRequest struct {
	Status   Status       `json:"status"`
	Reason   string       `json:"reason,omitempty" maxLength:"500"`
	Lines    []PricedLine `json:"lines,omitempty" maxItems:"100"`
	Currency string       `json:"currency,omitempty" pattern:"^[A-Z]{3}$"`
}

// TransformSchema narrows the status enum to the statuses a transition can reach: an
// order is created PENDING and never moves back to it (huma.SchemaTransformer).
func (TransitionRequest) TransformSchema(_ huma.Registry, s *huma.Schema) *huma.Schema {
	if p := s.Properties["status"]; p != nil {
		p.Enum = enumOf(slices.DeleteFunc(Statuses(), func(st Status) bool { return st == StatusPending }))
		p.PrecomputeMessages()
	}
	return s
}

// Line is an order line as stored.
type Line struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price" doc:"Minor units; 0 until the order is priced"`
	LineTotal int64  `json:"line_total" doc:"Minor units"`
}

// HistoryEntry is one status transition of an order.
type HistoryEntry struct {
	From   string    `json:"from,omitempty"`
	To     string    `json:"to"`
	Reason string    `json:"reason,omitempty"`
	At     time.Time `json:"at"`
}

// Order is an order as the order service records it.
type Order struct {
	ID            string         `json:"id"`
	CustomerID    string         `json:"customer_id"`
	WorkflowID    string         `json:"workflow_id"`
	Status        Status         `json:"status"`
	Lines         []Line         `json:"lines"`
	Total         int64          `json:"total" doc:"Minor units; 0 until the order is priced"`
	Currency      string         `json:"currency,omitempty"`
	FailureReason string         `json:"failure_reason,omitempty"`
	History       []HistoryEntry `json:"history,omitempty"`
	CreatedAt     time.Time      `json:"created_at"`
	UpdatedAt     time.Time      `json:"updated_at"`
}

// OrderPage is one page of a listing, newest first.
type OrderPage struct {
	Items      []Order `json:"items"`
	NextCursor string  `json:"next_cursor,omitempty" doc:"Pass as cursor to get the next page; absent on the last page"`
}

// ListFilter selects orders.
type ListFilter struct {
	CustomerID string
	Status     Status
	Limit      int
	Cursor     string
}

// Client calls the order service.
type Client struct{ c *svcclient.Client }

// New returns a client for the order service at baseURL.
func New(baseURL string, httpClient *http.Client, timeout time.Duration) *Client {
	return &Client{c: svcclient.New(baseURL, httpClient, timeout)}
}

// Create records a new PENDING order.
func (c *Client) Create(ctx context.Context, idempotencyKey string, req CreateOrderRequest) (Order, error) {
	var out Order
	err := c.c.Do(ctx, http.MethodPost, "/orders", idempotencyKey, req, &out)
	return out, err
}

// Transition moves an order to a new status.
func (c *Client) Transition(ctx context.Context, orderID, idempotencyKey string, req TransitionRequest) (Order, error) {
	var out Order
	err := c.c.Do(ctx, http.MethodPost, "/orders/"+url.PathEscape(orderID)+"/transitions", idempotencyKey, req, &out)
	return out, err
}

// Get returns one order with its lines and history.
func (c *Client) Get(ctx context.Context, orderID string) (Order, error) {
	var out Order
	err := c.c.Do(ctx, http.MethodGet, "/orders/"+url.PathEscape(orderID), "", nil, &out)
	return out, err
}

// List returns a page of orders matching f.
func (c *Client) List(ctx context.Context, f ListFilter) (OrderPage, error) {
	q := url.Values{}
	if f.CustomerID != "" {
		q.Set("customer_id", f.CustomerID)
	}
	if f.Status != "" {
		q.Set("status", string(f.Status))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Cursor != "" {
		q.Set("cursor", f.Cursor)
	}
	path := "/orders"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out OrderPage
	err := c.c.Do(ctx, http.MethodGet, path, "", nil, &out)
	return out, err
}
