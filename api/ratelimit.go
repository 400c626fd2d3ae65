package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/danielgtaylor/huma/v2"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
	"golang.org/x/time/rate"

	"github.com/sagaflow/sagaflow/internal/auth"
	"github.com/sagaflow/sagaflow/internal/problem"
)

// redisCallTimeout bounds each Redis round trip on the request path: Redis is a fast
// path, never worth stalling a request for.
const redisCallTimeout = 300 * time.Millisecond

// redisBackoff is how long Redis is skipped after a failure, so a dead Redis costs one
// failed call per interval instead of one per request.
const redisBackoff = 2 * time.Second

// redisGate is a small circuit breaker in front of Redis. It logs each change of state
// once instead of once per request.
type redisGate struct {
	logger    *slog.Logger
	downUntil atomic.Int64
	down      atomic.Bool
}

func newRedisGate(logger *slog.Logger) *redisGate { return &redisGate{logger: logger} }

func (g *redisGate) available() bool {
	until := g.downUntil.Load()
	return until == 0 || time.Now().UnixNano() >= until
}

// failed opens the gate after an error that says Redis cannot answer.
func (g *redisGate) failed(err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	g.downUntil.Store(time.Now().Add(redisBackoff).UnixNano())
	if g.down.CompareAndSwap(false, true) {
		g.logger.Warn("redis unavailable: rate limits fall back to in-process limiters and idempotency to Temporal", "error", err)
	}
}

// ok closes the gate after a successful call.
func (g *redisGate) ok() {
	if g.down.CompareAndSwap(true, false) {
		g.downUntil.Store(0)
		g.logger.Info("redis available again")
	}
}

// limitDecision is the outcome of one rate-limit check.
type limitDecision struct {
	allowed    bool
	remaining  int64
	retryAfter time.Duration
	resetAfter time.Duration
}

// rateLimiter limits requests per client with the generic cell rate algorithm of
// redis_rate. Redis holds the shared state (and its clock decides) so the limit holds
// across API instances. When Redis is unavailable it fails open to an in-process limiter
// per client: the API stays up and every instance still bounds each client, at the cost
// of the limit multiplying by the number of instances while Redis is down.
type rateLimiter struct {
	redis *redis_rate.Limiter // nil without Redis
	gate  *redisGate
	// prefix starts each client's key; redis_rate puts its own "rate:" before it.
	prefix         string
	limit          redis_rate.Limit
	burst          int
	trustForwarded bool
	logger         *slog.Logger
	local          *localLimiters
}

func newRateLimiter(rdb redis.UniversalClient, gate *redisGate, cfg Config, logger *slog.Logger) *rateLimiter {
	if cfg.RateLimitPerSecond <= 0 {
		return nil
	}
	// redis_rate counts whole requests per period and the configured rate may be below one
	// a second, so the limit is one request per emission interval, in whole microseconds
	// like Redis's clock.
	interval := time.Duration(math.Ceil(float64(time.Second) / cfg.RateLimitPerSecond)).Truncate(time.Microsecond)
	if interval < time.Microsecond {
		interval = time.Microsecond
	}
	l := &rateLimiter{
		gate:           gate,
		prefix:         cfg.RedisKeyPrefix + "ratelimit:",
		limit:          redis_rate.Limit{Rate: 1, Period: interval, Burst: cfg.RateLimitBurst},
		burst:          cfg.RateLimitBurst,
		trustForwarded: cfg.RateLimitTrustForwardedFor,
		logger:         logger,
		local:          newLocalLimiters(rate.Limit(cfg.RateLimitPerSecond), cfg.RateLimitBurst),
	}
	if rdb != nil {
		l.redis = redis_rate.NewLimiter(rdb)
	}
	return l
}

func (l *rateLimiter) allow(ctx context.Context, client string) limitDecision {
	if l.redis != nil && l.gate.available() {
		d, err := l.allowRedis(ctx, client)
		if err == nil {
			l.gate.ok()
			return d
		}
		l.gate.failed(err)
	}
	return l.local.allow(client, time.Now())
}

func (l *rateLimiter) allowRedis(ctx context.Context, client string) (limitDecision, error) {
	ctx, cancel := context.WithTimeout(ctx, redisCallTimeout)
	defer cancel()
	res, err := l.redis.Allow(ctx, l.prefix+client, l.limit)
	if err != nil {
		return limitDecision{}, err
	}
	// redis_rate computes in float seconds: whole microseconds (the resolution of Redis's
	// clock) drop its rounding noise, and the remainder is counted from them because
	// redis_rate's own is truncated inside Redis and comes out one short at rates such as
	// 20/s. RetryAfter is -1 when the request is allowed.
	d := limitDecision{allowed: res.Allowed > 0, resetAfter: res.ResetAfter.Round(time.Microsecond)}
	if d.allowed {
		interval := l.limit.Period
		d.remaining = max(int64((time.Duration(l.burst)*interval-d.resetAfter)/interval), 0)
	} else {
		d.retryAfter = max(res.RetryAfter.Round(time.Microsecond), 0)
	}
	return d, nil
}

