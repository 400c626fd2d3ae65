// Package client is the inventory service's contract: the request and response documents
// of its HTTP API (the service uses the same types) and a typed client for callers.
package client

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sagaflow/sagaflow/internal/svcclient"
)

// ServiceName is the inventory service's name: its configuration prefix and the audience of the
// service tokens its callers send (auth.Signer.Client).
const ServiceName = "inventory"

// Reservation statuses.
const (
	ReservationReserved  = "RESERVED"
	ReservationReleased  = "RELEASED"
	ReservationCommitted = "COMMITTED"
)

// Product is one catalog entry with its stock.
type Product struct {
	SKU       string    `json:"sku" doc:"Stock keeping unit" example:"SKU-1001"`
	Name      string    `json:"name" example:"Espresso beans 1 kg"`
	UnitPrice int64     `json:"unit_price" doc:"Price of one unit in minor units (cents)" example:"1899"`
	Currency  string    `json:"currency" doc:"ISO 4217 code" example:"USD"`
	OnHand    int64     `json:"on_hand" doc:"Units physically in stock, including reserved ones"`
	Reserved  int64     `json:"reserved" doc:"Units held by open reservations"`
	Available int64     `json:"available" doc:"on_hand - reserved"`
	UpdatedAt time.Time `json:"updated_at"`
}

// ProductList is a page of products.
type ProductList struct {
	Items []Product `json:"items"`
}

// UpsertProductRequest creates or updates a catalog entry (stock is changed by restock only).
type UpsertProductRequest struct {
	Name      string `json:"name" minLength:"1" maxLength:"200"`
	UnitPrice int64  `json:"unit_price" minimum:"0" doc:"Minor units"`
	Currency  string `json:"currency" pattern:"^[A-Z]{3}$" doc:"ISO 4217 code"`
}

// RestockRequest adds units to a product's stock.
type RestockRequest struct {
	Quantity int64 `json:"quantity" minimum:"1" maximum:"1000000000"`
}

// ReserveLine is one line to reserve.
type ReserveLine struct {
	SKU      string `json:"sku" minLength:"1" maxLength:"64"`
	Quantity int64  `json:"quantity" minimum:"1" maximum:"1000000"`
}

// ReserveRequest reserves every line of one order, all or nothing.
type ReserveRequest struct {
	OrderID string        `json:"order_id" minLength:"1" maxLength:"64"`
	Lines   []ReserveLine `json:"lines" minItems:"1" maxItems:"100"`
}

// ReservedLine is a reserved line with the catalog price it was reserved at.
type ReservedLine struct {
	SKU       string `json:"sku"`
	Name      string `json:"name"`
	Quantity  int64  `json:"quantity"`
	UnitPrice int64  `json:"unit_price" doc:"Minor units"`
	Currency  string `json:"currency"`
}

// Reservation is the stock held for one order.
type Reservation struct {
	OrderID   string         `json:"order_id"`
	Status    string         `json:"status" enum:"RESERVED,RELEASED,COMMITTED"`
	Lines     []ReservedLine `json:"lines"`
	CreatedAt time.Time      `json:"created_at"`
	UpdatedAt time.Time      `json:"updated_at"`
}

// ReservationList is a page of reservations, newest first.
type ReservationList struct {
	Items []Reservation `json:"items"`
	Next  string        `json:"next,omitempty" doc:"Pass as 'after' to read the next page; absent on the last page"`
}

// ReservationFilter selects reservations for operators and audits; zero values mean "any".
// After is the order id of the last reservation of the previous page (its Next).
type ReservationFilter struct {
	Status  string
	OrderID string
	Limit   int
	After   string
}

// Stock movement kinds recorded in the ledger.
const (
	MovementRestock = "RESTOCK"
	MovementReserve = "RESERVE"
	MovementRelease = "RELEASE"
	MovementCommit  = "COMMIT"
)

// StockMovement is one entry of a product's stock ledger.
type StockMovement struct {
	ID            int64     `json:"id"`
	SKU           string    `json:"sku"`
	OrderID       string    `json:"order_id,omitempty" doc:"Absent for restocks"`
	Kind          string    `json:"kind" enum:"RESTOCK,RESERVE,RELEASE,COMMIT"`
	Quantity      int64     `json:"quantity"`
	OnHandAfter   int64     `json:"on_hand_after"`
	ReservedAfter int64     `json:"reserved_after"`
	CreatedAt     time.Time `json:"created_at"`
}

