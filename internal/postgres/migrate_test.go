package postgres_test

import (
	"context"
	"io/fs"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/postgres"
	"github.com/sagaflow/sagaflow/test/testenv"
)

// migrations are two small goose migrations. The second inserts a row under a primary key,
// so running it twice fails.
func migrations() fstest.MapFS { return slowMigrations("0") }

// slowMigrations are migrations whose first one takes the given seconds: longer than the
// lock's one-second poll, so unserialised migrators would overlap.
func slowMigrations(seconds string) fstest.MapFS {
	return fstest.MapFS{
		"001_widgets.sql": {Data: []byte(`-- widgets table
-- +goose Up
CREATE TABLE widgets (id integer PRIMARY KEY);
SELECT pg_sleep(` + seconds + `);

-- +goose Down
DROP TABLE widgets;
`)},
		"002_first_widget.sql": {Data: []byte(`-- +goose Up
INSERT INTO widgets (id) VALUES (1);

-- +goose Down
DELETE FROM widgets WHERE id = 1;
`)},
		"README.md": {Data: []byte("not a migration")},
	}
}

func openDB(t *testing.T, dsn string) *sqlx.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), dsn, 4)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func newMigrator(t *testing.T, db *sqlx.DB, fsys fs.FS) *postgres.Migrator {
	t.Helper()
	m, err := postgres.NewMigrator(db, fsys)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// widgets returns the rows of the widgets table, or -1 when the table does not exist.
func widgets(t *testing.T, db *sqlx.DB) int {
	t.Helper()
	var exists bool
	if err := db.GetContext(t.Context(), &exists, `SELECT to_regclass('widgets') IS NOT NULL`); err != nil {
		t.Fatal(err)
	}
	if !exists {
		return -1
	}
	var n int
	if err := db.GetContext(t.Context(), &n, `SELECT count(*) FROM widgets`); err != nil {
		t.Fatal(err)
	}
	return n
}

// gooseVersions returns the versions goose records as applied, in the order recorded.
func gooseVersions(t *testing.T, db *sqlx.DB) []int64 {
	t.Helper()
	var v []int64
	if err := db.SelectContext(t.Context(), &v, `SELECT version_id FROM goose_db_version WHERE is_applied ORDER BY id`); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMigratorUpDownAndRerun(t *testing.T) {
	db := openDB(t, testenv.Database(t))
	m := newMigrator(t, db, migrations())
	ctx := t.Context()
	up := func() []string {
		names, err := m.Up(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	down := func() []string {
		name, err := m.Down(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if name == "" {
			return nil
		}
		return []string{name}
	}
	steps := []struct {
		name        string
		run         func() []string
		wantRan     []string
		wantWidgets int // -1: no table
		wantApplied []bool
	}{
		{"up applies both", up, []string{"001_widgets.sql", "002_first_widget.sql"}, 1, []bool{true, true}},
		{"up again does nothing", up, []string{}, 1, []bool{true, true}},
		{"down rolls back the last", down, []string{"002_first_widget.sql"}, 0, []bool{true, false}},
		{"down rolls back the first", down, []string{"001_widgets.sql"}, -1, []bool{false, false}},
		{"down with nothing applied", down, nil, -1, []bool{false, false}},
		{"up after down applies both again", up, []string{"001_widgets.sql", "002_first_widget.sql"}, 1, []bool{true, true}},
	}
	for _, s := range steps {
		if got := s.run(); !reflect.DeepEqual(got, s.wantRan) {
			t.Fatalf("%s: ran %q, want %q", s.name, got, s.wantRan)
		}
		if got := widgets(t, db); got != s.wantWidgets {
			t.Fatalf("%s: widgets %d, want %d", s.name, got, s.wantWidgets)
		}
		st, err := m.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var applied []bool
		for _, s := range st {
			applied = append(applied, s.State == "applied")
		}
		if !reflect.DeepEqual(applied, s.wantApplied) {
			t.Fatalf("%s: applied %v, want %v", s.name, applied, s.wantApplied)
		}
	}
	// The function services call is the same Up, and idempotent.
	for range 2 {
		if err := postgres.Migrate(ctx, db, migrations()); err != nil {
			t.Fatal(err)
		}
	}
	if got := gooseVersions(t, db); !reflect.DeepEqual(got, []int64{0, 1, 2}) {
		t.Fatalf("goose records %v, want [0 1 2]", got)
	}
}

// migrateAtOnce runs n migrators, each with its own pool, at the same moment and returns
// their errors.
func migrateAtOnce(t *testing.T, dsn string, n int, fsys fs.FS) []error {
	t.Helper()
	dbs := make([]*sqlx.DB, n)
	for i := range dbs {
		dbs[i] = openDB(t, dsn)
	}
	errs := make([]error, n)
	var start, done sync.WaitGroup
	start.Add(1)
	for i, db := range dbs {
		done.Go(func() {
			start.Wait()
			errs[i] = postgres.Migrate(context.Background(), db, fsys)
		})
	}
	start.Done()
	done.Wait()
	return errs
}

func TestMigrateConcurrently(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, db *sqlx.DB)
	}{
		// The replicas race to create goose's table first.
		{name: "new database"},
		// Goose's table is there, so the replicas race on the migrations themselves.
		{name: "goose table already created", prepare: func(t *testing.T, db *sqlx.DB) {
			if _, err := newMigrator(t, db, migrations()).Status(t.Context()); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dsn := testenv.Database(t)
			db := openDB(t, dsn)
			if tc.prepare != nil {
				tc.prepare(t, db)
			}
			for i, err := range migrateAtOnce(t, dsn, 3, slowMigrations("1.5")) {
				if err != nil {
					t.Fatalf("migrator %d: %v", i, err)
				}
			}
			if got := gooseVersions(t, db); !reflect.DeepEqual(got, []int64{0, 1, 2}) {
				t.Fatalf("goose records %v, want each version once: [0 1 2]", got)
			}
			if got := widgets(t, db); got != 1 {
				t.Fatalf("widgets %d, want 1 (each migration ran once)", got)
			}
		})
	}
}

// migrateLikeLegacyRunner leaves db as the previous runner did after applying files: their
// SQL (the Up section, which is the file it ran) and their names in schema_migrations.
func migrateLikeLegacyRunner(t *testing.T, db *sqlx.DB, fsys fs.FS, applied, recorded []string) {
	t.Helper()
	ctx := t.Context()
	if _, err := db.ExecContext(ctx, `CREATE TABLE schema_migrations (
		name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		t.Fatal(err)
	}
	for _, name := range applied {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			t.Fatal(err)
		}
		upSection, _, _ := strings.Cut(string(raw), "-- +goose Down")
		if _, err := db.ExecContext(ctx, upSection); err != nil {
			t.Fatalf("legacy apply %s: %v", name, err)
		}
	}
	for _, name := range recorded {
		if _, err := db.ExecContext(ctx, `INSERT INTO schema_migrations (name) VALUES ($1)`, name); err != nil {
			t.Fatal(err)
		}
	}
}

func TestMigrateAdoptsLegacyRunnerDatabase(t *testing.T) {
	both := []string{"001_widgets.sql", "002_first_widget.sql"}
	cases := []struct {
		name      string
		legacy    []string // files the previous runner applied and recorded
		extra     []string // names recorded without a file in this build
		migrators int
		wantErr   string
	}{
		{name: "every file recorded", legacy: both, migrators: 1},
		{name: "first file recorded, second pending", legacy: both[:1], migrators: 1},
		{name: "runner table but nothing recorded", migrators: 1},
		{name: "replicas adopting at once", legacy: both, migrators: 3},
		{name: "file unknown to this build", legacy: both, extra: []string{"003_gone.sql"}, migrators: 1, wantErr: "003_gone.sql"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dsn := testenv.Database(t)
			db := openDB(t, dsn)
			fsys := migrations()
			migrateLikeLegacyRunner(t, db, fsys, tc.legacy, slices.Concat(tc.legacy, tc.extra))

			errs := migrateAtOnce(t, dsn, tc.migrators, fsys)
			if tc.wantErr != "" {
				for i, err := range errs {
					if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
						t.Fatalf("migrator %d: error %v, want one naming %s", i, err, tc.wantErr)
					}
				}
				var adopted bool
				if err := db.GetContext(t.Context(), &adopted, `SELECT to_regclass('goose_db_version') IS NOT NULL`); err != nil || adopted {
					t.Fatalf("goose table created after a refused adoption (%v)", err)
				}
				return
			}
			for i, err := range errs {
				if err != nil {
					t.Fatalf("migrator %d: %v", i, err)
				}
			}
			if got := gooseVersions(t, db); !reflect.DeepEqual(got, []int64{0, 1, 2}) {
				t.Fatalf("goose records %v, want [0 1 2]", got)
			}
			if got := widgets(t, db); got != 1 {
				t.Fatalf("widgets %d, want 1 (no file ran twice)", got)
			}
			// Adopted migrations roll back like any other.
			m := newMigrator(t, db, fsys)
			for _, want := range []string{"002_first_widget.sql", "001_widgets.sql"} {
				if got, err := m.Down(t.Context()); err != nil || got != want {
					t.Fatalf("down: %q, %v; want %q", got, err, want)
				}
			}
			if got := widgets(t, db); got != -1 {
				t.Fatalf("widgets table still there after rolling everything back (%d rows)", got)
			}
		})
	}
}

func TestNewMigratorRejectsEmptyFolder(t *testing.T) {
	db := openDB(t, testenv.Database(t))
	cases := map[string]fs.FS{
		"no files":          fstest.MapFS{},
		"no versioned file": fstest.MapFS{"init.sql": {Data: []byte("-- +goose Up\nSELECT 1;\n")}},
	}
	for name, fsys := range cases {
		if _, err := postgres.NewMigrator(db, fsys); err == nil {
			t.Errorf("%s: NewMigrator accepted a folder without migrations", name)
		}
	}
	bad := fstest.MapFS{"001_bad.sql": {Data: []byte("CREATE TABLE x (id int);\n")}}
	if err := postgres.Migrate(t.Context(), db, bad); err == nil || !strings.Contains(err.Error(), "001_bad.sql") {
		t.Fatalf("a file without a goose Up section: %v", err)
	}
}