// clientID names the client a request counts against: the subject of its verified token
// (the guard runs first), so a customer has one budget from every address; without
// authentication, its IP address. A client-chosen header (such as X-Client-Id) is
// deliberately not used: a client could rotate it and escape the limit.
func (l *rateLimiter) clientID(ctx huma.Context) string {
	if p, ok := auth.From(ctx.Context()); ok && !p.Unauthenticated && p.Subject != "" {
		// The prefix keeps a subject from ever naming an address's budget.
		return subjectClientPrefix + p.Subject
	}
	if l.trustForwarded {
		if xff := ctx.Header("X-Forwarded-For"); xff != "" {
			parts := strings.Split(xff, ",")
			if ip := net.ParseIP(strings.TrimSpace(parts[len(parts)-1])); ip != nil {
				return ip.String()
			}
		}
	}
	host, _, err := net.SplitHostPort(ctx.RemoteAddr())
	if err != nil {
		host = ctx.RemoteAddr()
	}
	if ip := net.ParseIP(host); ip != nil {
		return ip.String()
	}
	return host
}

// subjectClientPrefix starts the budget of an authenticated subject; addresses have none.
const subjectClientPrefix = "sub:"

// middleware enforces the limit on every API operation (health and docs stay open).
func (l *rateLimiter) middleware(ctx huma.Context, next func(huma.Context)) {
	d := l.allow(ctx.Context(), l.clientID(ctx))
	ctx.SetHeader("RateLimit-Limit", strconv.Itoa(l.burst))
	ctx.SetHeader("RateLimit-Remaining", strconv.FormatInt(max(d.remaining, 0), 10))
	ctx.SetHeader("RateLimit-Reset", strconv.FormatInt(ceilSeconds(d.resetAfter), 10))
	if d.allowed {
		next(ctx)
		return
	}
	retry := max(ceilSeconds(d.retryAfter), 1)
	ctx.SetHeader("Retry-After", strconv.FormatInt(retry, 10))
	ctx.SetHeader("Content-Type", "application/problem+json")
	ctx.SetStatus(http.StatusTooManyRequests)
	p := problem.New(http.StatusTooManyRequests, problem.CodeRateLimited,
		fmt.Sprintf("too many requests; retry in %d s", retry))
	_ = json.NewEncoder(ctx.BodyWriter()).Encode(p)
}

func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64(math.Ceil(d.Seconds()))
}

// localLimiters holds one token bucket per client for the time Redis is unavailable.
// The map is bounded: idle clients are dropped when it grows past maxLocalClients.
type localLimiters struct {
	mu      sync.Mutex
	limit   rate.Limit
	burst   int
	clients map[string]*localClient
}

type localClient struct {
	limiter *rate.Limiter
	seen    time.Time
}

const (
	maxLocalClients = 10000
	localIdleAfter  = time.Minute
)

func newLocalLimiters(limit rate.Limit, burst int) *localLimiters {
	return &localLimiters{limit: limit, burst: burst, clients: map[string]*localClient{}}
}

func (l *localLimiters) allow(client string, now time.Time) limitDecision {
	l.mu.Lock()
	defer l.mu.Unlock()
	c, ok := l.clients[client]
	if !ok {
		if len(l.clients) >= maxLocalClients {
			l.sweep(now)
		}
		c = &localClient{limiter: rate.NewLimiter(l.limit, l.burst)}
		l.clients[client] = c
	}
	c.seen = now
	r := c.limiter.ReserveN(now, 1)
	perToken := time.Duration(float64(time.Second) / float64(l.limit))
	if delay := r.DelayFrom(now); delay > 0 {
		r.CancelAt(now)
		return limitDecision{retryAfter: delay, resetAfter: time.Duration(l.burst) * perToken}
	}
	tokens := c.limiter.TokensAt(now)
	missing := float64(l.burst) - tokens
	return limitDecision{
		allowed:    true,
		remaining:  int64(math.Floor(tokens)),
		resetAfter: time.Duration(missing * float64(perToken)),
	}
}

func (l *localLimiters) sweep(now time.Time) {
	for k, c := range l.clients {
		if now.Sub(c.seen) > localIdleAfter {
			delete(l.clients, k)
		}
	}
	if len(l.clients) >= maxLocalClients {
		// Every client is active: start over rather than grow without bound.
		clear(l.clients)
	}
}
