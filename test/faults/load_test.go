package faults

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/api"
)

// TestLoadHoldsAnswersToTheDocument: the generator's client reports an answer the public
// API's document does not allow, and lets a declared one pass.
func TestLoadHoldsAnswersToTheDocument(t *testing.T) {
	cases := []struct {
		name       string
		header     map[string]string
		status     int
		body       string
		wantReport bool
	}{
		{"declared 202", map[string]string{"Content-Type": "application/json", "Location": "/orders/o1"}, http.StatusAccepted,
			`{"id":"o1","status":"PENDING","links":{"self":"/orders/o1"}}`, false},
		{"202 without Location", map[string]string{"Content-Type": "application/json"}, http.StatusAccepted,
			`{"id":"o1","status":"PENDING","links":{"self":"/orders/o1"}}`, true},
		{"problem without type", map[string]string{"Content-Type": "application/problem+json"}, http.StatusTooManyRequests,
			`{"title":"Too Many Requests","status":429,"detail":"slow down"}`, true},
		{"undeclared status", map[string]string{"Content-Type": "application/problem+json"}, http.StatusTeapot,
			`{"type":"/problems/teapot","title":"t","status":418,"detail":"d"}`, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			l := NewLoad(srv.URL, "t", nil)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			resp, err := l.Post(ctx, "/orders", "key-1", api.PlaceOrderRequest{
				CustomerID: "c-1", PaymentToken: "tok_visa", Lines: []api.NewOrderLine{{SKU: "A", Quantity: 1}},
			})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Status != tc.status || string(resp.Body) != tc.body {
				t.Errorf("answer %d %q not handed on as sent", resp.Status, resp.Body)
			}
			got := l.Mismatches()
			if tc.wantReport != (len(got) > 0) {
				t.Errorf("mismatches %v, want reported: %v", got, tc.wantReport)
			}
		})
	}
}
