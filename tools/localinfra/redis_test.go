package localinfra

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

// startRedis starts a private redis-server for a test, stopped when the test ends, or
// skips the test when redis-server is not installed.
func startRedis(t *testing.T, opts RedisOptions) *Redis {
	t.Helper()
	r, err := StartRedis(context.Background(), t.TempDir(), opts)
	var missing *MissingToolError
	if errors.As(err, &missing) {
		t.Skipf("skipping: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Stop() })
	return r
}

func redisClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestRedisKillStartFlushStop drives a private redis-server through what the fault suite
// and `make run` do with it.
func TestRedisKillStartFlushStop(t *testing.T) {
	ctx := context.Background()
	r := startRedis(t, RedisOptions{})
	c := redisClient(t, r.URL)
	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	pid := r.PID()
	if pid <= 0 {
		t.Fatalf("PID %d while running", pid)
	}
	if err := r.Start(ctx); err == nil {
		t.Fatal("Start of a running server succeeded")
	}

	r.Kill()
	if got := r.PID(); got != 0 {
		t.Fatalf("PID %d after Kill, want 0", got)
	}
	if pingRedis(ctx, r.URL) == nil {
		t.Fatal("redis-server answers after Kill")
	}

	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if r.PID() == pid {
		t.Fatalf("same PID %d after a restart", pid)
	}
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("after a restart: key exists %d, %v; want an empty server", n, err)
	}

	if err := c.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Exists(ctx, "k").Result(); err != nil || n != 0 {
		t.Fatalf("after Flush: key exists %d, %v; want an empty server", n, err)
	}

	if err := r.Stop(); err != nil {
		t.Fatal(err)
	}
	if got := r.PID(); got != 0 {
		t.Fatalf("PID %d after Stop, want 0", got)
	}
	if pingRedis(ctx, r.URL) == nil {
		t.Fatal("redis-server answers after Stop")
	}
}

func TestEnsureRedis(t *testing.T) {
	ctx := context.Background()
	running := startRedis(t, RedisOptions{})
	ports, err := FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	silent := "redis://:secret@127.0.0.1:" + itoa(ports[0]) + "/0"
	tests := []struct {
		name        string
		url         string
		wantStarted bool
	}{
		{name: "uses the server that answers", url: running.URL},
		{name: "starts one when none answers", url: silent, wantStarted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log strings.Builder
			got, r, err := EnsureRedis(ctx, tt.url, t.TempDir(), RedisOptions{Port: ports[1]}, &log)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.wantStarted {
				if r != nil || got != tt.url || log.Len() != 0 {
					t.Fatalf("EnsureRedis(%s) = %s, started %v, said %q; want the same URL, nothing started or said", tt.url, got, r != nil, log.String())
				}
				return
			}
			if r == nil {
				t.Fatal("nothing started")
			}
			defer func() { _ = r.Stop() }()
			want := "redis://127.0.0.1:" + itoa(ports[1]) + "/0"
			if got != want || r.URL != want {
				t.Fatalf("EnsureRedis = %s (handle %s), want %s", got, r.URL, want)
			}
			if err := pingRedis(ctx, got); err != nil {
				t.Fatal(err)
			}
			said := log.String()
			if !strings.Contains(said, "Redis does not answer at") || strings.Contains(said, "secret") {
				t.Fatalf("said %q: want the notice, without the password", said)
			}
		})
	}
}
