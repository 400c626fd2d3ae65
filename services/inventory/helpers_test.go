package inventory_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/httpserver"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	"github.com/sagaflow/sagaflow/services/inventory"
	"github.com/sagaflow/sagaflow/services/inventory/client"
	"github.com/sagaflow/sagaflow/test/contract"
	"github.com/sagaflow/sagaflow/test/testenv"
)

// env is one inventory service over its own fresh database, served over real HTTP.
type env struct {
	t      *testing.T
	db     *sqlx.DB
	svc    *inventory.Service
	client *client.Client
	url    string
	logs   *testenv.LogBuffer
}

func newEnv(t *testing.T) *env {
	t.Helper()
	_, db := testenv.ServiceDatabase(t, "inventory")
	logs := &testenv.LogBuffer{}
	logger := logging.New(logs, "debug", "inventory")
	svc := inventory.NewService(db, logger)
	ready := httpserver.NewReadiness(map[string]httpserver.Check{"postgres": db.PingContext})
	// Every request and answer is held to the committed document. Who may call is
	// test/svcauthz's subject: here every caller is let through.
	srv := httptest.NewServer(contract.MustFor(t, "inventory").WithoutAuthentication().Handler(t, inventory.NewGuardedHandler(svc, auth.Unprotected(logger), logger, ready)))
	t.Cleanup(srv.Close)
	return &env{
		t:      t,
		db:     db,
		svc:    svc,
		client: client.New(srv.URL, srv.Client(), 20*time.Second),
		url:    srv.URL,
		logs:   logs,
	}
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// product creates a catalog entry with the given stock.
func (e *env) product(sku string, price int64, currency string, stock int64) {
	e.t.Helper()
	c := ctx(e.t)
	if _, err := e.client.UpsertProduct(c, sku, client.UpsertProductRequest{Name: "Product " + sku, UnitPrice: price, Currency: currency}); err != nil {
		e.t.Fatalf("upsert %s: %v", sku, err)
	}
	if stock > 0 {
		if _, err := e.client.Restock(c, sku, "seed-"+sku, client.RestockRequest{Quantity: stock}); err != nil {
			e.t.Fatalf("restock %s: %v", sku, err)
		}
	}
}

func (e *env) levels(sku string) (onHand, reserved int64) {
	e.t.Helper()
	p, err := e.client.GetProduct(ctx(e.t), sku)
	if err != nil {
		e.t.Fatalf("get product %s: %v", sku, err)
	}
	if p.Available != p.OnHand-p.Reserved {
		e.t.Fatalf("%s: available %d != on_hand %d - reserved %d", sku, p.Available, p.OnHand, p.Reserved)
	}
	return p.OnHand, p.Reserved
}

func (e *env) wantLevels(sku string, onHand, reserved int64) {
	e.t.Helper()
	gotOnHand, gotReserved := e.levels(sku)
	if gotOnHand != onHand || gotReserved != reserved {
		e.t.Fatalf("%s: on_hand/reserved = %d/%d, want %d/%d", sku, gotOnHand, gotReserved, onHand, reserved)
	}
}

func (e *env) movements(kind string) int {
	e.t.Helper()
	var n int
	if err := e.db.Get(&n, `SELECT count(*) FROM stock_movements WHERE kind = $1`, kind); err != nil {
		e.t.Fatal(err)
	}
	return n
}

// checkLedger asserts the stock invariants for every product: levels equal the sums of the
// ledger, the last ledger entry shows the current levels, and reserved equals what open
// reservations hold.
func (e *env) checkLedger() {
	e.t.Helper()
	var rows []struct {
		SKU            string `db:"sku"`
		OnHand         int64  `db:"on_hand"`
		Reserved       int64  `db:"reserved"`
		LedgerOnHand   int64  `db:"ledger_on_hand"`
		LedgerReserved int64  `db:"ledger_reserved"`
		LastOnHand     int64  `db:"last_on_hand"`
		LastReserved   int64  `db:"last_reserved"`
		Held           int64  `db:"held"`
	}
	err := e.db.Select(&rows, `
		SELECT p.sku, p.on_hand, p.reserved,
			coalesce(sum(CASE m.kind WHEN 'RESTOCK' THEN m.quantity WHEN 'COMMIT' THEN -m.quantity ELSE 0 END), 0) AS ledger_on_hand,
			coalesce(sum(CASE m.kind WHEN 'RESERVE' THEN m.quantity WHEN 'RELEASE' THEN -m.quantity
				WHEN 'COMMIT' THEN -m.quantity ELSE 0 END), 0) AS ledger_reserved,
			coalesce((SELECT on_hand_after FROM stock_movements WHERE sku = p.sku ORDER BY id DESC LIMIT 1), 0) AS last_on_hand,
			coalesce((SELECT reserved_after FROM stock_movements WHERE sku = p.sku ORDER BY id DESC LIMIT 1), 0) AS last_reserved,
			coalesce((SELECT sum(l.quantity) FROM reservation_lines l JOIN reservations r USING (order_id)
				WHERE r.status = 'RESERVED' AND l.sku = p.sku), 0) AS held
		FROM products p LEFT JOIN stock_movements m ON m.sku = p.sku
		GROUP BY p.sku, p.on_hand, p.reserved ORDER BY p.sku`)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range rows {
		if r.OnHand != r.LedgerOnHand || r.Reserved != r.LedgerReserved {
			e.t.Errorf("%s: levels %d/%d, ledger sums %d/%d", r.SKU, r.OnHand, r.Reserved, r.LedgerOnHand, r.LedgerReserved)
		}
		if r.OnHand != r.LastOnHand || r.Reserved != r.LastReserved {
			e.t.Errorf("%s: levels %d/%d, last ledger entry %d/%d", r.SKU, r.OnHand, r.Reserved, r.LastOnHand, r.LastReserved)
		}
		if r.Reserved != r.Held {
			e.t.Errorf("%s: reserved %d, open reservations hold %d", r.SKU, r.Reserved, r.Held)
		}
		if r.OnHand < 0 || r.Reserved < 0 || r.Reserved > r.OnHand {
			e.t.Errorf("%s: impossible levels %d/%d", r.SKU, r.OnHand, r.Reserved)
		}
	}
}

// raw sends a request without the typed client, to see status codes and malformed input.
func (e *env) raw(method, path, key, body string) (int, map[string]any) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx(e.t), method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // the answer is read; closing has nothing left to report
	var out map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			e.t.Fatalf("%s %s: answer is not JSON: %s", method, path, raw)
		}
	}
	return resp.StatusCode, out
}

// apiError asserts err is a service answer with the given status and code, and returns
// the answer for closer checks: as a value, since no error is left to handle.
func apiError(t *testing.T, err error, status int, code string) svcclient.Error {
	t.Helper()
	var e *svcclient.Error
	if !errors.As(err, &e) {
		t.Fatalf("want %d %s, got %v", status, code, err)
	}
	if e.Status != status || e.Code != code {
		t.Fatalf("want %d %s, got %d %s (%s)", status, code, e.Status, e.Code, e.Detail)
	}
	return *e
}

func reserveReq(orderID string, lines ...client.ReserveLine) client.ReserveRequest {
	return client.ReserveRequest{OrderID: orderID, Lines: lines}
}

func line(sku string, qty int64) client.ReserveLine {
	return client.ReserveLine{SKU: sku, Quantity: qty}
}
