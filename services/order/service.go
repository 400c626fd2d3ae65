// Package order is the order service: it records orders, moves them through the saga's
// statuses under a fixed transition table, and keeps an audit trail of every move.
package order

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/money"
	"github.com/sagaflow/sagaflow/services/order/client"
)

// Operation ids. The mutating ones also name their idempotency records: a key reused for
// another operation is refused.
const (
	opCreate     = "create-order"
	opTransition = "transition-order"
	opGet        = "get-order"
	opList       = "list-orders"
)

// Listing page sizes.
const (
	DefaultPageSize = 20
	MaxPageSize     = 100
)

// Service holds the order rules over the order database.
type Service struct {
	db     *sqlx.DB
	logger *slog.Logger
}

// NewService returns the order service over db. A nil db is allowed only for building
// the OpenAPI document; a nil logger discards.
func NewService(db *sqlx.DB, logger *slog.Logger) *Service {
	if logger == nil {
		logger = logging.Discard()
	}
	return &Service{db: db, logger: logger}
}

// idempotent runs step once per key (internal/idempotency). Refusals become their
// problems inside the transaction, so they are recorded and replayed like any answer.
func idempotent[T any](ctx context.Context, db *sqlx.DB, key, operation string, request any, step func(tx *sqlx.Tx) (T, error)) (T, error) {
	if key == "" || len(key) > idempotency.MaxKeyLength {
		var zero T
		return zero, &validationError{Location: "header.Idempotency-Key", Message: fmt.Sprintf("must be 1 to %d characters", idempotency.MaxKeyLength)}
	}
	return idempotency.Run(ctx, db, key, operation, request, func(tx *sqlx.Tx) (T, error) {
		out, err := step(tx)
		if p, ok := problemFor(err); ok {
			return out, p
		}
		return out, err
	})
}

// Create records a new PENDING order once per idempotency key. Creating an existing order
// id again with the same content returns the stored order; different content is a conflict.
func (s *Service) Create(ctx context.Context, key string, req client.CreateOrderRequest) (client.Order, error) {
	return idempotent(ctx, s.db, key, opCreate, req, func(tx *sqlx.Tx) (client.Order, error) {
		if err := validateCreate(req); err != nil {
			return client.Order{}, err
		}
		inserted, err := insertOrder(ctx, tx, req)
		if err != nil {
			return client.Order{}, err
		}
		existing, err := loadOrder(ctx, tx, req.OrderID)
		if err != nil {
			return client.Order{}, err
		}
		if !inserted && !sameContent(existing, req) {
			return client.Order{}, &conflictError{OrderID: req.OrderID}
		}
		return existing, nil
	})
}

func validateCreate(req client.CreateOrderRequest) error {
	switch {
	case req.OrderID == "":
		return &validationError{Location: "body.order_id", Message: "order_id is required", Value: req.OrderID}
	case req.CustomerID == "":
		return &validationError{Location: "body.customer_id", Message: "customer_id is required", Value: req.CustomerID}
	case req.WorkflowID == "":
		return &validationError{Location: "body.workflow_id", Message: "workflow_id is required", Value: req.WorkflowID}
	}
	return validateNewLines(req.Lines)
}

// sameContent reports whether a stored order is what req asks for (line order aside).
func sameContent(o client.Order, req client.CreateOrderRequest) bool {
	if o.CustomerID != req.CustomerID || o.WorkflowID != req.WorkflowID || len(o.Lines) != len(req.Lines) {
		return false
	}
	want := make(map[string]int64, len(req.Lines))
	for _, l := range req.Lines {
		want[l.SKU] = l.Quantity
	}
	for _, l := range o.Lines {
		if q, ok := want[l.SKU]; !ok || q != l.Quantity {
			return false
		}
	}
	return true
}

// Transition moves an order to req.Status once per idempotency key, following the
// transition table. Moving to the current status is a no-op returning the order.
func (s *Service) Transition(ctx context.Context, key, orderID string, req client.TransitionRequest) (client.Order, error) {
	fingerprint := struct {
		OrderID string                   `json:"order_id"`
		Request client.TransitionRequest `json:"request"`
	}{orderID, req}
	return idempotent(ctx, s.db, key, opTransition, fingerprint, func(tx *sqlx.Tx) (client.Order, error) {
		if err := s.transition(ctx, tx, orderID, req); err != nil {
			return client.Order{}, err
		}
		return loadOrder(ctx, tx, orderID)
	})
}

