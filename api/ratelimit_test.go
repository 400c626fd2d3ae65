package api_test

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"testing"

	"github.com/sagaflow/sagaflow/api"
	"github.com/sagaflow/sagaflow/internal/requestid"
	"github.com/sagaflow/sagaflow/tools/devauth"
)

// limited configures one request every 2 seconds with a burst of 2, trusting X-Forwarded-For
// so one test can send from several addresses.
func limited(c *api.Config) {
	c.RateLimitPerSecond = 0.5
	c.RateLimitBurst = 2
	c.RateLimitTrustForwardedFor = true
}

// rateClients are the requests of a rate limit test: client spends its burst of 2 with
// its two requests, which share one budget; other has a budget of its own.
type rateClients struct {
	client [2]map[string]string
	other  map[string]string
}

// bySubject: a subject's budget is the same from every address, and another subject has
// its own from the same address.
func bySubject(h *harness, subject, other string) rateClients {
	token, otherToken := h.as(subject, devauth.CustomerScopes...)["Authorization"], h.as(other, devauth.CustomerScopes...)["Authorization"]
	return rateClients{
		client: [2]map[string]string{
			{"Authorization": token, "X-Forwarded-For": "203.0.113.7"},
			{"Authorization": token, "X-Forwarded-For": "198.51.100.9"},
		},
		other: map[string]string{"Authorization": otherToken, "X-Forwarded-For": "203.0.113.7"},
	}
}

// byAddress: without authentication, the client is its address.
func byAddress() rateClients {
	client := map[string]string{"X-Forwarded-For": "203.0.113.7"}
	return rateClients{client: [2]map[string]string{client, client}, other: map[string]string{"X-Forwarded-For": "203.0.113.8"}}
}

func checkRateLimit(t *testing.T, h *harness, c rateClients) {
	t.Helper()
	// Decisions on an unknown order need only Temporal: 404 while within the limit.
	path := "/orders/" + h.orderID("rl-"+requestid.New()) + "/cancel"
	for i, client := range c.client {
		r := h.do(http.MethodPost, path, client, "")
		if r.status != http.StatusNotFound {
			t.Fatalf("request %d within the burst: %d %s", i+1, r.status, r.body)
		}
		if r.header.Get("RateLimit-Limit") != "2" || r.header.Get("RateLimit-Remaining") != strconv.Itoa(1-i) {
			t.Fatalf("request %d: RateLimit-Limit %q RateLimit-Remaining %q", i+1, r.header.Get("RateLimit-Limit"), r.header.Get("RateLimit-Remaining"))
		}
	}
	r := h.do(http.MethodPost, path, c.client[0], "")
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
	if r := h.do(http.MethodPost, path, c.other, ""); r.status != http.StatusNotFound {
		t.Fatalf("another client: %d %s", r.status, r.body)
	}
	// Health checks are never limited.
	if r := h.do(http.MethodGet, "/healthz", c.client[0], ""); r.status != http.StatusOK {
		t.Fatalf("/healthz while limited: %d", r.status)
	}
}

func TestRateLimitInRedis(t *testing.T) {
	cases := []struct {
		name     string
		opts     []harnessOption
		clients  func(h *harness) rateClients
		wantKeys []string // after redis_rate's "rate:" and the configured prefix
	}{
		{"per subject", []harnessOption{withConfig(limited)},
			func(h *harness) rateClients { return bySubject(h, "rl-a", "rl-b") },
			[]string{"ratelimit:sub:rl-a", "ratelimit:sub:rl-b"}},
		{"per address without authentication", []harnessOption{withConfig(limited), withInsecure()},
			func(*harness) rateClients { return byAddress() },
			[]string{"ratelimit:203.0.113.7", "ratelimit:203.0.113.8"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.opts...)
			checkRateLimit(t, h, tc.clients(h))
			// The state lives in Redis, under the configured prefix after redis_rate's own "rate:".
			keys, err := h.redis.Keys(t.Context(), "rate:"+h.prefix+"ratelimit:*").Result()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { h.redis.Del(context.Background(), keys...) })
			want := make([]string, 0, len(tc.wantKeys))
			for _, k := range tc.wantKeys {
				want = append(want, "rate:"+h.prefix+k)
			}
			slices.Sort(keys)
			if !slices.Equal(keys, want) {
				t.Fatalf("rate limit keys %v, want %v", keys, want)
			}
		})
	}
}

func TestRateLimitSharedAcrossInstances(t *testing.T) {
	a := newHarness(t, withConfig(limited))
	// A second API instance over the same Redis prefix, trusting the same issuer.
	b := newHarness(t, withConfig(func(c *api.Config) { limited(c); c.RedisKeyPrefix = a.prefix }), withAuth(a.auth))
	path := "/orders/" + a.orderID("rl-shared-"+requestid.New()) + "/cancel"
	client := a.as("rl-shared", devauth.CustomerScopes...)
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
	checkRateLimit(t, h, bySubject(h, "rl-a", "rl-b"))
}

func TestRateLimitDisabled(t *testing.T) {
	h := newHarness(t)
	path := "/orders/" + h.orderID("rl-off-"+requestid.New()) + "/cancel"
	for range 50 {
		if r := h.do(http.MethodPost, path, nil, ""); r.status != http.StatusNotFound {
			t.Fatalf("limit disabled: %d %s", r.status, r.body)
		}
	}
}