// StockMovementList is a page of ledger entries, oldest first.
type StockMovementList struct {
	Items []StockMovement `json:"items"`
}

// Client calls the inventory service.
type Client struct{ c *svcclient.Client }

// New returns a client for the inventory service at baseURL.
func New(baseURL string, httpClient *http.Client, timeout time.Duration) *Client {
	return &Client{c: svcclient.New(baseURL, httpClient, timeout)}
}

// ListProducts returns the catalog with stock levels.
func (c *Client) ListProducts(ctx context.Context) (ProductList, error) {
	var out ProductList
	err := c.c.Do(ctx, http.MethodGet, "/products", "", nil, &out)
	return out, err
}

// GetProduct returns one product.
func (c *Client) GetProduct(ctx context.Context, sku string) (Product, error) {
	var out Product
	err := c.c.Do(ctx, http.MethodGet, "/products/"+url.PathEscape(sku), "", nil, &out)
	return out, err
}

// UpsertProduct creates or updates a catalog entry.
func (c *Client) UpsertProduct(ctx context.Context, sku string, req UpsertProductRequest) (Product, error) {
	var out Product
	err := c.c.Do(ctx, http.MethodPut, "/products/"+url.PathEscape(sku), "", req, &out)
	return out, err
}

// Restock adds units to a product, once per idempotency key.
func (c *Client) Restock(ctx context.Context, sku, idempotencyKey string, req RestockRequest) (Product, error) {
	var out Product
	err := c.c.Do(ctx, http.MethodPost, "/products/"+url.PathEscape(sku)+"/restock", idempotencyKey, req, &out)
	return out, err
}

// Reserve holds stock for every line of an order, or none.
func (c *Client) Reserve(ctx context.Context, idempotencyKey string, req ReserveRequest) (Reservation, error) {
	var out Reservation
	err := c.c.Do(ctx, http.MethodPost, "/reservations", idempotencyKey, req, &out)
	return out, err
}

// Release gives an order's reserved stock back. Releasing before any reservation leaves a
// marker that refuses a late reserve for the order.
func (c *Client) Release(ctx context.Context, orderID, idempotencyKey string) (Reservation, error) {
	var out Reservation
	err := c.c.Do(ctx, http.MethodPost, "/reservations/"+url.PathEscape(orderID)+"/release", idempotencyKey, nil, &out)
	return out, err
}

// Commit turns an order's reserved stock into sold stock.
func (c *Client) Commit(ctx context.Context, orderID, idempotencyKey string) (Reservation, error) {
	var out Reservation
	err := c.c.Do(ctx, http.MethodPost, "/reservations/"+url.PathEscape(orderID)+"/commit", idempotencyKey, nil, &out)
	return out, err
}

// GetReservation returns an order's reservation.
func (c *Client) GetReservation(ctx context.Context, orderID string) (Reservation, error) {
	var out Reservation
	err := c.c.Do(ctx, http.MethodGet, "/reservations/"+url.PathEscape(orderID), "", nil, &out)
	return out, err
}

// ListReservations returns a page of reservations matching f, newest first; the page's
// Next, passed as f.After, reads the following page.
func (c *Client) ListReservations(ctx context.Context, f ReservationFilter) (ReservationList, error) {
	q := url.Values{}
	if f.Status != "" {
		q.Set("status", f.Status)
	}
	if f.OrderID != "" {
		q.Set("order_id", f.OrderID)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.After != "" {
		q.Set("after", f.After)
	}
	path := "/reservations"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out ReservationList
	err := c.c.Do(ctx, http.MethodGet, path, "", nil, &out)
	return out, err
}

// ListMovements returns a product's ledger entries with id greater than after, oldest first.
func (c *Client) ListMovements(ctx context.Context, sku string, after int64, limit int) (StockMovementList, error) {
	q := url.Values{}
	if after > 0 {
		q.Set("after", strconv.FormatInt(after, 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := "/products/" + url.PathEscape(sku) + "/movements"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out StockMovementList
	err := c.c.Do(ctx, http.MethodGet, path, "", nil, &out)
	return out, err
}
