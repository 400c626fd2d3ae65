package inventory

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/sagaflow/sagaflow/services/inventory/client"
)

type productRow struct {
	SKU       string    `db:"sku"`
	Name      string    `db:"name"`
	UnitPrice int64     `db:"unit_price"`
	Currency  string    `db:"currency"`
	OnHand    int64     `db:"on_hand"`
	Reserved  int64     `db:"reserved"`
	UpdatedAt time.Time `db:"updated_at"`
}

func (r productRow) product() client.Product {
	return client.Product{
		SKU:       r.SKU,
		Name:      r.Name,
		UnitPrice: r.UnitPrice,
		Currency:  r.Currency,
		OnHand:    r.OnHand,
		Reserved:  r.Reserved,
		Available: r.OnHand - r.Reserved,
		UpdatedAt: r.UpdatedAt.UTC(),
	}
}

const productColumns = `sku, name, unit_price, currency, on_hand, reserved, updated_at`

type reservationRow struct {
	OrderID   string    `db:"order_id"`
	Status    string    `db:"status"`
	CreatedAt time.Time `db:"created_at"`
	UpdatedAt time.Time `db:"updated_at"`
}

type lineRow struct {
	OrderID   string `db:"order_id"`
	SKU       string `db:"sku"`
	Name      string `db:"name"`
	Quantity  int64  `db:"quantity"`
	UnitPrice int64  `db:"unit_price"`
	Currency  string `db:"currency"`
}

func (r lineRow) line() client.ReservedLine {
	return client.ReservedLine{SKU: r.SKU, Name: r.Name, Quantity: r.Quantity, UnitPrice: r.UnitPrice, Currency: r.Currency}
}

func reservationOf(r reservationRow, lines []lineRow) client.Reservation {
	out := client.Reservation{
		OrderID:   r.OrderID,
		Status:    r.Status,
		Lines:     make([]client.ReservedLine, 0, len(lines)),
		CreatedAt: r.CreatedAt.UTC(),
		UpdatedAt: r.UpdatedAt.UTC(),
	}
	for _, l := range lines {
		out.Lines = append(out.Lines, l.line())
	}
	return out
}

type movementRow struct {
	ID            int64          `db:"id"`
	SKU           string         `db:"sku"`
	OrderID       sql.NullString `db:"order_id"`
	Kind          string         `db:"kind"`
	Quantity      int64          `db:"quantity"`
	OnHandAfter   int64          `db:"on_hand_after"`
	ReservedAfter int64          `db:"reserved_after"`
	CreatedAt     time.Time      `db:"created_at"`
}

func (r movementRow) movement() client.StockMovement {
	return client.StockMovement{
		ID:            r.ID,
		SKU:           r.SKU,
		OrderID:       r.OrderID.String,
		Kind:          r.Kind,
		Quantity:      r.Quantity,
		OnHandAfter:   r.OnHandAfter,
		ReservedAfter: r.ReservedAfter,
		CreatedAt:     r.CreatedAt.UTC(),
	}
}

func getProduct(ctx context.Context, q sqlx.QueryerContext, sku string, forUpdate bool) (productRow, error) {
	query := `SELECT ` + productColumns + ` FROM products WHERE sku = $1`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	var row productRow
	err := sqlx.GetContext(ctx, q, &row, query, sku)
	if errors.Is(err, sql.ErrNoRows) {
		return row, errProductNotFound
	}
	if err != nil {
		return row, fmt.Errorf("read product %s: %w", sku, err)
	}
	return row, nil
}

// lockProducts locks the rows of skus in one deterministic order (byte order of the
// SKU), so two transactions touching overlapping SKUs never wait on each other in a cycle.
// Missing SKUs are simply absent from the result.
func lockProducts(ctx context.Context, tx *sqlx.Tx, skus []string) (map[string]productRow, error) {
	var rows []productRow
	err := tx.SelectContext(ctx, &rows, `SELECT `+productColumns+` FROM products
		WHERE sku = ANY($1) ORDER BY sku COLLATE "C" FOR UPDATE`, pq.Array(skus))
	if err != nil {
		return nil, fmt.Errorf("lock products: %w", err)
	}
	out := make(map[string]productRow, len(rows))
	for _, r := range rows {
		out[r.SKU] = r
	}
	return out, nil
}

