// Package testenv gives tests real infrastructure: a fresh PostgreSQL database per test,
// a private Redis key space per test, and one Temporal dev server per test binary.
//
// Defaults target the local machine; TEST_DATABASE_URL, TEST_REDIS_URL and
// TEST_TEMPORAL_ADDRESS point tests at other servers.
package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the PostgreSQL driver registers itself for sqlx
	"github.com/redis/go-redis/v9"
	"go.temporal.io/sdk/client"

	"github.com/sagaflow/sagaflow/internal/devserver"
	"github.com/sagaflow/sagaflow/internal/postgres"
	"github.com/sagaflow/sagaflow/schema"
	"github.com/sagaflow/sagaflow/workflows"
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
	ctx := context.Background()
	admin, err := postgres.Open(ctx, AdminDatabaseURL(), 2)
	if err != nil {
		t.Fatalf("testenv: PostgreSQL is not reachable at %s: %v", AdminDatabaseURL(), err)
	}
	defer admin.Close()
	name := "sagaflow_test_" + Suffix()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	t.Cleanup(func() {
		admin, err := postgres.Open(context.Background(), AdminDatabaseURL(), 1)
		if err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
			return
		}
		defer admin.Close()
		if _, err := admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("testenv: drop database %s: %v", name, err)
		}
	})
	u, err := url.Parse(AdminDatabaseURL())
	if err != nil {
		t.Fatalf("testenv: parse %s: %v", AdminDatabaseURL(), err)
	}
	u.Path = "/" + name
	return u.String()
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
	t.Cleanup(func() { db.Close() })
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
		rdb.Close()
	})
	return rdb, prefix
}

var temporal struct {
	once   sync.Once
	server *devserver.Server
	addr   string
	err    error
}

// TemporalAddress returns the address of a Temporal server for this test binary: the
// one in TEST_TEMPORAL_ADDRESS, or a dev server started once and stopped by Main.
func TemporalAddress(t testing.TB) string {
	t.Helper()
	if v := os.Getenv("TEST_TEMPORAL_ADDRESS"); v != "" {
		return v
	}
	temporal.once.Do(func() {
		bin, err := devserver.FindBinary()
		if err != nil {
			temporal.err = err
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		temporal.server, temporal.err = devserver.Start(ctx, devserver.Config{
			Binary:           bin,
			SearchAttributes: workflows.SearchAttributeTypes(),
			DynamicConfig:    devserver.FastDispatch(),
		})
		if temporal.err == nil {
			temporal.addr = temporal.server.HostPort
		}
	})
	if temporal.err != nil {
		t.Fatalf("testenv: Temporal dev server: %v", temporal.err)
	}
	return temporal.addr
}

// TemporalClient dials the test Temporal server; the client closes when the test ends.
func TemporalClient(t testing.TB) client.Client {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: TemporalAddress(t), Logger: quietLogger{}})
	if err != nil {
		t.Fatalf("testenv: dial Temporal: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

// TaskQueue returns a task queue name private to this test.
func TaskQueue(t testing.TB, base string) string {
	return base + "-" + strings.ReplaceAll(t.Name(), "/", "_") + "-" + Suffix()
}

// Main runs the tests of a package and stops the dev server it may have started.
// Use it as `func TestMain(m *testing.M) { testenv.Main(m) }`.
func Main(m *testing.M) {
	code := m.Run()
	if temporal.server != nil {
		if err := temporal.server.Stop(); err != nil {
			fmt.Fprintln(os.Stderr, "testenv: stop Temporal:", err)
		}
	}
	os.Exit(code)
}

type quietLogger struct{}

func (quietLogger) Debug(string, ...interface{}) {}
func (quietLogger) Info(string, ...interface{})  {}
func (quietLogger) Warn(string, ...interface{})  {}
func (quietLogger) Error(string, ...interface{}) {}
