package badinput

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/test/contract"
)

// RowCounter returns how many rows query counts in db; a fuzz target compares it before
// and after a refused request, which must write nothing.
func RowCounter(db *sqlx.DB, query string) func(t *testing.T) int {
	return func(t *testing.T) int {
		t.Helper()
		var n int
		if err := db.GetContext(context.Background(), &n, query); err != nil {
			t.Fatal(err)
		}
		return n
	}
}

// FuzzPost posts body with the Idempotency-Key key to the handler of component ("order",
// "payment", "inventory", "public") at path and fails the test when the exchange is
// outside the component's committed OpenAPI document, when the answer is not clean
// (Check) or when a refused request changed what rows counts. It returns the answer's status.
func FuzzPost(t *testing.T, component string, handler http.Handler, path string, body []byte, key string, rows func(t *testing.T) int) int {
	t.Helper()
	// The fuzzed handlers run without their guards: what is fuzzed is the body.
	handler = contract.MustFor(t, component).WithoutAuthentication().HandlerFunc(func(err error) {
		t.Fatalf("body %q key %q: %v", body, key, err)
	}, handler)
	before := rows(t)
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, req)
	if err := Check(rec.Code, rec.Header(), rec.Body.Bytes()); err != nil {
		t.Fatalf("body %q key %q: %v", body, key, err)
	}
	if rec.Code >= 400 && rows(t) != before {
		t.Fatalf("refused (%d) body %q key %q wrote rows", rec.Code, body, key)
	}
	return rec.Code
}
