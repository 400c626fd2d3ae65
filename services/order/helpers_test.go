package order_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/svcclient"
	"github.com/sagaflow/sagaflow/services/order"
	"github.com/sagaflow/sagaflow/services/order/client"
	"github.com/sagaflow/sagaflow/test/contract"
	"github.com/sagaflow/sagaflow/test/testenv"
)

type env struct {
	t    *testing.T
	db   *sqlx.DB
	url  string
	c    *client.Client
	logs *testenv.LogBuffer
	seq  int
}

// newEnv serves the order service over a fresh database and returns a typed client to it.
func newEnv(t *testing.T) *env {
	t.Helper()
	_, db := testenv.ServiceDatabase(t, "order")
	logs := &testenv.LogBuffer{}
	logger := logging.New(logs, "info", "order")
	// Every request and answer is held to the committed document. Who may call is
	// test/svcauthz's subject: here every caller is let through.
	srv := httptest.NewServer(contract.MustFor(t, "order").WithoutAuthentication().Handler(t, order.NewGuardedHandler(order.NewService(db, logger), auth.Unprotected(logger), logger, nil)))
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, url: srv.URL, c: client.New(srv.URL, srv.Client(), 10*time.Second), logs: logs}
}

// key returns a fresh idempotency key.
func (e *env) key() string {
	e.seq++
	return fmt.Sprintf("key-%d-%s", e.seq, testenv.Suffix())
}

func newOrderRequest(id, customer string) client.CreateOrderRequest {
	return client.CreateOrderRequest{
		OrderID:    id,
		CustomerID: customer,
		WorkflowID: "order-" + id,
		Lines:      []client.NewLine{{SKU: "SKU-A", Quantity: 2}, {SKU: "SKU-B", Quantity: 1}},
	}
}

// pricing is the pricing that matches newOrderRequest's lines: 2*1250 + 1*999.
func pricing() client.TransitionRequest {
	return client.TransitionRequest{
		Status:   client.StatusReserved,
		Reason:   "stock reserved",
		Currency: "EUR",
		Lines: []client.PricedLine{
			{SKU: "SKU-A", Name: "Widget", Quantity: 2, UnitPrice: 1250},
			{SKU: "SKU-B", Name: "Gadget", Quantity: 1, UnitPrice: 999},
		},
	}
}

const pricedTotal = 2*1250 + 999

func (e *env) create(id, customer string) client.Order {
	e.t.Helper()
	o, err := e.c.Create(context.Background(), e.key(), newOrderRequest(id, customer))
	if err != nil {
		e.t.Fatalf("create %s: %v", id, err)
	}
	return o
}

func (e *env) move(id string, req client.TransitionRequest) client.Order {
	e.t.Helper()
	o, err := e.c.Transition(context.Background(), id, e.key(), req)
	if err != nil {
		e.t.Fatalf("move %s to %s: %v", id, req.Status, err)
	}
	return o
}

// pathTo lists the moves that bring a new order to status.
func pathTo(status client.Status) []client.TransitionRequest {
	to := func(s client.Status) client.TransitionRequest {
		return client.TransitionRequest{Status: s, Reason: "to " + string(s)}
	}
	reserved := []client.TransitionRequest{pricing()}
	authorized := []client.TransitionRequest{pricing(), to(client.StatusAuthorized)}
	switch status {
	case client.StatusPending:
		return nil
	case client.StatusReserved:
		return reserved
	case client.StatusAuthorized:
		return authorized
	case client.StatusAwaitingApproval:
		return append(authorized, to(client.StatusAwaitingApproval))
	case client.StatusCaptured:
		return append(authorized, to(client.StatusCaptured))
	case client.StatusConfirmed:
		return append(authorized, to(client.StatusCaptured), to(client.StatusConfirmed))
	case client.StatusCompensating:
		return []client.TransitionRequest{to(client.StatusCompensating)}
	case client.StatusCompensationFailed:
		return []client.TransitionRequest{to(client.StatusCompensating), to(client.StatusCompensationFailed)}
	case client.StatusCancelled, client.StatusFailed:
		return []client.TransitionRequest{to(status)}
	}
	panic("no path to " + string(status))
}

// orderIn creates an order and moves it to status.
func (e *env) orderIn(id string, status client.Status) client.Order {
	e.t.Helper()
	o := e.create(id, "cust-"+id)
	for _, m := range pathTo(status) {
		o = e.move(id, m)
	}
	if o.Status != status {
		e.t.Fatalf("order %s is %s, want %s", id, o.Status, status)
	}
	return o
}

// serviceError asserts err is a service answer with the given status and code, and
// returns the answer for closer checks: as a value, since no error is left to handle.
func serviceError(t *testing.T, err error, status int, code string) svcclient.Error {
	t.Helper()
	var se *svcclient.Error
	if !errors.As(err, &se) {
		t.Fatalf("error = %v, want a service answer %d %s", err, status, code)
	}
	if se.Status != status || (code != "" && se.Code != code) {
		t.Fatalf("answer = %d %q (%s), want %d %q", se.Status, se.Code, se.Detail, status, code)
	}
	return *se
}

// raw sends a request with a literal body and returns the status and body.
func (e *env) raw(method, path, idempotencyKey, body string) (int, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close() // the answer is read; closing has nothing left to report
	return resp.StatusCode, string(out)
}

// count runs a SELECT count(*) query against the service database.
func (e *env) count(query string, args ...any) int {
	e.t.Helper()
	var n int
	if err := e.db.Get(&n, query, args...); err != nil {
		e.t.Fatal(err)
	}
	return n
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
