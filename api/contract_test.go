package api_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.temporal.io/api/serviceerror"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/workflows"
)

// requireNoSaga fails when a saga was started for the key's order.
func (h *harness) requireNoSaga(key string) {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := h.temporal.DescribeWorkflowExecution(ctx, workflows.WorkflowID(h.orderID(key)), "")
	var nf *serviceerror.NotFound
	if !errors.As(err, &nf) {
		h.terminateLater(h.orderID(key))
		h.t.Errorf("a saga was started for key %s (describe: %v)", key, err)
	}
}

// TestPlaceOrderBodyIsWhatTheDocumentSays: null lists and members spelled in another case
// are refused with 422 before any saga starts; they used to be accepted ("lines": null
// started a saga that ended FAILED without an order row).
func TestPlaceOrderBodyIsWhatTheDocumentSays(t *testing.T) {
	h := newHarness(t)
	cases := map[string]string{
		"lines null":           `{"customer_id":"c-1","payment_token":"tok_visa","lines":null}`,
		"Customer_Id":          `{"Customer_Id":"c-1","payment_token":"tok_visa","lines":[{"sku":"A","quantity":1}]}`,
		"line member SKU":      `{"customer_id":"c-1","payment_token":"tok_visa","lines":[{"SKU":"A","quantity":1}]}`,
		"lines of null":        `{"customer_id":"c-1","payment_token":"tok_visa","lines":[null]}`,
		"empty lines (was ok)": `{"customer_id":"c-1","payment_token":"tok_visa","lines":[]}`,
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			key := "contract-" + strings.ReplaceAll(name, " ", "-") + "-" + h.prefix
			r := h.placeOrder(key, body, nil)
			if r.status != http.StatusUnprocessableEntity {
				t.Fatalf("status %d, want 422: %s", r.status, r.body)
			}
			if got := r.problemType(t); got != "/problems/validation" {
				t.Errorf("type %q, want /problems/validation", got)
			}
			h.requireNoSaga(key)
		})
	}
}

// TestBodyMediaType: a body is JSON only when it says application/json (charset, if any,
// UTF-8). Missing, Latin-1 and merge-patch bodies used to be accepted.
func TestBodyMediaType(t *testing.T) {
	h := newHarness(t)
	body := orderBody(harnessSubject, `{"sku":"A","quantity":1}`)
	cases := []struct {
		contentType string
		want        int
	}{
		{"", http.StatusUnsupportedMediaType},
		{"application/json; charset=iso-8859-1", http.StatusUnsupportedMediaType},
		{"application/merge-patch+json", http.StatusUnsupportedMediaType},
		{"application/json; version=2", http.StatusUnsupportedMediaType},
		{"text/plain", http.StatusUnsupportedMediaType},
		{"application/json; charset=UTF-8", http.StatusAccepted},
		{"Application/JSON", http.StatusAccepted},
	}
	for i, tc := range cases {
		t.Run("Content-Type "+tc.contentType, func(t *testing.T) {
			key := "media-" + string(rune('a'+i)) + "-" + h.prefix
			req, err := http.NewRequest(http.MethodPost, h.url+"/orders", strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Idempotency-Key", key)
			req.Header.Set("Authorization", "Bearer "+h.defaultToken)
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusAccepted {
				h.terminateLater(h.orderID(key))
			}
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want != http.StatusAccepted {
				h.requireNoSaga(key)
			}
		})
	}
}

// TestHumaProblemsCarryTheirCode: the refusals Huma raises itself (decoding, validation,
// size) carry a type like every other problem; they used to have none.
func TestHumaProblemsCarryTheirCode(t *testing.T) {
	h := newHarness(t)
	cases := []struct {
		name, body string
		status     int
		typ        string
	}{
		{"malformed JSON", `{"customer_id":`, http.StatusBadRequest, "/problems/validation"},
		{"schema", `{"customer_id":"","payment_token":"tok_visa","lines":[{"sku":"A","quantity":1}]}`, http.StatusUnprocessableEntity, "/problems/validation"},
		{"too large", `{"customer_id":"` + strings.Repeat("x", 70<<10) + `"}`, http.StatusRequestEntityTooLarge, "/problems/body-too-large"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := h.placeOrder("huma-"+strings.ReplaceAll(tc.name, " ", "-")+"-"+h.prefix, tc.body, nil)
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			if got := r.problemType(t); got != tc.typ {
				t.Errorf("type %q, want %q", got, tc.typ)
			}
		})
	}
	r := h.do(http.MethodGet, "/orders?limit=0", nil, "")
	if r.status != http.StatusUnprocessableEntity || r.problemType(t) != "/problems/validation" {
		t.Errorf("limit=0: %d %s, want a 422 validation problem", r.status, r.body)
	}
}

