// Package inventory is the inventory service: the product catalog with stock levels and
// the per-order stock reservations the order saga takes, releases and commits.
//
// Stock rules: available = on_hand - reserved. Reserve moves units into reserved (all
// lines of an order or none), release moves them back, commit removes them from both
// (they are sold). Every change is written to the stock_movements ledger in the same
// transaction, so levels can be audited against it. Product rows are always locked in
// SKU byte order, so concurrent orders over the same SKUs cannot deadlock.
package inventory

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/money"
	"github.com/sagaflow/sagaflow/services/inventory/client"
)

// Operation ids. The mutating ones also name their idempotency records: a key reused for
// another operation is refused.
const (
	opUpsertProduct    = "upsert-product"
	opListProducts     = "list-products"
	opGetProduct       = "get-product"
	opRestock          = "restock-product"
	opListMovements    = "list-stock-movements"
	opReserve          = "reserve-stock"
	opRelease          = "release-stock"
	opCommit           = "commit-stock"
	opGetReservation   = "get-reservation"
	opListReservations = "list-reservations"
)

// Listing bounds.
const (
	DefaultListLimit = 100
	MaxListLimit     = 1000
	maxLines         = 100
)

// SKUPattern is what a catalog SKU may look like: it travels in URL paths and log lines.
const SKUPattern = `^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$`

var skuRE = regexp.MustCompile(SKUPattern)

// Service is the inventory domain over its database.
type Service struct {
	db     *sqlx.DB
	logger *slog.Logger
}

// NewService returns the inventory service over db (which must carry the inventory schema).
// A nil db is allowed only for building the OpenAPI document; a nil logger discards.
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

// UpsertProduct creates a catalog entry or updates its name and price; stock levels are
// changed only by restocks and reservations. created reports a new entry.
func (s *Service) UpsertProduct(ctx context.Context, sku string, req client.UpsertProductRequest) (client.Product, bool, error) {
	if !skuRE.MatchString(sku) {
		return client.Product{}, false, &validationError{Location: "path.sku", Message: "must match " + SKUPattern, Value: sku}
	}
	if strings.TrimSpace(req.Name) == "" {
		return client.Product{}, false, &validationError{Location: "body.name", Message: "must not be blank", Value: req.Name}
	}
	if req.UnitPrice < 0 {
		return client.Product{}, false, &validationError{Location: "body.unit_price", Message: "must not be negative", Value: req.UnitPrice}
	}
	var row struct {
		productRow
		Inserted bool `db:"inserted"`
	}
	err := s.db.GetContext(ctx, &row, `INSERT INTO products (sku, name, unit_price, currency) VALUES ($1, $2, $3, $4)
		ON CONFLICT (sku) DO UPDATE SET name = EXCLUDED.name, unit_price = EXCLUDED.unit_price,
			currency = EXCLUDED.currency, updated_at = now()
		RETURNING `+productColumns+`, (xmax = 0) AS inserted`, sku, req.Name, req.UnitPrice, req.Currency)
	if err != nil {
		return client.Product{}, false, fmt.Errorf("upsert product %s: %w", sku, err)
	}
	return row.product(), row.Inserted, nil
}

// GetProduct returns one product with its stock levels.
func (s *Service) GetProduct(ctx context.Context, sku string) (client.Product, error) {
	row, err := getProduct(ctx, s.db, sku, false)
	if err != nil {
		return client.Product{}, err
	}
	return row.product(), nil
}

// ListProducts returns the whole catalog ordered by SKU.
func (s *Service) ListProducts(ctx context.Context) (client.ProductList, error) {
	var rows []productRow
	if err := s.db.SelectContext(ctx, &rows, `SELECT `+productColumns+` FROM products ORDER BY sku COLLATE "C"`); err != nil {
		return client.ProductList{}, fmt.Errorf("list products: %w", err)
	}
	out := client.ProductList{Items: make([]client.Product, 0, len(rows))}
	for _, r := range rows {
		out.Items = append(out.Items, r.product())
	}
	return out, nil
}

