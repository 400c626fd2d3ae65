// Package schema embeds the SQL migrations of each service's database, one folder per service,
// in goose's format (NNN_name.sql with "-- +goose Up" and "-- +goose Down" sections).
package schema

import (
	"context"
	"embed"
	"fmt"
	"io/fs"

	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/postgres"
)

//go:embed inventory/*.sql payment/*.sql order/*.sql
var migrations embed.FS

// Services lists the services that own a database, in the order `migrate` applies them.
func Services() []string { return []string{"inventory", "payment", "order"} }

// For returns the migrations of one service's database.
func For(service string) (fs.FS, error) {
	for _, s := range Services() {
		if s == service {
			return fs.Sub(migrations, service)
		}
	}
	return nil, fmt.Errorf("no schema for service %q", service)
}

// NewMigrator returns the migrator of a service's database, for commands that do more
// than apply pending migrations (roll back, report status).
func NewMigrator(db *sqlx.DB, service string) (*postgres.Migrator, error) {
	migrations, err := For(service)
	if err != nil {
		return nil, err
	}
	return postgres.NewMigrator(db, migrations)
}

// Open connects to a service's database and, when migrate is set, applies its migrations
// first, so every service starts the same way.
func Open(ctx context.Context, service, dsn string, maxConns int, migrate bool) (*sqlx.DB, error) {
	db, err := postgres.Open(ctx, dsn, maxConns)
	if err != nil {
		return nil, fmt.Errorf("%s database %s: %w", service, postgres.DatabaseName(dsn), err)
	}
	if !migrate {
		return db, nil
	}
	migrations, err := For(service)
	if err == nil {
		err = postgres.Migrate(ctx, db, migrations)
	}
	if err != nil {
		_ = db.Close() // the migration's error is the one to report
		return nil, fmt.Errorf("%s database: %w", service, err)
	}
	return db, nil
}