func (s *Service) transition(ctx context.Context, tx *sqlx.Tx, orderID string, req client.TransitionRequest) error {
	if !req.Status.Valid() {
		return &validationError{Location: "body.status", Message: "unknown order status", Value: req.Status}
	}
	row, err := lockOrder(ctx, tx, orderID)
	if err != nil {
		return err
	}
	from := client.Status(row.Status)
	if from == req.Status {
		return nil
	}
	if !CanTransition(from, req.Status) {
		return &transitionError{From: from, To: req.Status}
	}
	if req.Status == client.StatusReserved {
		stored, err := loadLines(ctx, tx, orderID)
		if err != nil {
			return err
		}
		priced, total, err := price(stored, req.Lines, req.Currency)
		if err != nil {
			return err
		}
		if err := setPricing(ctx, tx, orderID, priced, total, req.Currency); err != nil {
			return err
		}
	} else if len(req.Lines) > 0 || req.Currency != "" {
		return &validationError{Location: "body.lines", Message: "pricing is accepted only with the move to RESERVED", Value: len(req.Lines)}
	}
	var failureReason *string
	if req.Status == client.StatusCancelled || req.Status == client.StatusFailed {
		failureReason = &req.Reason
	}
	if err := setStatus(ctx, tx, orderID, req.Status, failureReason); err != nil {
		return err
	}
	return insertHistory(ctx, tx, orderID, from, req.Status, req.Reason)
}

// Get returns one order with its lines and history, read from one snapshot.
func (s *Service) Get(ctx context.Context, orderID string) (client.Order, error) {
	var out client.Order
	err := readOnly(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		out, err = loadOrder(ctx, tx, orderID)
		return err
	})
	return out, err
}

// ListParams selects a page of orders.
type ListParams struct {
	CustomerID string
	Status     client.Status
	Limit      int // 0 means DefaultPageSize
	Cursor     string
}

// List returns one page of orders, newest first; NextCursor is set only when more exist.
func (s *Service) List(ctx context.Context, p ListParams) (client.OrderPage, error) {
	if p.Limit == 0 {
		p.Limit = DefaultPageSize
	}
	if p.Limit < 1 || p.Limit > MaxPageSize {
		return client.OrderPage{}, &validationError{Location: "query.limit", Message: fmt.Sprintf("limit must be between 1 and %d", MaxPageSize), Value: p.Limit}
	}
	if p.Status != "" && !p.Status.Valid() {
		return client.OrderPage{}, &validationError{Location: "query.status", Message: "unknown order status", Value: p.Status}
	}
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return client.OrderPage{}, err
	}
	var orders []client.Order
	err = readOnly(ctx, s.db, func(tx *sqlx.Tx) error {
		var err error
		orders, err = listOrders(ctx, tx, listQuery{CustomerID: p.CustomerID, Status: p.Status, After: after, Limit: p.Limit})
		return err
	})
	if err != nil {
		return client.OrderPage{}, err
	}
	page := client.OrderPage{Items: orders}
	if len(orders) > p.Limit {
		page.Items = orders[:p.Limit]
		last := page.Items[p.Limit-1]
		page.NextCursor = cursor{CreatedAt: last.CreatedAt, ID: last.ID}.encode()
	}
	return page, nil
}

// ReasonReceived is the history reason of an order's creation.
const ReasonReceived = "order received"

