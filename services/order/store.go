package order

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/sagaflow/sagaflow/services/order/client"
)

// querier is the read access the store needs from a transaction or a pool.
type querier interface {
	GetContext(ctx context.Context, dest any, query string, args ...any) error
	SelectContext(ctx context.Context, dest any, query string, args ...any) error
}

type orderRow struct {
	ID            string    `db:"id"`
	CustomerID    string    `db:"customer_id"`
	WorkflowID    string    `db:"workflow_id"`
	Status        string    `db:"status"`
	Total         int64     `db:"total"`
	Currency      string    `db:"currency"`
	FailureReason string    `db:"failure_reason"`
	CreatedAt     time.Time `db:"created_at"`
	UpdatedAt     time.Time `db:"updated_at"`
}

func (r orderRow) order() client.Order {
	return client.Order{
		ID:            r.ID,
		CustomerID:    r.CustomerID,
		WorkflowID:    r.WorkflowID,
		Status:        client.Status(r.Status),
		Lines:         []client.Line{},
		Total:         r.Total,
		Currency:      r.Currency,
		FailureReason: r.FailureReason,
		CreatedAt:     r.CreatedAt.UTC(),
		UpdatedAt:     r.UpdatedAt.UTC(),
	}
}

type lineRow struct {
	OrderID   string `db:"order_id"`
	SKU       string `db:"sku"`
	Name      string `db:"name"`
	Quantity  int64  `db:"quantity"`
	UnitPrice int64  `db:"unit_price"`
	LineTotal int64  `db:"line_total"`
}

const orderColumns = `id, customer_id, workflow_id, status, total, currency, failure_reason, created_at, updated_at`

// insertOrder records a new PENDING order with its lines and first history entry.
// It reports false, writing nothing, when the id is already taken.
func insertOrder(ctx context.Context, tx *sqlx.Tx, req client.CreateOrderRequest) (bool, error) {
	res, err := tx.ExecContext(ctx, `INSERT INTO orders (id, customer_id, workflow_id, status)
		VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING`,
		req.OrderID, req.CustomerID, req.WorkflowID, client.StatusPending)
	if err != nil {
		return false, fmt.Errorf("insert order: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return false, err
	}
	for i, l := range req.Lines {
		if _, err := tx.ExecContext(ctx, `INSERT INTO order_lines (order_id, line_no, sku, quantity)
			VALUES ($1, $2, $3, $4)`, req.OrderID, i+1, l.SKU, l.Quantity); err != nil {
			return false, fmt.Errorf("insert order line: %w", err)
		}
	}
	if err := insertHistory(ctx, tx, req.OrderID, "", client.StatusPending, ReasonReceived); err != nil {
		return false, err
	}
	return true, nil
}

func insertHistory(ctx context.Context, tx *sqlx.Tx, orderID string, from, to client.Status, reason string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO order_status_history (order_id, from_status, to_status, reason)
		VALUES ($1, $2, $3, $4)`, orderID, from, to, reason); err != nil {
		return fmt.Errorf("insert order history: %w", err)
	}
	return nil
}

// readOnly runs fn in a read-only repeatable-read transaction, so orders, their lines and
// their history come from one consistent snapshot.
func readOnly(ctx context.Context, db *sqlx.DB, fn func(tx *sqlx.Tx) error) error {
	tx, err := db.BeginTxx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback() //nolint:errcheck // a read-only transaction has nothing to keep
	if err := fn(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// lockOrder reads an order row and locks it for the rest of the transaction.
func lockOrder(ctx context.Context, tx *sqlx.Tx, orderID string) (orderRow, error) {
	var row orderRow
	err := tx.GetContext(ctx, &row, `SELECT `+orderColumns+` FROM orders WHERE id = $1 FOR UPDATE`, orderID)
	if errors.Is(err, sql.ErrNoRows) {
		return row, &notFoundError{OrderID: orderID}
	}
	if err != nil {
		return row, fmt.Errorf("lock order: %w", err)
	}
	return row, nil
}

// setPricing stores the priced lines (keyed by SKU) and the order's total and currency.
func setPricing(ctx context.Context, tx *sqlx.Tx, orderID string, lines map[string]client.Line, total int64, currency string) error {
	for _, l := range lines {
		if _, err := tx.ExecContext(ctx, `UPDATE order_lines SET name = $3, unit_price = $4, line_total = $5
			WHERE order_id = $1 AND sku = $2`, orderID, l.SKU, l.Name, l.UnitPrice, l.LineTotal); err != nil {
			return fmt.Errorf("price order line: %w", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE orders SET total = $2, currency = $3 WHERE id = $1`,
		orderID, total, currency); err != nil {
		return fmt.Errorf("price order: %w", err)
	}
	return nil
}

