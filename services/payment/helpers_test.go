package payment_test

import (
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
	"github.com/sagaflow/sagaflow/services/payment"
	"github.com/sagaflow/sagaflow/services/payment/client"
	"github.com/sagaflow/sagaflow/test/contract"
	"github.com/sagaflow/sagaflow/test/testenv"
)

type env struct {
	db   *sqlx.DB
	url  string
	c    *client.Client
	logs *testenv.LogBuffer
}

// newEnv serves the payment service over a fresh database through a real HTTP server.
func newEnv(t *testing.T, latency time.Duration) *env {
	t.Helper()
	_, db := testenv.ServiceDatabase(t, "payment")
	logs := &testenv.LogBuffer{}
	logger := logging.New(logs, "debug", "payment")
	svc := payment.NewService(db, logger, payment.NewTestProcessor(latency))
	ready := httpserver.NewReadiness(map[string]httpserver.Check{"postgres": db.PingContext})
	// Every request and answer is held to the committed document. Who may call is
	// test/svcauthz's subject: here every caller is let through.
	srv := httptest.NewServer(contract.MustFor(t, "payment").WithoutAuthentication().Handler(t, payment.NewGuardedHandler(svc, auth.Unprotected(logger), logger, ready)))
	t.Cleanup(srv.Close)
	return &env{db: db, url: srv.URL, c: client.New(srv.URL, srv.Client(), 15*time.Second), logs: logs}
}

// raw sends a request as written, for cases the typed client cannot produce.
func (e *env) raw(t *testing.T, method, path, key, body string, header map[string]string) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // the answer is read; closing has nothing left to report
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, raw
}

func (e *env) count(t *testing.T, query string, args ...any) int {
	t.Helper()
	var n int
	if err := e.db.Get(&n, query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

// ledgerSums returns the total of each entry kind of an order, read from the database.
func (e *env) ledgerSums(t *testing.T, orderID string) map[string]int64 {
	t.Helper()
	var rows []struct {
		Kind  string `db:"kind"`
		Total int64  `db:"total"`
		N     int    `db:"n"`
	}
	if err := e.db.Select(&rows, `SELECT kind, sum(amount)::bigint AS total, count(*) AS n FROM ledger WHERE order_id = $1 GROUP BY kind`, orderID); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, r := range rows {
		out[r.Kind] = r.Total
	}
	return out
}

func ledgerKinds(p client.Payment) []string {
	kinds := []string{}
	for _, e := range p.Ledger {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

// wantProblem checks that err is a service answer with status and code.
func wantProblem(t *testing.T, err error, status int, code string) {
	t.Helper()
	var se *svcclient.Error
	if !errors.As(err, &se) {
		t.Fatalf("want %d %s, got %v", status, code, err)
	}
	if se.Status != status || se.Code != code {
		t.Fatalf("want %d %s, got %d %s (%s)", status, code, se.Status, se.Code, se.Detail)
	}
}

func authorizeReq(orderID string, amount int64, token string) client.AuthorizeRequest {
	return client.AuthorizeRequest{OrderID: orderID, Amount: amount, Currency: "EUR", PaymentToken: token}
}
