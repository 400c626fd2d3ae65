package api

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/test/testenv"
)

// TestRateLimiterDecisions checks the decisions behind the headers, in Redis and in the
// in-process fallback alike: a client's burst passes with a falling remainder, the next
// request is refused until one emission interval passes, and other clients are unaffected.
func TestRateLimiterDecisions(t *testing.T) {
	rdb, prefix := testenv.Redis(t)
	dead := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = dead.Close() })
	cases := []struct {
		name      string
		rdb       redis.UniversalClient
		perSecond float64
		burst     int
	}{
		{"redis, below one a second", rdb, 0.5, 2},
		{"redis, many a second", rdb, 20, 5},
		{"redis down, below one a second", dead, 0.5, 2},
		{"redis down, many a second", dead, 20, 5},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.RedisKeyPrefix = prefix + string(rune('a'+i)) + ":"
			cfg.RateLimitPerSecond, cfg.RateLimitBurst = tc.perSecond, tc.burst
			l := newRateLimiter(tc.rdb, newRedisGate(logging.Discard()), cfg, logging.Discard())
			t.Cleanup(func() { rdb.Del(context.Background(), "rate:"+l.prefix+"c1", "rate:"+l.prefix+"c2") })
			interval := time.Duration(float64(time.Second) / tc.perSecond)
			for n := range tc.burst {
				d := l.allow(t.Context(), "c1")
				if !d.allowed || d.remaining != int64(tc.burst-1-n) || d.retryAfter != 0 {
					t.Fatalf("request %d of the burst: %+v, want allowed with %d remaining", n+1, d, tc.burst-1-n)
				}
				if d.resetAfter <= 0 || d.resetAfter > time.Duration(n+1)*interval {
					t.Fatalf("request %d: reset after %v, want within %v", n+1, d.resetAfter, time.Duration(n+1)*interval)
				}
			}
			d := l.allow(t.Context(), "c1")
			if d.allowed || d.remaining != 0 {
				t.Fatalf("request over the burst: %+v, want refused", d)
			}
			if d.retryAfter <= interval/2 || d.retryAfter > interval {
				t.Fatalf("retry after %v, want about one interval (%v)", d.retryAfter, interval)
			}
			if d.resetAfter <= time.Duration(tc.burst-1)*interval || d.resetAfter > time.Duration(tc.burst)*interval {
				t.Fatalf("reset after %v on refusal, want about %v", d.resetAfter, time.Duration(tc.burst)*interval)
			}
			if d := l.allow(t.Context(), "c2"); !d.allowed || d.remaining != int64(tc.burst-1) {
				t.Fatalf("another client: %+v, want its own full burst", d)
			}
			if usedRedis := l.gate.available(); usedRedis != (tc.rdb == rdb) {
				t.Fatalf("Redis gate open %v, want %v", usedRedis, tc.rdb == rdb)
			}
		})
	}
}
