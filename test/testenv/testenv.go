// Package testenv gives tests real infrastructure: a fresh PostgreSQL database per test and
// a private Redis key space per test, and the small helpers to clean up after them. It
// knows nothing of the saga, so a service's tests link only that service (Temporal for
// tests is in package testtemporal).
//
// Defaults target the local machine; TEST_DATABASE_URL and TEST_REDIS_URL point tests at
// other servers.
package testenv

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the PostgreSQL driver registers itself for sqlx
	"github.com/redis/go-redis/v9"

	"github.com/sagaflow/sagaflow/internal/postgres"
	"github.com/sagaflow/sagaflow/schema"
	"github.com/sagaflow/sagaflow/tools/localinfra"
)

// AdminDatabaseURL is the server-level DSN tests create their databases through.
func AdminDatabaseURL() string {
	if v := os.Getenv("TEST_DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// RedisURL is the Redis tests use.
func RedisURL() string {
	if v := os.Getenv("TEST_REDIS_URL"); v != "" {
		return v
	}
	return "redis://127.0.0.1:6379/0"
}

// Suffix returns a short random string for unique names.
func Suffix() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Database creates an empty database for this test, dropped when the test ends, and
// returns its DSN.
func Database(t testing.TB) string {
	t.Helper()
	name := "sagaflow_test_" + Suffix()
	dsn, err := localinfra.CreateDatabase(context.Background(), AdminDatabaseURL(), name)
	if err != nil {
		t.Fatalf("testenv: PostgreSQL at %s: %v", AdminDatabaseURL(), err)
	}
	t.Cleanup(func() {
		if err := localinfra.DropDatabase(context.Background(), AdminDatabaseURL(), name); err != nil {
			t.Logf("testenv: %v", err)
		}
	})
	return dsn
}

// ServiceDatabase creates a database for this test with one service's schema applied,
// and returns its DSN and an open pool (closed when the test ends).
func ServiceDatabase(t testing.TB, service string) (string, *sqlx.DB) {
	t.Helper()
	dsn := Database(t)
	ctx := context.Background()
	db, err := postgres.Open(ctx, dsn, 20)
	if err != nil {
		t.Fatalf("testenv: open %s: %v", dsn, err)
	}
	CloseOnCleanup(t, db)
	migrations, err := schema.For(service)
	if err != nil {
		t.Fatal(err)
	}
	if err := postgres.Migrate(ctx, db, migrations); err != nil {
		t.Fatalf("testenv: migrate %s: %v", service, err)
	}
	return dsn, db
}

// Redis returns a client and a key prefix private to this test; keys under the prefix
// are deleted when the test ends.
func Redis(t testing.TB) (*redis.Client, string) {
	t.Helper()
	opts, err := redis.ParseURL(RedisURL())
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", RedisURL(), err)
	}
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("testenv: Redis is not reachable at %s: %v", RedisURL(), err)
	}
	prefix := "sagaflow-test:" + Suffix() + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		Close(t, rdb)
	})
	return rdb, prefix
}

// Close closes c and logs a failure without failing the test: for what a test is done
// with (a connection, a client, a pool), whose close error cannot change the outcome.
func Close(t testing.TB, c io.Closer) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Logf("testenv: close %T: %v", c, err)
	}
}

// CloseOnCleanup closes c when the test ends, as Close does.
func CloseOnCleanup(t testing.TB, c io.Closer) {
	t.Helper()
	t.Cleanup(func() { Close(t, c) })
}

// Unsetenv removes an environment variable for the rest of the test and restores it when
// the test ends, as t.Setenv does for a value.
func Unsetenv(t testing.TB, key string) {
	t.Helper()
	t.Setenv(key, "") // registers the restore
	if err := os.Unsetenv(key); err != nil {
		t.Fatalf("testenv: unset %s: %v", key, err)
	}
}

// SetOnlyEnv sets each of vars to its value in env for this test, and unsets the ones env
// does not name (absent, not empty), so a configuration loader sees exactly env.
func SetOnlyEnv(t testing.TB, vars []string, env map[string]string) {
	t.Helper()
	for _, v := range vars {
		if value, ok := env[v]; ok {
			t.Setenv(v, value)
		} else {
			Unsetenv(t, v)
		}
	}
	for v := range env {
		if !slices.Contains(vars, v) {
			t.Fatalf("testenv: %s is set but not in the list of variables to restore", v)
		}
	}
}

// LogBuffer collects what a component logs from its own goroutines (servers, sweepers), so
// a test can read the log while they still write.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
