package payment

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/sagaflow/sagaflow/services/payment/client"
)

// orderLockClass is the first key of the per-order advisory lock (the second is a hash
// of the order id); it keeps our locks apart from other advisory lock users.
const orderLockClass = 20_082

// paymentRow is a payments row as stored.
type paymentRow struct {
	OrderID      string         `db:"order_id"`
	Status       string         `db:"status"`
	Amount       int64          `db:"amount"`
	Currency     sql.NullString `db:"currency"`
	Captured     int64          `db:"captured"`
	Refunded     int64          `db:"refunded"`
	ProcessorRef sql.NullString `db:"processor_ref"`
	CreatedAt    time.Time      `db:"created_at"`
	UpdatedAt    time.Time      `db:"updated_at"`
}

type ledgerRow struct {
	ID        int64     `db:"id"`
	OrderID   string    `db:"order_id"`
	Kind      string    `db:"kind"`
	Amount    int64     `db:"amount"`
	CreatedAt time.Time `db:"created_at"`
}

const paymentColumns = `order_id, status, amount, currency, captured, refunded, processor_ref, created_at, updated_at`

// lockOrder serialises every change to one order's payment, including the moment when
// no row exists yet: two authorizations (or an authorization and a void) of the same
// order under different keys must not both see "no payment".
func lockOrder(ctx context.Context, tx *sqlx.Tx, orderID string) error {
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1, hashtext($2))`, orderLockClass, orderID); err != nil {
		return fmt.Errorf("lock order %s: %w", orderID, err)
	}
	return nil
}

// lockPayment returns the order's payment locked for update, or ok=false when there is none.
func lockPayment(ctx context.Context, tx *sqlx.Tx, orderID string) (row paymentRow, ok bool, err error) {
	if err := lockOrder(ctx, tx, orderID); err != nil {
		return row, false, err
	}
	err = tx.GetContext(ctx, &row, `SELECT `+paymentColumns+` FROM payments WHERE order_id = $1 FOR UPDATE`, orderID)
	if errors.Is(err, sql.ErrNoRows) {
		return row, false, nil
	}
	if err != nil {
		return row, false, fmt.Errorf("read payment %s: %w", orderID, err)
	}
	return row, true, nil
}

func insertAuthorized(ctx context.Context, tx *sqlx.Tx, orderID string, amount int64, currency, ref string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO payments (order_id, status, amount, currency, processor_ref)
		VALUES ($1, 'AUTHORIZED', $2, $3, $4)`, orderID, amount, currency, ref)
	if err != nil {
		return fmt.Errorf("insert payment %s: %w", orderID, err)
	}
	return appendLedger(ctx, tx, orderID, client.EntryAuthorize, amount)
}

func insertVoidMarker(ctx context.Context, tx *sqlx.Tx, orderID string) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO payments (order_id, status, amount) VALUES ($1, 'VOIDED', 0)`, orderID)
	if err != nil {
		return fmt.Errorf("insert void marker %s: %w", orderID, err)
	}
	return nil
}

// updateMoney moves a payment to status with the given totals and records the movement.
func updateMoney(ctx context.Context, tx *sqlx.Tx, orderID, status string, captured, refunded int64, kind string, amount int64) error {
	_, err := tx.ExecContext(ctx, `UPDATE payments SET status = $2, captured = $3, refunded = $4, updated_at = now()
		WHERE order_id = $1`, orderID, status, captured, refunded)
	if err != nil {
		return fmt.Errorf("update payment %s: %w", orderID, err)
	}
	return appendLedger(ctx, tx, orderID, kind, amount)
}

func appendLedger(ctx context.Context, tx *sqlx.Tx, orderID, kind string, amount int64) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO ledger (order_id, kind, amount) VALUES ($1, $2, $3)`, orderID, kind, amount); err != nil {
		return fmt.Errorf("append ledger %s %s: %w", orderID, kind, err)
	}
	return nil
}

// loadPayment reads one payment with its ledger; ok=false when there is none.
func loadPayment(ctx context.Context, q sqlx.QueryerContext, orderID string) (p client.Payment, ok bool, err error) {
	var row paymentRow
	err = sqlx.GetContext(ctx, q, &row, `SELECT `+paymentColumns+` FROM payments WHERE order_id = $1`, orderID)
	if errors.Is(err, sql.ErrNoRows) {
		return p, false, nil
	}
	if err != nil {
		return p, false, fmt.Errorf("read payment %s: %w", orderID, err)
	}
	ledgers, err := loadLedgers(ctx, q, []string{orderID})
	if err != nil {
		return p, false, err
	}
	return toPayment(row, ledgers[orderID]), true, nil
}

// listPayments returns up to limit payments ordered by order id, after the given order id,
// optionally only those with status.
func listPayments(ctx context.Context, q sqlx.QueryerContext, status, after string, limit int) ([]client.Payment, error) {
	var rows []paymentRow
	err := sqlx.SelectContext(ctx, q, &rows, `SELECT `+paymentColumns+` FROM payments
		WHERE ($1 = '' OR status = $1) AND order_id > $2 ORDER BY order_id LIMIT $3`, status, after, limit)
	if err != nil {
		return nil, fmt.Errorf("list payments: %w", err)
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.OrderID
	}
	ledgers, err := loadLedgers(ctx, q, ids)
	if err != nil {
		return nil, err
	}
	out := make([]client.Payment, len(rows))
	for i, r := range rows {
		out[i] = toPayment(r, ledgers[r.OrderID])
	}
	return out, nil
}

func loadLedgers(ctx context.Context, q sqlx.QueryerContext, orderIDs []string) (map[string][]client.LedgerEntry, error) {
	out := make(map[string][]client.LedgerEntry, len(orderIDs))
	if len(orderIDs) == 0 {
		return out, nil
	}
	var rows []ledgerRow
	err := sqlx.SelectContext(ctx, q, &rows, `SELECT id, order_id, kind, amount, created_at FROM ledger
		WHERE order_id = ANY($1) ORDER BY order_id, id`, pq.Array(orderIDs))
	if err != nil {
		return nil, fmt.Errorf("read ledger: %w", err)
	}
	for _, r := range rows {
		out[r.OrderID] = append(out[r.OrderID], client.LedgerEntry{
			ID: r.ID, Kind: r.Kind, Amount: r.Amount, CreatedAt: r.CreatedAt.UTC(),
		})
	}
	return out, nil
}

func toPayment(r paymentRow, ledger []client.LedgerEntry) client.Payment {
	if ledger == nil {
		ledger = []client.LedgerEntry{}
	}
	return client.Payment{
		OrderID:      r.OrderID,
		Status:       r.Status,
		Amount:       r.Amount,
		Currency:     r.Currency.String,
		Captured:     r.Captured,
		Refunded:     r.Refunded,
		ProcessorRef: r.ProcessorRef.String,
		Ledger:       ledger,
		CreatedAt:    r.CreatedAt.UTC(),
		UpdatedAt:    r.UpdatedAt.UTC(),
	}
}