// Restock adds units to a product once per idempotency key.
func (s *Service) Restock(ctx context.Context, sku, key string, req client.RestockRequest) (client.Product, error) {
	if req.Quantity <= 0 {
		return client.Product{}, &validationError{Location: "body.quantity", Message: "must be at least 1", Value: req.Quantity}
	}
	fingerprint := struct {
		SKU string `json:"sku"`
		client.RestockRequest
	}{sku, req}
	return idempotent(ctx, s.db, key, opRestock, fingerprint, func(tx *sqlx.Tx) (client.Product, error) {
		return s.restock(ctx, tx, sku, req.Quantity)
	})
}

func (s *Service) restock(ctx context.Context, tx *sqlx.Tx, sku string, quantity int64) (client.Product, error) {
	p, err := getProduct(ctx, tx, sku, true)
	if err != nil {
		return client.Product{}, err
	}
	if p.OnHand > math.MaxInt64-quantity {
		return client.Product{}, errStockOverflow
	}
	if err := move(ctx, tx, client.MovementRestock, sku, "", quantity); err != nil {
		return client.Product{}, err
	}
	p, err = getProduct(ctx, tx, sku, false)
	if err != nil {
		return client.Product{}, err
	}
	return p.product(), nil
}

// ListMovements returns a product's ledger entries with id greater than after, oldest first.
func (s *Service) ListMovements(ctx context.Context, sku string, after int64, limit int) (client.StockMovementList, error) {
	if _, err := getProduct(ctx, s.db, sku, false); err != nil {
		return client.StockMovementList{}, err
	}
	var rows []movementRow
	err := s.db.SelectContext(ctx, &rows, `SELECT id, sku, order_id, kind, quantity, on_hand_after, reserved_after, created_at
		FROM stock_movements WHERE sku = $1 AND id > $2 ORDER BY id LIMIT $3`, sku, after, clampLimit(limit))
	if err != nil {
		return client.StockMovementList{}, fmt.Errorf("list movements of %s: %w", sku, err)
	}
	out := client.StockMovementList{Items: make([]client.StockMovement, 0, len(rows))}
	for _, r := range rows {
		out.Items = append(out.Items, r.movement())
	}
	return out, nil
}

// wantLine is one SKU of a reserve request after duplicates are merged.
type wantLine struct {
	lineRef
	Quantity int64
}

// mergeLines validates the lines of a reserve request and merges repeated SKUs by summing
// their quantities, keeping the position of each SKU's first line.
func mergeLines(lines []client.ReserveLine) ([]wantLine, error) {
	if len(lines) == 0 {
		return nil, &validationError{Location: "body.lines", Message: "at least one line is required"}
	}
	if len(lines) > maxLines {
		return nil, &validationError{Location: "body.lines", Message: fmt.Sprintf("at most %d lines are allowed", maxLines), Value: len(lines)}
	}
	out := make([]wantLine, 0, len(lines))
	at := make(map[string]int, len(lines))
	for i, l := range lines {
		if l.SKU == "" {
			return nil, &validationError{Location: fmt.Sprintf("body.lines[%d].sku", i), Message: "must not be empty"}
		}
		if l.Quantity <= 0 {
			return nil, &validationError{Location: fmt.Sprintf("body.lines[%d].quantity", i), Message: "must be at least 1", Value: l.Quantity}
		}
		j, seen := at[l.SKU]
		if !seen {
			at[l.SKU] = len(out)
			out = append(out, wantLine{lineRef: lineRef{Index: i, SKU: l.SKU}, Quantity: l.Quantity})
			continue
		}
		if out[j].Quantity > math.MaxInt64-l.Quantity {
			return nil, &validationError{Location: fmt.Sprintf("body.lines[%d].quantity", i), Message: "total quantity of this SKU overflows", Value: l.Quantity}
		}
		out[j].Quantity += l.Quantity
	}
	return out, nil
}

// reserveOutcome is what an idempotent reserve records: the reservation and whether this
// request created it, so a replay answers with the same status code.
type reserveOutcome struct {
	Reservation client.Reservation `json:"reservation"`
	Created     bool               `json:"created"`
}

