package main

import (
	"bytes"
	"context"
	"io/fs"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/postgres"
	"github.com/sagaflow/sagaflow/schema"
	"github.com/sagaflow/sagaflow/test/testenv"
)

// tablesIn counts a database's tables other than goose's own.
func tablesIn(t *testing.T, db *sqlx.DB) int {
	t.Helper()
	var n int
	if err := db.GetContext(t.Context(), &n, `SELECT count(*) FROM pg_tables
		WHERE schemaname = 'public' AND tablename <> 'goose_db_version'`); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestMigrateCommand runs `sagaflow migrate` step by step over three fresh databases.
func TestMigrateCommand(t *testing.T) {
	dbs := map[string]*sqlx.DB{}
	for _, service := range schema.Services() {
		dsn := testenv.Database(t)
		t.Setenv(strings.ToUpper(service)+"_DATABASE_URL", dsn)
		db, err := postgres.Open(t.Context(), dsn, 2)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = db.Close() })
		dbs[service] = db
	}
	payment, err := schema.For("payment")
	if err != nil {
		t.Fatal(err)
	}
	paymentFiles, err := fs.Glob(payment, "*.sql")
	if err != nil || len(paymentFiles) == 0 {
		t.Fatalf("payment migrations %v (%v)", paymentFiles, err)
	}
	type step struct {
		name       string
		args       []string
		wantCode   int
		wantOut    []string // lines stdout must hold
		wantErr    string   // text stderr must hold
		wantTables map[string]bool
	}
	steps := []step{
		{name: "status before anything", args: []string{"--service", "order", "--status"},
			wantOut:    []string{"order\t001_init.sql\tpending"},
			wantTables: map[string]bool{"order": false, "payment": false, "inventory": false}},
		{name: "one service", args: []string{"--service", "order"},
			wantErr:    `"applied":["001_init.sql"`,
			wantTables: map[string]bool{"order": true, "payment": false, "inventory": false}},
		{name: "every service", wantErr: `"service":"payment"`,
			wantTables: map[string]bool{"order": true, "payment": true, "inventory": true}},
		{name: "again, nothing to apply", wantErr: `"applied":[]`,
			wantTables: map[string]bool{"order": true, "payment": true, "inventory": true}},
		{name: "status after", args: []string{"--status"},
			wantOut: []string{"inventory\t001_init.sql\tapplied\t", "payment\t001_init.sql\tapplied\t", "order\t001_init.sql\tapplied\t"}},
	}
	// Roll the payment database back one migration at a time, whatever files it has.
	for i := len(paymentFiles) - 1; i >= 0; i-- {
		steps = append(steps, step{name: "down " + paymentFiles[i], args: []string{"--service", "payment", "--down"},
			wantErr:    `"migration":"` + paymentFiles[i] + `"`,
			wantTables: map[string]bool{"order": true, "payment": i > 0, "inventory": true}})
	}
	steps = append(steps, []step{
		{name: "down with nothing applied", args: []string{"--service", "payment", "--down"},
			wantErr: "nothing to roll back"},
		{name: "down needs a service", args: []string{"--down"}, wantCode: 2, wantErr: "--down needs --service"},
		{name: "unknown service", args: []string{"--service", "billing"}, wantCode: 2, wantErr: `unknown service "billing"`},
		{name: "down and status", args: []string{"--service", "order", "--down", "--status"}, wantCode: 2, wantErr: "exclude each other"},
		{name: "stray argument", args: []string{"up"}, wantCode: 2, wantErr: "unexpected arguments"},
		{name: "up after down", args: []string{"--service", "payment"},
			wantTables: map[string]bool{"order": true, "payment": true, "inventory": true}},
	}...)
	for _, s := range steps {
		var out, errOut bytes.Buffer
		code := run(context.Background(), append([]string{"migrate"}, s.args...), &out, &errOut)
		if code != s.wantCode || !strings.Contains(errOut.String(), s.wantErr) {
			t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", s.name, code, s.wantCode, out.String(), errOut.String())
		}
		for _, line := range s.wantOut {
			if !strings.Contains(out.String(), line) {
				t.Fatalf("%s: stdout lacks %q:\n%s", s.name, line, out.String())
			}
		}
		for service, want := range s.wantTables {
			if got := tablesIn(t, dbs[service]) > 0; got != want {
				t.Fatalf("%s: %s database has tables %v, want %v", s.name, service, got, want)
			}
		}
	}
}
