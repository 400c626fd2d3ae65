package localinfra

import (
	"context"
	"errors"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/postgres"
)

func itoa(n int) string { return strconv.Itoa(n) }

// postgresDir returns a folder for a private cluster, removed when the test ends. Not
// t.TempDir(): as root the cluster runs as the postgres user, who cannot reach into it.
func postgresDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "localinfra-test-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// startPostgres starts a private cluster in dir, crashed when the test ends, or skips the
// test when the PostgreSQL server programs are not installed.
func startPostgres(t *testing.T, dir string, opts PostgresOptions) *Postgres {
	t.Helper()
	p, err := StartPostgres(context.Background(), dir, opts)
	var missing *MissingToolError
	if errors.As(err, &missing) {
		t.Skipf("skipping: the PostgreSQL server programs are not installed: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Crash(context.Background()) })
	return p
}

func openDB(t *testing.T, dsn string) *sqlx.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), dsn, 1)
	if err != nil {
		t.Fatalf("open %s: %v", dsn, err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestPostgresCrashStartStopReuse drives a private cluster through what the fault suite
// (crash, start) and `make run` (stop, start again on the same folder next time) do.
func TestPostgresCrashStartStopReuse(t *testing.T) {
	ctx := context.Background()
	dir := postgresDir(t)
	p := startPostgres(t, dir, PostgresOptions{NoSync: true, Settings: map[string]string{"max_connections": "37"}})
	if !strings.HasPrefix(p.URL, "postgres://postgres@127.0.0.1:"+itoa(p.Port())+"/postgres") {
		t.Fatalf("URL %s does not name port %d", p.URL, p.Port())
	}
	db := openDB(t, p.URL)
	for setting, want := range map[string]string{"max_connections": "37", "fsync": "off", "listen_addresses": "127.0.0.1"} {
		var got string
		if err := db.Get(&got, "SHOW "+setting); err != nil || got != want {
			t.Fatalf("SHOW %s = %q, %v; want %q", setting, got, err, want)
		}
	}
	if _, err := db.Exec(`CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)`); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()

	if err := p.Crash(ctx); err != nil {
		t.Fatal(err)
	}
	if db, err := postgres.Open(ctx, p.URL, 1); err == nil {
		_ = db.Close()
		t.Fatal("the cluster answers after Crash")
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	checkKept(t, p.URL, "after a crash and a start")
	if err := p.Stop(); err != nil {
		t.Fatal(err)
	}

	// A second StartPostgres on the same folder takes the cluster as it is (no initdb).
	again := startPostgres(t, dir, PostgresOptions{Port: p.Port()})
	checkKept(t, again.URL, "after a stop and a second StartPostgres")
	if err := again.Stop(); err != nil {
		t.Fatal(err)
	}
}

func checkKept(t *testing.T, dsn, when string) {
	t.Helper()
	db := openDB(t, dsn)
	var v int
	if err := db.Get(&v, `SELECT v FROM kept`); err != nil || v != 42 {
		t.Fatalf("%s: committed row %d, %v; want 42", when, v, err)
	}
	_ = db.Close()
}

func TestEnsurePostgres(t *testing.T) {
	ctx := context.Background()
	running := startPostgres(t, postgresDir(t), PostgresOptions{NoSync: true})
	ports, err := FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	silent := "postgres://postgres:secret@127.0.0.1:" + itoa(ports[0]) + "/postgres?sslmode=disable"
	tests := []struct {
		name        string
		url         string
		wantStarted bool
	}{
		{name: "uses the server that answers", url: running.URL},
		{name: "starts a cluster when none answers", url: silent, wantStarted: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log strings.Builder
			got, p, err := EnsurePostgres(ctx, tt.url, postgresDir(t), PostgresOptions{Port: ports[1], NoSync: true}, &log)
			if err != nil {
				t.Fatal(err)
			}
			if !tt.wantStarted {
				if p != nil || got != tt.url || log.Len() != 0 {
					t.Fatalf("EnsurePostgres(%s) = %s, started %v, said %q; want the same URL, nothing started or said", tt.url, got, p != nil, log.String())
				}
				return
			}
			if p == nil {
				t.Fatal("nothing started")
			}
			defer func() { _ = p.Stop() }()
			if got != p.URL || p.Port() != ports[1] {
				t.Fatalf("EnsurePostgres = %s (handle %s, port %d), want the handle's URL on port %d", got, p.URL, p.Port(), ports[1])
			}
			_ = openDB(t, got).Close()
			said := log.String()
			if !strings.Contains(said, "PostgreSQL does not answer at") || strings.Contains(said, "secret") {
				t.Fatalf("said %q: want the notice, without the password", said)
			}
		})
	}
}

func TestFindPostgresTool(t *testing.T) {
	if _, err := FindPostgresTool("initdb"); err != nil {
		t.Skipf("skipping: %v", err)
	}
	for _, tt := range []struct {
		tool        string
		wantMissing bool
	}{
		{tool: "initdb"},
		{tool: "pg_ctl"},
		{tool: "no-such-postgres-tool", wantMissing: true},
	} {
		path, err := FindPostgresTool(tt.tool)
		var missing *MissingToolError
		if tt.wantMissing {
			if !errors.As(err, &missing) || missing.Tool != tt.tool {
				t.Errorf("FindPostgresTool(%s) = %q, %v; want a MissingToolError", tt.tool, path, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("FindPostgresTool(%s): %v", tt.tool, err)
		} else if _, err := os.Stat(path); err != nil {
			t.Errorf("FindPostgresTool(%s) = %s: %v", tt.tool, path, err)
		}
	}
}

func TestPgVersionOrdersDebianFolders(t *testing.T) {
	for _, tt := range []struct {
		older, newer string
	}{
		{"/usr/lib/postgresql/9.6/bin/initdb", "/usr/lib/postgresql/15/bin/initdb"},
		{"/usr/lib/postgresql/15/bin/initdb", "/usr/lib/postgresql/17/bin/initdb"},
	} {
		if pgVersion(tt.older) >= pgVersion(tt.newer) {
			t.Errorf("%s sorts at or after %s", tt.older, tt.newer)
		}
	}
}

func TestServerOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		dir  string
		opts PostgresOptions
		want string
	}{
		{
			name: "defaults", dir: "/work/.run",
			want: "-p 5 -k '/work/.run' -c listen_addresses=127.0.0.1",
		},
		{
			name: "no sync and settings in name order", dir: "/tmp/x",
			opts: PostgresOptions{NoSync: true, Settings: map[string]string{"work_mem": "8MB", "max_connections": "200"}},
			want: "-p 5 -k '/tmp/x' -c listen_addresses=127.0.0.1 -c fsync=off -c 'max_connections=200' -c 'work_mem=8MB'",
		},
		{
			name: "a folder the shell must not split", dir: "/tmp/it's here",
			want: `-p 5 -k '/tmp/it'\''s here' -c listen_addresses=127.0.0.1`,
		},
	} {
		if got := serverOptions(5, tt.dir, tt.opts); got != tt.want {
			t.Errorf("%s: serverOptions = %s, want %s", tt.name, got, tt.want)
		}
	}
}
