package localinfra

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/sagaflow/sagaflow/internal/postgres"
)

// adminURL is the machine's PostgreSQL, as for every other test (see test/testenv, which
// cannot be imported here: it uses this package).
func adminURL() string {
	if v := os.Getenv("TEST_DATABASE_URL"); v != "" {
		return v
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

func suffix() string {
	var b [5]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func databaseExists(t *testing.T, admin, name string) bool {
	t.Helper()
	db, err := postgres.Open(context.Background(), admin, 1)
	if err != nil {
		t.Fatalf("PostgreSQL at %s: %v", admin, err)
	}
	defer func() { _ = db.Close() }()
	var exists bool
	if err := db.Get(&exists, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name); err != nil {
		t.Fatal(err)
	}
	return exists
}

// TestDatabases creates and drops databases on the machine's PostgreSQL.
func TestDatabases(t *testing.T) {
	ctx := context.Background()
	admin := adminURL()
	drop := func(ctx context.Context, admin, name string) (string, error) {
		return "", DropDatabase(ctx, admin, name)
	}
	tests := []struct {
		name       string
		db         string // "" gets a fresh name
		existing   bool   // the database is there before op
		op         func(context.Context, string, string) (string, error)
		wantErr    string // part of the error; "" for none
		wantExists bool
	}{
		{name: "create new", op: CreateDatabase, wantExists: true},
		{name: "create existing fails", existing: true, op: CreateDatabase, wantErr: "already exists", wantExists: true},
		{name: "ensure new", op: EnsureDatabase, wantExists: true},
		{name: "ensure existing", existing: true, op: EnsureDatabase, wantExists: true},
		{name: "drop existing", existing: true, op: drop},
		{name: "drop missing", op: drop},
		// Quoted, so the name is taken as given: upper case, a hyphen, a quote, a space.
		{name: "create name that needs quoting", db: `Localinfra-Test "q" `, op: CreateDatabase, wantExists: true},
		{name: "drop name that needs quoting", db: `Localinfra-Test "d" `, existing: true, op: drop},
		{name: "create empty name fails", db: "-", op: CreateDatabase, wantErr: "empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := "localinfra_test_" + suffix()
			switch tt.db {
			case "":
			case "-":
				name = ""
			default:
				name = tt.db + suffix()
			}
			if name != "" {
				t.Cleanup(func() {
					if err := DropDatabase(context.Background(), admin, name); err != nil {
						t.Error(err)
					}
				})
			}
			if tt.existing {
				if _, err := CreateDatabase(ctx, admin, name); err != nil {
					t.Fatal(err)
				}
			}
			dsn, err := tt.op(ctx, admin, name)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if name == "" {
				return
			}
			if got := databaseExists(t, admin, name); got != tt.wantExists {
				t.Fatalf("database %q exists: %v, want %v", name, got, tt.wantExists)
			}
			if dsn == "" {
				return
			}
			// The returned DSN reaches that very database.
			db, err := postgres.Open(ctx, dsn, 1)
			if err != nil {
				t.Fatalf("open %s: %v", dsn, err)
			}
			defer func() { _ = db.Close() }()
			var current string
			if err := db.Get(&current, `SELECT current_database()`); err != nil {
				t.Fatal(err)
			}
			if current != name {
				t.Fatalf("DSN %s reaches database %q, want %q", dsn, current, name)
			}
		})
	}
}

func TestDatabaseURL(t *testing.T) {
	tests := []struct {
		admin, name, want, wantErr string
	}{
		{
			admin: "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", name: "sagaflow_order",
			want: "postgres://postgres@127.0.0.1:5432/sagaflow_order?sslmode=disable",
		},
		{
			admin: "postgres://u:secret@127.0.0.1:55432?sslmode=disable&connect_timeout=5", name: "db",
			want: "postgres://u:secret@127.0.0.1:55432/db?sslmode=disable&connect_timeout=5",
		},
		{admin: "postgres://127.0.0.1/postgres", name: "a b/c", want: "postgres://127.0.0.1/a%20b/c"},
		{admin: "postgres://127.0.0.1/postgres", name: "", wantErr: "empty"},
		{admin: "postgres://127.0.0.1:port/postgres", name: "db", wantErr: "invalid port"},
	}
	for _, tt := range tests {
		got, err := DatabaseURL(tt.admin, tt.name)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("DatabaseURL(%q, %q) error %v, want one saying %q", tt.admin, tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("DatabaseURL(%q, %q) = %q, %v; want %q", tt.admin, tt.name, got, err, tt.want)
		}
	}
}
