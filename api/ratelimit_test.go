package api_test

import (
	"context"
	"net/http"
	"strconv"
	"testing"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/requestid"
)

// limited configures one request every 2 seconds with a burst of 2, trusting X-Forwarded-For
// so one test can act as several clients.
func limited(c *api.Config) {
	c.RateLimitPerSecond = 0.5
	c.RateLimitBurst = 2
	c.RateLimitTrustForwardedFor = true
}

func checkRateLimit(t *testing.T, h *harness) {
	t.Helper()
	// Decisions on an unknown order need only Temporal: 404 while within the limit.
	path := "/orders/" + api.OrderIDForKey("rl-"+requestid.New()) + "/cancel"
	client := map[string]string{"X-Forwarded-For": "203.0.113.7"}
	for i := range 2 {
		r := h.do(http.MethodPost, path, client, "")
		if r.status != http.StatusNotFound {
			t.Fatalf("request %d within the burst: %d %s", i+1, r.status, r.body)
		}
		if r.header.Get("RateLimit-Limit") != "2" || r.header.Get("RateLimit-Remaining") != strconv.Itoa(1-i) {
			t.Fatalf("request %d: RateLimit-Limit %q RateLimit-Remaining %q", i+1, r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"))
		}
	}
	r := h.do(http.MethodPost, path, client, "")
	if r.status != http.StatusTooManyRequests || r.problemType(t) != "/problems/rate-limited" {
		t.Fatalf("over the limit: %d %s", r.status, r.body)
	}
	if retry, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || retry < 1 || retry > 2 {
		t.Fatalf("Retry-After = %q", r.header.Get("Retry-After"))
	}
	if r.header.Get("RateLimit-Remaining") != "0" || r.header.Get("RateLimit-Reset") == "" {
		t.Fatalf("RateLimit headers on 429: %v", r.header)
	}
	// Another client has its own budget.
	if r := h.do(http.MethodPost, path, map[string]string{"X-Forwarded-For": "203.0.113.8"}, ""); r.status != http.StatusNotFound {
		t.Fatalf("another client: %d %s", r.status, r.body)
	}
	// Health checks are never limited.
	if r := h.do(http.MethodGet, "/healthz", client, ""); r.status != http.StatusOK {
		t.Fatalf("/healthz while limited: %d", r.status)
	}
}

func TestRateLimitInRedis(t *testing.T) {
	h := newHarness(t, withConfig(limited))
	checkRateLimit(t, h)
	// The state lives in Redis, under the configured prefix after redis_rate's own "rate:".
	keys, err := h.redis.Keys(t.Context(), "rate:"+h.prefix+"ratelimit:*").Result()
	if err != nil || len(keys) != 2 {
		t.Fatalf("rate limit keys %v (%v), want one per client", keys, err)
	}
	t.Cleanup(func() { h.redis.Del(context.Background(), keys...) })
}

func TestRateLimitSharedAcrossInstances(t *testing.T) {
	a := newHarness(t, withConfig(limited))
	// A second API instance over the same Redis prefix.
	b := newHarness(t, withConfig(func(c *api.Config) { limited(c); c.RedisKeyPrefix = a.prefix }))
	path := "/orders/" + api.OrderIDForKey("rl-shared-"+requestid.New()) + "/cancel"
	client := map[string]string{"X-Forwarded-For": "198.51.100.1"}
	statuses := []int{
		a.do(http.MethodPost, path, client, "").status,
		b.do(http.MethodPost, path, client, "").status,
		a.do(http.MethodPost, path, client, "").status,
	}
	if statuses[0] != http.StatusNotFound || statuses[1] != http.StatusNotFound || statuses[2] != http.StatusTooManyRequests {
		t.Fatalf("statuses across two instances = %v, want 404 404 429", statuses)
	}
}

func TestRateLimitWithRedisDownFallsBackInProcess(t *testing.T) {
	h := newHarness(t, withConfig(limited), withRedis(newDeadRedis(t)))
	checkRateLimit(t, h)
}

func TestRateLimitDisabled(t *testing.T) {
	h := newHarness(t)
	path := "/orders/" + api.OrderIDForKey("rl-off-"+requestid.New()) + "/cancel"
	for range 50 {
		if r := h.do(http.MethodPost, path, nil, ""); r.status != http.StatusNotFound {
			t.Fatalf("limit disabled: %d %s", r.status, r.body)
		}
	}
}