// Reserve holds stock for every line of an order or for none. Repeated SKUs are merged.
// created is false when the order already had a matching reservation (RESERVED or
// COMMITTED); a released order is refused so a reserve arriving after its compensation
// cannot leave stock held.
func (s *Service) Reserve(ctx context.Context, key string, req client.ReserveRequest) (client.Reservation, bool, error) {
	if req.OrderID == "" {
		return client.Reservation{}, false, &validationError{Location: "body.order_id", Message: "must not be empty"}
	}
	lines, err := mergeLines(req.Lines)
	if err != nil {
		return client.Reservation{}, false, err
	}
	out, err := idempotent(ctx, s.db, key, opReserve, req, func(tx *sqlx.Tx) (reserveOutcome, error) {
		return s.reserve(ctx, tx, req.OrderID, lines)
	})
	return out.Reservation, out.Created, err
}

func (s *Service) reserve(ctx context.Context, tx *sqlx.Tx, orderID string, want []wantLine) (reserveOutcome, error) {
	row, created, err := insertReservation(ctx, tx, orderID, client.ReservationReserved)
	if err != nil {
		return reserveOutcome{}, err
	}
	if !created {
		r, err := s.existingReservation(ctx, tx, row, want)
		return reserveOutcome{Reservation: r}, err
	}

	skus := make([]string, len(want))
	for i, w := range want {
		skus[i] = w.SKU
	}
	slices.Sort(skus)
	products, err := lockProducts(ctx, tx, skus)
	if err != nil {
		return reserveOutcome{}, err
	}

	var unknown []lineRef
	for _, w := range want {
		if _, ok := products[w.SKU]; !ok {
			unknown = append(unknown, w.lineRef)
		}
	}
	if len(unknown) > 0 {
		return reserveOutcome{}, &unknownSKUError{Lines: unknown}
	}
	if err := checkPricing(want, products); err != nil {
		return reserveOutcome{}, err
	}
	var short []shortage
	for _, w := range want {
		p := products[w.SKU]
		if available := p.OnHand - p.Reserved; w.Quantity > available {
			short = append(short, shortage{lineRef: w.lineRef, Requested: w.Quantity, Available: available})
		}
	}
	if len(short) > 0 {
		return reserveOutcome{}, &outOfStockError{Short: short}
	}

	lines := make([]lineRow, len(want))
	for i, w := range want {
		p := products[w.SKU]
		lines[i] = lineRow{OrderID: orderID, SKU: w.SKU, Name: p.Name, Quantity: w.Quantity, UnitPrice: p.UnitPrice, Currency: p.Currency}
		if err := insertLine(ctx, tx, orderID, i, lines[i]); err != nil {
			return reserveOutcome{}, err
		}
	}
	quantities := make(map[string]int64, len(want))
	for _, w := range want {
		quantities[w.SKU] = w.Quantity
	}
	for _, sku := range skus {
		if err := move(ctx, tx, client.MovementReserve, sku, orderID, quantities[sku]); err != nil {
			return reserveOutcome{}, err
		}
	}
	return reserveOutcome{Reservation: reservationOf(row, lines), Created: true}, nil
}

// checkPricing refuses an order whose products are priced in several currencies or whose
// total does not fit in int64 minor units: the order could never be charged.
func checkPricing(want []wantLine, products map[string]productRow) error {
	currency := products[want[0].SKU].Currency
	var mixed []lineRef
	currencies := []string{currency}
	var total int64
	overflow := false
	for _, w := range want {
		p := products[w.SKU]
		if p.Currency != currency {
			mixed = append(mixed, w.lineRef)
			if !slices.Contains(currencies, p.Currency) {
				currencies = append(currencies, p.Currency)
			}
		}
		lineTotal, err := money.Mul(w.Quantity, p.UnitPrice)
		if err == nil {
			total, err = money.Add(total, lineTotal)
		}
		// Once overflowing, the order is refused whatever the total, so it need not stay exact.
		overflow = overflow || err != nil
	}
	if len(mixed) > 0 {
		return &mixedCurrencyError{Lines: mixed, Currencies: currencies}
	}
	if overflow {
		return errAmountOverflow
	}
	return nil
}