// TestRepeatedQueryParameterIsRefused: ?status=CONFIRMED&status=FAILED used to list
// CONFIRMED orders only.
func TestRepeatedQueryParameterIsRefused(t *testing.T) {
	h := newHarness(t, withServices())
	r := h.do(http.MethodGet, "/orders?status=CONFIRMED&status=FAILED", nil, "")
	if r.status != http.StatusBadRequest {
		t.Fatalf("status %d, want 400: %s", r.status, r.body)
	}
	if got := r.problemType(t); got != "/problems/validation" {
		t.Errorf("type %q, want /problems/validation", got)
	}
	if r := h.do(http.MethodGet, "/orders?status=CONFIRMED", nil, ""); r.status != http.StatusOK {
		t.Errorf("one status: %d %s, want 200", r.status, r.body)
	}
}

// TestMethodsAndAllow: HEAD is answered wherever GET is, and a 405 lists the methods in
// Allow. HEAD used to be 405, and no 405 said what was allowed.
func TestMethodsAndAllow(t *testing.T) {
	h := newHarness(t, withServices())
	get := h.do(http.MethodGet, "/products", nil, "")
	head := h.do(http.MethodHead, "/products", nil, "")
	if head.status != http.StatusOK || get.status != http.StatusOK {
		t.Fatalf("HEAD %d, GET %d, want 200 for both", head.status, get.status)
	}
	if len(head.body) != 0 || head.header.Get("Content-Type") != get.header.Get("Content-Type") {
		t.Errorf("HEAD answered %q with Content-Type %q, want no body and GET's %q", head.body, head.header.Get("Content-Type"), get.header.Get("Content-Type"))
	}
	cases := []struct{ method, path, allow string }{
		{http.MethodDelete, "/orders", "GET, HEAD, POST"},
		{http.MethodPut, "/products", "GET, HEAD"},
		{http.MethodGet, "/orders/o-1/cancel", "POST"},
		{http.MethodOptions, "/orders/o-1", "GET, HEAD"},
	}
	for _, tc := range cases {
		r := h.do(tc.method, tc.path, nil, "")
		if r.status != http.StatusMethodNotAllowed {
			t.Errorf("%s %s: %d, want 405", tc.method, tc.path, r.status)
			continue
		}
		if got := r.header.Get("Allow"); got != tc.allow {
			t.Errorf("%s %s: Allow %q, want %q", tc.method, tc.path, got, tc.allow)
		}
		if got := r.problemType(t); got != "/problems/method-not-allowed" {
			t.Errorf("%s %s: type %q", tc.method, tc.path, got)
		}
	}
}

// TestPreferWaitIsCapped: a wait past what the server waits is capped however many digits
// it has; one past int64 used to be ignored (no wait at all) while wait=30 was capped.
func TestPreferWaitIsCapped(t *testing.T) {
	h := newHarness(t, withConfig(func(c *api.Config) { c.OrderWaitMax = time.Second }))
	for i, wait := range []string{"30", "9223372036854775807", "99999999999999999999999"} {
		r := h.placeOrder("wait-"+string(rune('a'+i))+"-"+h.prefix, orderBody(harnessSubject, `{"sku":"A","quantity":1}`),
			map[string]string{"Prefer": "wait=" + wait})
		if r.status != http.StatusAccepted {
			t.Fatalf("wait=%s: status %d: %s", wait, r.status, r.body)
		}
		if got := r.header.Get("Preference-Applied"); got != "wait=1" {
			t.Errorf("wait=%s: Preference-Applied %q, want wait=1", wait, got)
		}
	}
}

// TestBodyReadTimeoutIs408: a body that stops arriving is answered 408 with its problem,
// as every body operation declares.
func TestBodyReadTimeoutIs408(t *testing.T) {
	h := newHarness(t)
	apiURL := h.serve(api.Deps{Temporal: h.temporal, Redis: h.redis, Orders: h.orders, Inventory: h.inventory},
		func(ts *httptest.Server) { ts.Config.ReadTimeout = 300 * time.Millisecond })
	u, err := url.Parse(apiURL)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	partial := `{"customer_id":"c-1",`
	if _, err := fmt.Fprintf(conn, "POST /orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer %s\r\nIdempotency-Key: slow-%s\r\nContent-Length: 200\r\n\r\n%s",
		h.defaultToken, h.prefix, partial); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	raw, _ := io.ReadAll(resp.Body)
	r := response{status: resp.StatusCode, header: resp.Header, body: raw}
	if r.status != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408: %s", r.status, raw)
	}
	if got := r.problemType(t); got != "/problems/request-timeout" {
		t.Errorf("type %q, want /problems/request-timeout", got)
	}
}