// Transitions returns the statuses an order in status from may move to; terminal
// statuses have none.
func Transitions(from client.Status) []client.Status {
	switch from {
	case client.StatusPending:
		return []client.Status{client.StatusReserved, client.StatusCancelled, client.StatusFailed, client.StatusCompensating}
	case client.StatusReserved:
		return []client.Status{client.StatusAuthorized, client.StatusCancelled, client.StatusFailed, client.StatusCompensating}
	case client.StatusAuthorized:
		return []client.Status{client.StatusAwaitingApproval, client.StatusCaptured, client.StatusCancelled, client.StatusFailed, client.StatusCompensating}
	case client.StatusAwaitingApproval:
		return []client.Status{client.StatusCaptured, client.StatusCancelled, client.StatusFailed, client.StatusCompensating}
	case client.StatusCaptured:
		return []client.Status{client.StatusConfirmed}
	case client.StatusCompensating:
		return []client.Status{client.StatusCompensationFailed, client.StatusCancelled, client.StatusFailed}
	case client.StatusCompensationFailed:
		return []client.Status{client.StatusCompensating, client.StatusCancelled, client.StatusFailed}
	}
	return nil
}

// CanTransition reports whether an order in status from may move to status to. A move to
// the same status is not a transition (callers treat it as a no-op).
func CanTransition(from, to client.Status) bool {
	for _, next := range Transitions(from) {
		if next == to {
			return true
		}
	}
	return false
}

// validateNewLines checks lines of a new order: at least one, each SKU once, positive quantities.
func validateNewLines(lines []client.NewLine) error {
	if len(lines) == 0 {
		return &validationError{Location: "body.lines", Message: "an order needs at least one line"}
	}
	seen := make(map[string]bool, len(lines))
	for i, l := range lines {
		loc := fmt.Sprintf("body.lines[%d]", i)
		if l.SKU == "" {
			return &validationError{Location: loc + ".sku", Message: "sku is required", Value: l.SKU}
		}
		if l.Quantity <= 0 {
			return &validationError{Location: loc + ".quantity", Message: "quantity must be positive", Value: l.Quantity}
		}
		if seen[l.SKU] {
			return &validationError{Location: loc + ".sku", Message: "each sku may appear only once", Value: l.SKU}
		}
		seen[l.SKU] = true
	}
	return nil
}

// price checks priced lines against the order's lines (same SKUs, same quantities, each
// once) and returns them keyed by SKU with their totals, plus the order total.
func price(stored []client.Line, priced []client.PricedLine, currency string) (map[string]client.Line, int64, error) {
	if !money.IsCurrency(currency) {
		return nil, 0, &validationError{Location: "body.currency", Message: "pricing needs an ISO 4217 currency", Value: currency}
	}
	if len(priced) != len(stored) {
		return nil, 0, &validationError{Location: "body.lines", Message: fmt.Sprintf("pricing must cover exactly the order's %d lines", len(stored)), Value: len(priced)}
	}
	want := make(map[string]int64, len(stored))
	for _, l := range stored {
		want[l.SKU] = l.Quantity
	}
	out := make(map[string]client.Line, len(priced))
	var total int64
	for i, p := range priced {
		loc := fmt.Sprintf("body.lines[%d]", i)
		qty, ok := want[p.SKU]
		if !ok {
			return nil, 0, &validationError{Location: loc + ".sku", Message: "sku is not part of this order", Value: p.SKU}
		}
		if _, dup := out[p.SKU]; dup {
			return nil, 0, &validationError{Location: loc + ".sku", Message: "each sku may appear only once", Value: p.SKU}
		}
		if p.Quantity != qty {
			return nil, 0, &validationError{Location: loc + ".quantity", Message: fmt.Sprintf("quantity must equal the ordered %d", qty), Value: p.Quantity}
		}
		// The quantity equals the stored one, which is positive: a negative operand is the price.
		lineTotal, err := money.Mul(p.Quantity, p.UnitPrice)
		if errors.Is(err, money.ErrNegative) {
			return nil, 0, &validationError{Location: loc + ".unit_price", Message: "unit_price must not be negative", Value: p.UnitPrice}
		}
		if err != nil {
			return nil, 0, &overflowError{Location: loc + ".unit_price", Value: p.UnitPrice}
		}
		if total, err = money.Add(total, lineTotal); err != nil {
			return nil, 0, &overflowError{Location: "body.lines", Value: lineTotal}
		}
		out[p.SKU] = client.Line{SKU: p.SKU, Name: p.Name, Quantity: p.Quantity, UnitPrice: p.UnitPrice, LineTotal: lineTotal}
	}
	return out, total, nil
}