// existingReservation answers a reserve for an order that already has a reservation row
// (locked by the caller).
func (s *Service) existingReservation(ctx context.Context, tx *sqlx.Tx, row reservationRow, want []wantLine) (client.Reservation, error) {
	if row.Status == client.ReservationReleased {
		s.logger.InfoContext(ctx, "late reserve refused: order already released", "order_id", row.OrderID)
		return client.Reservation{}, errReleased
	}
	lines, err := reservationLines(ctx, tx, row.OrderID)
	if err != nil {
		return client.Reservation{}, err
	}
	have := lines[row.OrderID]
	if len(have) != len(want) {
		return client.Reservation{}, errLinesDiffer
	}
	quantities := make(map[string]int64, len(have))
	for _, l := range have {
		quantities[l.SKU] = l.Quantity
	}
	for _, w := range want {
		if quantities[w.SKU] != w.Quantity {
			return client.Reservation{}, errLinesDiffer
		}
	}
	return reservationOf(row, have), nil
}

// Release gives an order's reserved stock back. Without a reservation it records a
// RELEASED marker, so a reserve that arrives later is refused instead of holding stock
// for an order whose saga has already compensated.
func (s *Service) Release(ctx context.Context, orderID, key string) (client.Reservation, error) {
	if orderID == "" {
		return client.Reservation{}, &validationError{Location: "path.order_id", Message: "must not be empty"}
	}
	fingerprint := struct {
		OrderID string `json:"order_id"`
	}{orderID}
	return idempotent(ctx, s.db, key, opRelease, fingerprint, func(tx *sqlx.Tx) (client.Reservation, error) {
		return s.release(ctx, tx, orderID)
	})
}

func (s *Service) release(ctx context.Context, tx *sqlx.Tx, orderID string) (client.Reservation, error) {
	row, created, err := insertReservation(ctx, tx, orderID, client.ReservationReleased)
	if err != nil {
		return client.Reservation{}, err
	}
	if created {
		s.logger.InfoContext(ctx, "release before reserve: marker recorded", "order_id", orderID)
		return reservationOf(row, nil), nil
	}
	switch row.Status {
	case client.ReservationCommitted:
		return client.Reservation{}, errCommitted
	case client.ReservationReleased:
		lines, err := reservationLines(ctx, tx, orderID)
		if err != nil {
			return client.Reservation{}, err
		}
		return reservationOf(row, lines[orderID]), nil
	}
	return s.settle(ctx, tx, row, client.MovementRelease, client.ReservationReleased)
}

// Commit turns an order's reserved stock into sold stock.
func (s *Service) Commit(ctx context.Context, orderID, key string) (client.Reservation, error) {
	if orderID == "" {
		return client.Reservation{}, &validationError{Location: "path.order_id", Message: "must not be empty"}
	}
	fingerprint := struct {
		OrderID string `json:"order_id"`
	}{orderID}
	return idempotent(ctx, s.db, key, opCommit, fingerprint, func(tx *sqlx.Tx) (client.Reservation, error) {
		return s.commit(ctx, tx, orderID)
	})
}

func (s *Service) commit(ctx context.Context, tx *sqlx.Tx, orderID string) (client.Reservation, error) {
	row, err := getReservationRow(ctx, tx, orderID, true)
	if err != nil {
		return client.Reservation{}, err
	}
	switch row.Status {
	case client.ReservationReleased:
		return client.Reservation{}, errReleased
	case client.ReservationCommitted:
		lines, err := reservationLines(ctx, tx, orderID)
		if err != nil {
			return client.Reservation{}, err
		}
		return reservationOf(row, lines[orderID]), nil
	}
	return s.settle(ctx, tx, row, client.MovementCommit, client.ReservationCommitted)
}