// move changes one product's stock by the deltas of a movement kind and records the
// movement with the resulting levels, in one statement. The table's CHECK constraints
// are the last guard against negative or over-reserved stock.
func move(ctx context.Context, tx *sqlx.Tx, kind, sku, orderID string, quantity int64) error {
	var dOnHand, dReserved int64
	switch kind {
	case client.MovementRestock:
		dOnHand = quantity
	case client.MovementReserve:
		dReserved = quantity
	case client.MovementRelease:
		dReserved = -quantity
	case client.MovementCommit:
		dOnHand, dReserved = -quantity, -quantity
	default:
		return fmt.Errorf("unknown stock movement kind %q", kind)
	}
	var order sql.NullString
	if orderID != "" {
		order = sql.NullString{String: orderID, Valid: true}
	}
	res, err := tx.ExecContext(ctx, `WITH p AS (
			UPDATE products SET on_hand = on_hand + $3, reserved = reserved + $4, updated_at = now()
			WHERE sku = $1 RETURNING sku, on_hand, reserved)
		INSERT INTO stock_movements (sku, order_id, kind, quantity, on_hand_after, reserved_after)
		SELECT sku, $5, $2, $6, on_hand, reserved FROM p`,
		sku, kind, dOnHand, dReserved, order, quantity)
	if err != nil {
		return fmt.Errorf("%s %d of %s: %w", kind, quantity, sku, err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		return fmt.Errorf("%s %d of %s: product row missing", kind, quantity, sku)
	}
	return nil
}

func getReservationRow(ctx context.Context, q sqlx.QueryerContext, orderID string, forUpdate bool) (reservationRow, error) {
	query := `SELECT order_id, status, created_at, updated_at FROM reservations WHERE order_id = $1`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	var row reservationRow
	err := sqlx.GetContext(ctx, q, &row, query, orderID)
	if errors.Is(err, sql.ErrNoRows) {
		return row, errReservationNotFound
	}
	if err != nil {
		return row, fmt.Errorf("read reservation %s: %w", orderID, err)
	}
	return row, nil
}

// insertReservation creates the order's reservation row unless one exists; created is
// false when another (possibly concurrent, now committed) request made it first.
func insertReservation(ctx context.Context, tx *sqlx.Tx, orderID, status string) (reservationRow, bool, error) {
	var row reservationRow
	err := tx.GetContext(ctx, &row, `INSERT INTO reservations (order_id, status) VALUES ($1, $2)
		ON CONFLICT (order_id) DO NOTHING RETURNING order_id, status, created_at, updated_at`, orderID, status)
	if errors.Is(err, sql.ErrNoRows) {
		row, err = getReservationRow(ctx, tx, orderID, true)
		return row, false, err
	}
	if err != nil {
		return row, false, fmt.Errorf("create reservation %s: %w", orderID, err)
	}
	return row, true, nil
}

func setReservationStatus(ctx context.Context, tx *sqlx.Tx, orderID, status string) (reservationRow, error) {
	var row reservationRow
	err := tx.GetContext(ctx, &row, `UPDATE reservations SET status = $2, updated_at = now() WHERE order_id = $1
		RETURNING order_id, status, created_at, updated_at`, orderID, status)
	if err != nil {
		return row, fmt.Errorf("set reservation %s to %s: %w", orderID, status, err)
	}
	return row, nil
}

func reservationLines(ctx context.Context, q sqlx.QueryerContext, orderIDs ...string) (map[string][]lineRow, error) {
	var rows []lineRow
	err := sqlx.SelectContext(ctx, q, &rows, `SELECT order_id, sku, name, quantity, unit_price, currency
		FROM reservation_lines WHERE order_id = ANY($1) ORDER BY order_id, line_no`, pq.Array(orderIDs))
	if err != nil {
		return nil, fmt.Errorf("read reservation lines: %w", err)
	}
	out := make(map[string][]lineRow, len(orderIDs))
	for _, r := range rows {
		out[r.OrderID] = append(out[r.OrderID], r)
	}
	return out, nil
}

func insertLine(ctx context.Context, tx *sqlx.Tx, orderID string, lineNo int, l lineRow) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO reservation_lines (order_id, line_no, sku, quantity, unit_price, currency, name)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, orderID, lineNo, l.SKU, l.Quantity, l.UnitPrice, l.Currency, l.Name)
	if err != nil {
		return fmt.Errorf("record reservation line %s/%s: %w", orderID, l.SKU, err)
	}
	return nil
}
