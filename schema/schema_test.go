package schema_test

import (
	"context"
	"io/fs"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"

	"github.com/sagaflow/sagaflow/schema"
	"github.com/sagaflow/sagaflow/test/testenv"
)

// migrationFiles returns the names and contents of a service's migration files.
func migrationFiles(t *testing.T, service string) (fs.FS, []string) {
	t.Helper()
	fsys, err := schema.For(service)
	if err != nil {
		t.Fatal(err)
	}
	names, err := fs.Glob(fsys, "*")
	if err != nil || len(names) == 0 {
		t.Fatalf("%s: migration files %v (%v)", service, names, err)
	}
	return fsys, names
}

// sections splits a goose file into its Up and Down statements (lines that are neither
// blank nor comments).
func sections(raw string) (up, down []string, hasUp, hasDown bool) {
	var cur *[]string
	for line := range strings.Lines(raw) {
		line = strings.TrimSpace(line)
		switch {
		case line == "-- +goose Up":
			cur, hasUp = &up, true
		case line == "-- +goose Down":
			cur, hasDown = &down, true
		case line == "" || strings.HasPrefix(line, "--"):
		case cur != nil:
			*cur = append(*cur, line)
		}
	}
	return up, down, hasUp, hasDown
}

// TestMigrationFilesAreGooseMigrations checks every file present, including ones added
// later: goose ignores a file without a version prefix, which would silently never run.
func TestMigrationFilesAreGooseMigrations(t *testing.T) {
	for _, service := range schema.Services() {
		fsys, names := migrationFiles(t, service)
		for _, name := range names {
			if _, err := goose.NumericComponent(name); err != nil {
				t.Errorf("%s/%s: not a versioned goose migration (NNN_name.sql): %v", service, name, err)
			}
			raw, err := fs.ReadFile(fsys, name)
			if err != nil {
				t.Fatal(err)
			}
			up, down, hasUp, hasDown := sections(string(raw))
			if !hasUp || len(up) == 0 {
				t.Errorf("%s/%s: no statements under -- +goose Up", service, name)
			}
			if !hasDown || len(down) == 0 {
				t.Errorf("%s/%s: no statements under -- +goose Down: every migration can be rolled back", service, name)
			}
		}
	}
	if _, err := schema.For("billing"); err == nil {
		t.Error("schema.For accepted a service without a database")
	}
}

// shape describes a database's schema: its tables' columns and its indexes, goose's own
// table left out.
func shape(t *testing.T, db *sqlx.DB) []string {
	t.Helper()
	var out []string
	err := db.SelectContext(t.Context(), &out, `
		SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '')
		FROM information_schema.columns
		WHERE table_schema = 'public' AND table_name <> 'goose_db_version'
		UNION ALL
		SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> 'goose_db_version'
		UNION ALL
		SELECT conrelid::regclass::text || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
		WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> 'goose_db_version'
		ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// openAtOnce opens and migrates a service's database from n replicas at the same moment.
func openAtOnce(t *testing.T, service, dsn string, n int) {
	t.Helper()
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			db, err := schema.Open(context.Background(), service, dsn, 2, true)
			if err == nil {
				err = db.Close()
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: %v", i, err)
		}
	}
}

// TestMigrationsUpDownUp applies each service's migrations from two replicas at once,
// rolls every one back, and applies them again: the schema comes back the same.
func TestMigrationsUpDownUp(t *testing.T) {
	for _, service := range schema.Services() {
		t.Run(service, func(t *testing.T) {
			dsn := testenv.Database(t)
			openAtOnce(t, service, dsn, 2)
			db, err := schema.Open(t.Context(), service, dsn, 2, false)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close() //nolint:errcheck // the test has its verdict by then
			want := shape(t, db)
			if len(want) == 0 {
				t.Fatal("no schema after migrating")
			}
			m, err := schema.NewMigrator(db, service)
			if err != nil {
				t.Fatal(err)
			}
			_, names := migrationFiles(t, service)
			for i := len(names) - 1; i >= 0; i-- {
				if got, err := m.Down(t.Context()); err != nil || got != names[i] {
					t.Fatalf("down: %q, %v; want %q", got, err, names[i])
				}
			}
			if got := shape(t, db); len(got) != 0 {
				t.Fatalf("left after rolling everything back: %v", got)
			}
			if applied, err := m.Up(t.Context()); err != nil || !reflect.DeepEqual(applied, names) {
				t.Fatalf("up again: %v, %v; want %v", applied, err, names)
			}
			if got := shape(t, db); !reflect.DeepEqual(got, want) {
				t.Fatalf("schema after down and up differs:\n got %v\nwant %v", got, want)
			}
			// Opening an up-to-date database applies nothing.
			openAtOnce(t, service, dsn, 1)
			if applied, err := m.Up(t.Context()); err != nil || len(applied) != 0 {
				t.Fatalf("up on an up-to-date database: %v, %v", applied, err)
			}
		})
	}
}

// TestOpenAdoptsLegacyRunnerDatabase starts each service on a database the previous
// runner migrated: it recorded 001_init.sql in schema_migrations after running the file
// (today's Up section). The data stays and later files still apply.
func TestOpenAdoptsLegacyRunnerDatabase(t *testing.T) {
	for _, service := range schema.Services() {
		t.Run(service, func(t *testing.T) {
			dsn := testenv.Database(t)
			fsys, names := migrationFiles(t, service)
			if names[0] != "001_init.sql" {
				t.Fatalf("first migration %s, want 001_init.sql", names[0])
			}
			raw, err := fs.ReadFile(fsys, names[0])
			if err != nil {
				t.Fatal(err)
			}
			upSection, _, _ := strings.Cut(string(raw), "-- +goose Down")
			db, err := schema.Open(t.Context(), service, dsn, 2, false)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close() //nolint:errcheck // the test has its verdict by then
			for _, stmt := range []string{
				`CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
				upSection,
				`INSERT INTO schema_migrations (name) VALUES ('001_init.sql')`,
				`INSERT INTO idempotency_keys (key, operation, fingerprint, status, body) VALUES ('k', 'op', 'f', 200, '{}')`,
			} {
				if _, err := db.ExecContext(t.Context(), stmt); err != nil {
					t.Fatalf("legacy runner: %v", err)
				}
			}

			openAtOnce(t, service, dsn, 2)
			var keys int
			if err := db.GetContext(t.Context(), &keys, `SELECT count(*) FROM idempotency_keys`); err != nil || keys != 1 {
				t.Fatalf("idempotency_keys rows %d (%v), want the 1 written before", keys, err)
			}
			m, err := schema.NewMigrator(db, service)
			if err != nil {
				t.Fatal(err)
			}
			st, err := m.Status(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range st {
				if s.State != goose.StateApplied {
					t.Errorf("%s is %s after adoption", s.Source.Path, s.State)
				}
			}
		})
	}
}
