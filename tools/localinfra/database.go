package localinfra

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/sagaflow/sagaflow/internal/postgres"
)

// CreateDatabase creates database name on the server adminURL points at (a server-level
// DSN) and returns the new database's DSN. It fails when the database exists, so a caller
// never shares a database it believes fresh.
func CreateDatabase(ctx context.Context, adminURL, name string) (string, error) {
	return createDatabase(ctx, adminURL, name, false)
}

// EnsureDatabase creates database name unless it exists, and returns its DSN.
func EnsureDatabase(ctx context.Context, adminURL, name string) (string, error) {
	return createDatabase(ctx, adminURL, name, true)
}

func createDatabase(ctx context.Context, adminURL, name string, existingOK bool) (string, error) {
	dsn, err := DatabaseURL(adminURL, name)
	if err != nil {
		return "", err
	}
	db, err := postgres.Open(ctx, adminURL, 1)
	if err != nil {
		return "", fmt.Errorf("create database %s: %w", name, err)
	}
	defer func() { _ = db.Close() }()
	if existingOK {
		var exists bool
		if err := db.GetContext(ctx, &exists, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name); err != nil {
			return "", fmt.Errorf("create database %s: %w", name, err)
		}
		if exists {
			return dsn, nil
		}
	}
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+quoteIdent(name)); err != nil {
		// Two callers creating the same database at once: the loser sees a unique violation.
		if !existingOK || !postgres.IsUniqueViolation(err) {
			return "", fmt.Errorf("create database %s: %w", name, err)
		}
	}
	return dsn, nil
}

// DropDatabase drops database name if it exists, ending its sessions first.
func DropDatabase(ctx context.Context, adminURL, name string) error {
	if name == "" {
		return errors.New("drop database: empty name")
	}
	db, err := postgres.Open(ctx, adminURL, 1)
	if err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	defer func() { _ = db.Close() }()
	if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+quoteIdent(name)+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// DatabaseURL returns the DSN of database name on the server adminURL points at.
func DatabaseURL(adminURL, name string) (string, error) {
	if name == "" {
		return "", errors.New("database URL: empty database name")
	}
	u, err := url.Parse(adminURL)
	if err != nil {
		return "", fmt.Errorf("database URL: %w", err)
	}
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// quoteIdent quotes a name for SQL, so it is taken exactly as given and never as SQL.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// redactURL hides a URL's password, for messages.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(invalid URL)"
	}
	return u.Redacted()
}