// settle ends a RESERVED reservation (locked by the caller): every line's stock moves by
// kind, product rows locked in SKU order, and the reservation takes status.
func (s *Service) settle(ctx context.Context, tx *sqlx.Tx, row reservationRow, kind, status string) (client.Reservation, error) {
	byOrder, err := reservationLines(ctx, tx, row.OrderID)
	if err != nil {
		return client.Reservation{}, err
	}
	lines := byOrder[row.OrderID]
	skus := make([]string, len(lines))
	quantities := make(map[string]int64, len(lines))
	for i, l := range lines {
		skus[i] = l.SKU
		quantities[l.SKU] = l.Quantity
	}
	slices.Sort(skus)
	if _, err := lockProducts(ctx, tx, skus); err != nil {
		return client.Reservation{}, err
	}
	for _, sku := range skus {
		if err := move(ctx, tx, kind, sku, row.OrderID, quantities[sku]); err != nil {
			return client.Reservation{}, err
		}
	}
	row, err = setReservationStatus(ctx, tx, row.OrderID, status)
	if err != nil {
		return client.Reservation{}, err
	}
	return reservationOf(row, lines), nil
}

// GetReservation returns an order's reservation.
func (s *Service) GetReservation(ctx context.Context, orderID string) (client.Reservation, error) {
	row, err := getReservationRow(ctx, s.db, orderID, false)
	if err != nil {
		return client.Reservation{}, err
	}
	lines, err := reservationLines(ctx, s.db, orderID)
	if err != nil {
		return client.Reservation{}, err
	}
	return reservationOf(row, lines[orderID]), nil
}

// ListReservations returns a page of reservations matching f, newest first (ties by order
// id). f.After names the last reservation of the previous page; the keyset continues from
// its position, so pages neither repeat nor skip rows while new reservations arrive.
func (s *Service) ListReservations(ctx context.Context, f client.ReservationFilter) (client.ReservationList, error) {
	var conds []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return fmt.Sprintf("$%d", len(args))
	}
	if f.Status != "" {
		conds = append(conds, "status = "+arg(f.Status))
	}
	if f.OrderID != "" {
		conds = append(conds, "order_id = "+arg(f.OrderID))
	}
	if f.After != "" {
		// Reservations are never deleted, so the cursor's row is always there to anchor on.
		after, err := getReservationRow(ctx, s.db, f.After, false)
		if errors.Is(err, errReservationNotFound) {
			return client.ReservationList{}, &validationError{Location: "query.after", Message: "no reservation for this order id", Value: f.After}
		}
		if err != nil {
			return client.ReservationList{}, err
		}
		at, id := arg(after.CreatedAt), arg(after.OrderID)
		conds = append(conds, fmt.Sprintf("(created_at < %s OR (created_at = %s AND order_id > %s))", at, at, id))
	}
	query := `SELECT order_id, status, created_at, updated_at FROM reservations`
	if len(conds) > 0 {
		query += ` WHERE ` + strings.Join(conds, " AND ")
	}
	limit := clampLimit(f.Limit)
	// One row more than asked tells whether another page follows.
	query += ` ORDER BY created_at DESC, order_id LIMIT ` + arg(limit+1)

	var rows []reservationRow
	if err := s.db.SelectContext(ctx, &rows, query, args...); err != nil {
		return client.ReservationList{}, fmt.Errorf("list reservations: %w", err)
	}
	var next string
	if len(rows) > limit {
		rows = rows[:limit]
		next = rows[limit-1].OrderID
	}
	ids := make([]string, len(rows))
	for i, r := range rows {
		ids[i] = r.OrderID
	}
	lines, err := reservationLines(ctx, s.db, ids...)
	if err != nil {
		return client.ReservationList{}, err
	}
	out := client.ReservationList{Items: make([]client.Reservation, 0, len(rows)), Next: next}
	for _, r := range rows {
		out.Items = append(out.Items, reservationOf(r, lines[r.OrderID]))
	}
	return out, nil
}

func clampLimit(limit int) int {
	switch {
	case limit <= 0:
		return DefaultListLimit
	case limit > MaxListLimit:
		return MaxListLimit
	}
	return limit
}