// setStatus records the order's new status (and failure reason, when given).
func setStatus(ctx context.Context, tx *sqlx.Tx, orderID string, status client.Status, failureReason *string) error {
	var err error
	if failureReason != nil {
		_, err = tx.ExecContext(ctx, `UPDATE orders SET status = $2, failure_reason = $3, updated_at = now() WHERE id = $1`,
			orderID, status, *failureReason)
	} else {
		_, err = tx.ExecContext(ctx, `UPDATE orders SET status = $2, updated_at = now() WHERE id = $1`, orderID, status)
	}
	if err != nil {
		return fmt.Errorf("update order status: %w", err)
	}
	return nil
}

// loadOrder reads one order with its lines and full history (oldest first), in one
// statement: every call of the saga answers with the order, so this read is on every step.
func loadOrder(ctx context.Context, q querier, orderID string) (client.Order, error) {
	var row struct {
		orderRow
		Lines   []byte `db:"lines"`
		History []byte `db:"history"`
	}
	err := q.GetContext(ctx, &row, `SELECT `+orderColumns+`,
		COALESCE((SELECT json_agg(json_build_object('sku', l.sku, 'name', l.name, 'quantity', l.quantity,
			'unit_price', l.unit_price, 'line_total', l.line_total) ORDER BY l.line_no)
			FROM order_lines l WHERE l.order_id = o.id), '[]') AS lines,
		COALESCE((SELECT json_agg(json_build_object('from', h.from_status, 'to', h.to_status, 'reason', h.reason,
			'at', h.at) ORDER BY h.id)
			FROM order_status_history h WHERE h.order_id = o.id), '[]') AS history
		FROM orders o WHERE o.id = $1`, orderID)
	if errors.Is(err, sql.ErrNoRows) {
		return client.Order{}, &notFoundError{OrderID: orderID}
	}
	if err != nil {
		return client.Order{}, fmt.Errorf("read order: %w", err)
	}
	o := row.order()
	if err := json.Unmarshal(row.Lines, &o.Lines); err != nil {
		return client.Order{}, fmt.Errorf("read order lines: %w", err)
	}
	if err := json.Unmarshal(row.History, &o.History); err != nil {
		return client.Order{}, fmt.Errorf("read order history: %w", err)
	}
	for i := range o.History {
		o.History[i].At = o.History[i].At.UTC()
	}
	return o, nil
}

func loadLines(ctx context.Context, q querier, orderID string) ([]client.Line, error) {
	var rows []lineRow
	if err := q.SelectContext(ctx, &rows, `SELECT order_id, sku, name, quantity, unit_price, line_total
		FROM order_lines WHERE order_id = $1 ORDER BY line_no`, orderID); err != nil {
		return nil, fmt.Errorf("read order lines: %w", err)
	}
	lines := make([]client.Line, 0, len(rows))
	for _, r := range rows {
		lines = append(lines, r.line())
	}
	return lines, nil
}

func (r lineRow) line() client.Line {
	return client.Line{SKU: r.SKU, Name: r.Name, Quantity: r.Quantity, UnitPrice: r.UnitPrice, LineTotal: r.LineTotal}
}

// listQuery selects a page of orders newest first, after the keyset position when given.
type listQuery struct {
	CustomerID string
	Status     client.Status
	After      *cursor
	Limit      int
}

// listOrders returns up to q.Limit+1 orders (the extra one tells whether more exist),
// each with its lines but without history.
func listOrders(ctx context.Context, db querier, q listQuery) ([]client.Order, error) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if q.CustomerID != "" {
		conds = append(conds, "customer_id = "+arg(q.CustomerID))
	}
	if q.Status != "" {
		conds = append(conds, "status = "+arg(q.Status))
	}
	if q.After != nil {
		conds = append(conds, fmt.Sprintf("(created_at, id) < (%s, %s)", arg(q.After.CreatedAt), arg(q.After.ID)))
	}
	where := ""
	if len(conds) > 0 {
		where = "WHERE " + strings.Join(conds, " AND ")
	}
	var rows []orderRow
	query := `SELECT ` + orderColumns + ` FROM orders ` + where + ` ORDER BY created_at DESC, id DESC LIMIT ` + arg(q.Limit+1)
	if err := db.SelectContext(ctx, &rows, query, args...); err != nil {
		return nil, fmt.Errorf("list orders: %w", err)
	}
	orders := make([]client.Order, 0, len(rows))
	ids := make([]string, 0, len(rows))
	index := make(map[string]int, len(rows))
	for i, r := range rows {
		orders = append(orders, r.order())
		ids = append(ids, r.ID)
		index[r.ID] = i
	}
	if len(ids) == 0 {
		return orders, nil
	}
	var lines []lineRow
	if err := db.SelectContext(ctx, &lines, `SELECT order_id, sku, name, quantity, unit_price, line_total
		FROM order_lines WHERE order_id = ANY($1) ORDER BY order_id, line_no`, pq.Array(ids)); err != nil {
		return nil, fmt.Errorf("list order lines: %w", err)
	}
	for _, l := range lines {
		i := index[l.OrderID]
		orders[i].Lines = append(orders[i].Lines, l.line())
	}
	return orders, nil
}
