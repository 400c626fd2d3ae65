package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"

	"github.com/jmoiron/sqlx"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

// migrationLockID is the advisory lock that serialises the migrators of one database. It is
// the key the previous runner took, so during a rolling upgrade an old replica and a new one
// never migrate at once.
const migrationLockID = 7_415_962_001

// legacyTable is where the previous migration runner recorded, by file name, the files it
// had applied.
const legacyTable = "schema_migrations"

// Migrator applies one database's goose migrations (NNN_name.sql files with
// "-- +goose Up" and "-- +goose Down" sections). Every operation holds a PostgreSQL
// advisory lock, so replicas starting at once migrate one after the other.
type Migrator struct {
	db       *sql.DB
	locker   lock.SessionLocker
	store    database.Store
	provider *goose.Provider
}

// NewMigrator returns a Migrator of db over the migration files at the root of migrations.
func NewMigrator(db *sqlx.DB, migrations fs.FS) (*Migrator, error) {
	// The lock is polled every second for up to five minutes: long enough for another
	// replica's migrations, short enough that a stuck one is reported.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	store, err := database.NewStore(goose.DialectPostgres, goose.DefaultTablename)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	provider, err := goose.NewProvider(goose.DialectPostgres, db.DB, migrations,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return &Migrator{db: db.DB, locker: locker, store: store, provider: provider}, nil
}

// Migrate applies every pending migration in migrations to db.
func Migrate(ctx context.Context, db *sqlx.DB, migrations fs.FS) error {
	m, err := NewMigrator(db, migrations)
	if err != nil {
		return err
	}
	_, err = m.Up(ctx)
	return err
}

// Up applies every pending migration and returns the file names it applied, in order.
func (m *Migrator) Up(ctx context.Context) ([]string, error) {
	if err := m.adoptLegacy(ctx); err != nil {
		return nil, err
	}
	results, err := m.provider.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	names := make([]string, 0, len(results))
	for _, r := range results {
		names = append(names, path.Base(r.Source.Path))
	}
	return names, nil
}

// Down rolls back the most recently applied migration and returns its file name, or ""
// when none is applied.
func (m *Migrator) Down(ctx context.Context) (string, error) {
	if err := m.adoptLegacy(ctx); err != nil {
		return "", err
	}
	r, err := m.provider.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("migrate down: %w", err)
	}
	return path.Base(r.Source.Path), nil
}

// Status lists every migration file, in version order, with whether it is applied.
func (m *Migrator) Status(ctx context.Context) ([]*goose.MigrationStatus, error) {
	if err := m.adoptLegacy(ctx); err != nil {
		return nil, err
	}
	st, err := m.provider.Status(ctx)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	return st, nil
}

// adoptLegacy hands a database migrated by the previous runner over to goose: when goose
// has no version table yet and the runner's table exists, the files the runner recorded are
// marked applied in a new goose table (they are the same files, now with Down sections),
// instead of being run again over the existing schema. The runner's table stays, so an older
// release still starts on this database.
func (m *Migrator) adoptLegacy(ctx context.Context) (err error) {
	conn, err := m.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if err := m.locker.SessionLock(ctx, conn); err != nil {
		return errors.Join(fmt.Errorf("migrate: lock: %w", err), conn.Close())
	}
	defer func() {
		if uerr := m.locker.SessionUnlock(context.WithoutCancel(ctx), conn); uerr != nil {
			err = errors.Join(err, fmt.Errorf("migrate: unlock: %w", uerr))
		}
		err = errors.Join(err, conn.Close())
	}()

	var legacy, adopted bool
	if err := conn.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL`,
		legacyTable, m.store.Tablename()).Scan(&legacy, &adopted); err != nil {
		return fmt.Errorf("migrate: look for %s: %w", legacyTable, err)
	}
	if !legacy || adopted {
		return nil
	}
	versions, err := m.legacyVersions(ctx, conn)
	if err != nil {
		return err
	}
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: adopt %s: %w", legacyTable, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	if err := m.store.CreateVersionTable(ctx, tx); err != nil {
		return fmt.Errorf("migrate: adopt %s: %w", legacyTable, err)
	}
	// Version 0 is goose's own marker of a new table; the recorded files follow in order.
	for _, v := range append([]int64{0}, versions...) {
		if err := m.store.Insert(ctx, tx, database.InsertRequest{Version: v}); err != nil {
			return fmt.Errorf("migrate: adopt %s: %w", legacyTable, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: adopt %s: %w", legacyTable, err)
	}
	return nil
}

// legacyVersions returns, in ascending order, the goose versions of the files the previous
// runner recorded. A recorded file that this build does not have is an error: the database
// is newer than the code.
func (m *Migrator) legacyVersions(ctx context.Context, conn *sql.Conn) ([]int64, error) {
	byName := map[string]int64{}
	for _, s := range m.provider.ListSources() {
		byName[path.Base(s.Path)] = s.Version
	}
	rows, err := conn.QueryContext(ctx, `SELECT name FROM `+legacyTable)
	if err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", legacyTable, err)
	}
	defer rows.Close() //nolint:errcheck // read to the end; rows.Err reports what went wrong
	var versions []int64
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, fmt.Errorf("migrate: read %s: %w", legacyTable, err)
		}
		v, ok := byName[name]
		if !ok {
			return nil, fmt.Errorf("migrate: %s records %s, which this build does not have", legacyTable, name)
		}
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("migrate: read %s: %w", legacyTable, err)
	}
	slices.Sort(versions)
	return versions, nil
}
