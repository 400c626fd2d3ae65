package order

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/services/order/client"
)

// Operation names recorded with idempotency keys; a key reused for another operation is refused.
const (
	OperationCreate     = "create-order"
	OperationTransition = "transition-order"
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
// the OpenAPI document.
func NewService(db *sqlx.DB, logger *slog.Logger) *Service {
	return &Service{db: db, logger: logger}
}

// Create records a new PENDING order once per idempotency key. Creating an existing order
// id again with the same content returns the stored order; different content is a conflict.
func (s *Service) Create(ctx context.Context, key string, req client.CreateOrderRequest) (client.Order, error) {
	return idempotency.Run(ctx, s.db, key, OperationCreate, req, func(tx *sqlx.Tx) (client.Order, error) {
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
			return client.Order{}, problem.New(http.StatusConflict, problem.CodeConflict,
				fmt.Sprintf("order %q already exists with different content", req.OrderID))
		}
		return existing, nil
	})
}

func validateCreate(req client.CreateOrderRequest) error {
	switch {
	case req.OrderID == "":
		return errValidation("order_id is required", "body.order_id", req.OrderID)
	case req.CustomerID == "":
		return errValidation("customer_id is required", "body.customer_id", req.CustomerID)
	case req.WorkflowID == "":
		return errValidation("workflow_id is required", "body.workflow_id", req.WorkflowID)
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
	return idempotency.Run(ctx, s.db, key, OperationTransition, fingerprint, func(tx *sqlx.Tx) (client.Order, error) {
		if err := s.transition(ctx, tx, orderID, req); err != nil {
			return client.Order{}, err
		}
		return loadOrder(ctx, tx, orderID)
	})
}

func (s *Service) transition(ctx context.Context, tx *sqlx.Tx, orderID string, req client.TransitionRequest) error {
	if !IsStatus(req.Status) {
		return errValidation("unknown order status", "body.status", req.Status)
	}
	row, err := lockOrder(ctx, tx, orderID)
	if err != nil {
		return err
	}
	if row.Status == req.Status {
		return nil
	}
	if !CanTransition(row.Status, req.Status) {
		return errInvalidTransition(row.Status, req.Status)
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
		return errValidation("pricing is accepted only with the move to RESERVED", "body.lines", len(req.Lines))
	}
	var failureReason *string
	if req.Status == client.StatusCancelled || req.Status == client.StatusFailed {
		failureReason = &req.Reason
	}
	if err := setStatus(ctx, tx, orderID, req.Status, failureReason); err != nil {
		return err
	}
	return insertHistory(ctx, tx, orderID, row.Status, req.Status, req.Reason)
}

// Get returns one order with its lines and history, read from one snapshot.
func (s *Service) Get(ctx context.Context, orderID string) (client.Order, error) {
	var out client.Order
	err := s.readOnly(ctx, func(tx *sqlx.Tx) error {
		var err error
		out, err = loadOrder(ctx, tx, orderID)
		return err
	})
	return out, err
}

// ListParams selects a page of orders.
type ListParams struct {
	CustomerID string
	Status     string
	Limit      int // 0 means DefaultPageSize
	Cursor     string
}

// List returns one page of orders, newest first; NextCursor is set only when more exist.
func (s *Service) List(ctx context.Context, p ListParams) (client.OrderPage, error) {
	if p.Limit == 0 {
		p.Limit = DefaultPageSize
	}
	if p.Limit < 1 || p.Limit > MaxPageSize {
		return client.OrderPage{}, errValidation(fmt.Sprintf("limit must be between 1 and %d", MaxPageSize), "query.limit", p.Limit)
	}
	if p.Status != "" && !IsStatus(p.Status) {
		return client.OrderPage{}, errValidation("unknown order status", "query.status", p.Status)
	}
	after, err := decodeCursor(p.Cursor)
	if err != nil {
		return client.OrderPage{}, err
	}
	var orders []client.Order
	err = s.readOnly(ctx, func(tx *sqlx.Tx) error {
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

// readOnly runs fn in a read-only repeatable-read transaction, so orders, their lines and
// their history come from one consistent snapshot.
func (s *Service) readOnly(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a read-only transaction has nothing to keep
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// ping checks the database for readiness.
func (s *Service) ping(ctx context.Context) error { return s.db.PingContext(ctx) }
