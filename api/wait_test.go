package api_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/requestid"
)

// TestPlaceOrderWaitsLongerThanTheBodyReadTimeout: a Prefer: wait longer than the body
// read timeout (5 s) is served to its end, and the connection stays usable. The body read
// deadline used to stay on the connection: when it passed, the server took the
// connection for dead and cancelled its context, so the waiting request failed with 503
// after 5 s, and so did every later request on the same keep-alive connection.
func TestPlaceOrderWaitsLongerThanTheBodyReadTimeout(t *testing.T) {
	if testing.Short() {
		t.Skip("waits 7 seconds")
	}
	h := newHarness(t, withConfig(func(c *api.Config) { c.OrderWaitMax = 10 * time.Second }))
	started := time.Now()
	// Nothing runs the saga, so the request waits the whole 7 s.
	r := h.placeOrder("long-wait-"+requestid.New(), orderBody("cust-1", sampleLine), map[string]string{"Prefer": "wait=7"})
	if elapsed := time.Since(started); r.status != http.StatusAccepted || elapsed < 6500*time.Millisecond {
		t.Fatalf("POST with Prefer: wait=7: %d after %s (%s), want 202 after about 7s", r.status, elapsed, r.body)
	}
	// The same keep-alive connection serves the next request.
	if r := h.placeOrder("after-wait-"+requestid.New(), orderBody("cust-1", sampleLine), nil); r.status != http.StatusAccepted {
		t.Fatalf("next POST on the connection: %d %s", r.status, r.body)
	}
}

// TestApproveChecksTheStatusWithoutAQuery: approve and reject are checked against the
// saga's OrderStatus search attribute, so they answer at once even when the saga cannot
// answer a query (here nothing runs it; with local steps, a workflow task may run every
// step up to the approval).
func TestApproveChecksTheStatusWithoutAQuery(t *testing.T) {
	h := newHarness(t)
	key := "not-held-" + requestid.New()
	if r := h.placeOrder(key, orderBody("cust-1", sampleLine), nil); r.status != http.StatusAccepted {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}
	id := h.orderID(key)
	for _, action := range []string{"approve", "reject"} {
		started := time.Now()
		r := h.do(http.MethodPost, "/orders/"+id+"/"+action, nil, `{"reason":"ops"}`)
		if r.status != http.StatusConflict || r.problemType(t) != "/problems/invalid-transition" || !strings.Contains(string(r.body), "PENDING") {
			t.Fatalf("%s a PENDING order: %d %s", action, r.status, r.body)
		}
		if elapsed := time.Since(started); elapsed > time.Second {
			t.Fatalf("%s answered after %s: it waited for a query", action, elapsed)
		}
	}
}
