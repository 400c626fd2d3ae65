package idempotency_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/idempotency"
	"github.com/sagaflow/sagaflow/internal/logging"
	"github.com/sagaflow/sagaflow/internal/problem"
	"github.com/sagaflow/sagaflow/schema"
	"github.com/sagaflow/sagaflow/test/testenv"
)

const day = 24 * time.Hour

func TestRetentionValidate(t *testing.T) {
	valid := idempotency.Retention{Keep: idempotency.DefaultRetention, Interval: idempotency.DefaultSweepInterval, Batch: idempotency.DefaultSweepBatch}
	tests := []struct {
		name    string
		mutate  func(*idempotency.Retention)
		wantErr string // the variable the error must name; "" means valid
	}{
		{name: "defaults", mutate: func(*idempotency.Retention) {}},
		{name: "at the floor", mutate: func(r *idempotency.Retention) { r.Keep = idempotency.MinRetention }},
		{name: "below the floor", mutate: func(r *idempotency.Retention) { r.Keep = idempotency.MinRetention - time.Nanosecond },
			wantErr: "ORDER_IDEMPOTENCY_RETENTION"},
		{name: "a day", mutate: func(r *idempotency.Retention) { r.Keep = day }, wantErr: "ORDER_IDEMPOTENCY_RETENTION"},
		{name: "zero", mutate: func(r *idempotency.Retention) { r.Keep = 0 }, wantErr: "ORDER_IDEMPOTENCY_RETENTION"},
		{name: "negative", mutate: func(r *idempotency.Retention) { r.Keep = -idempotency.DefaultRetention }, wantErr: "ORDER_IDEMPOTENCY_RETENTION"},
		{name: "a year", mutate: func(r *idempotency.Retention) { r.Keep = 365 * day }},
		{name: "sweep every minute", mutate: func(r *idempotency.Retention) { r.Interval = time.Minute }},
		{name: "sweep every second", mutate: func(r *idempotency.Retention) { r.Interval = time.Second }, wantErr: "ORDER_IDEMPOTENCY_SWEEP_INTERVAL"},
		{name: "sweep every day", mutate: func(r *idempotency.Retention) { r.Interval = day }},
		{name: "sweep every other day", mutate: func(r *idempotency.Retention) { r.Interval = 2 * day }, wantErr: "ORDER_IDEMPOTENCY_SWEEP_INTERVAL"},
		{name: "one row per batch", mutate: func(r *idempotency.Retention) { r.Batch = 1 }},
		{name: "no rows per batch", mutate: func(r *idempotency.Retention) { r.Batch = 0 }, wantErr: "ORDER_IDEMPOTENCY_SWEEP_BATCH"},
		{name: "huge batches", mutate: func(r *idempotency.Retention) { r.Batch = 10_001 }, wantErr: "ORDER_IDEMPOTENCY_SWEEP_BATCH"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := valid
			tc.mutate(&r)
			err := r.Validate("ORDER")
			if tc.wantErr == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("error = %v, want one naming %s", err, tc.wantErr)
			}
		})
	}
}

// record is an idempotency record of a given age.
type record struct {
	key      string
	age      time.Duration // since the key was recorded
	replayed time.Duration // since its last replay; 0 means never replayed
	kept     bool          // whether the sweep must keep it
}

// insert writes records dated on the database clock, as the service would have.
func insert(t *testing.T, db *sqlx.DB, records []record) {
	t.Helper()
	for _, r := range records {
		var replayed *float64
		if r.replayed > 0 {
			s := r.replayed.Seconds()
			replayed = &s
		}
		if _, err := db.Exec(`INSERT INTO idempotency_keys (key, operation, fingerprint, status, body, created_at, replayed_at)
			VALUES ($1, 'op', 'fp', 200, '{}', now() - make_interval(secs => $2),
				now() - make_interval(secs => $3))`, r.key, r.age.Seconds(), replayed); err != nil {
			t.Fatal(err)
		}
	}
}

func keys(t *testing.T, db *sqlx.DB) map[string]bool {
	t.Helper()
	var list []string
	if err := db.Select(&list, `SELECT key FROM idempotency_keys`); err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, k := range list {
		out[k] = true
	}
	return out
}

// aged returns n records of the given age, none replayed.
func aged(prefix string, n int, age time.Duration, kept bool) []record {
	out := make([]record, n)
	for i := range out {
		out[i] = record{key: fmt.Sprintf("%s-%d", prefix, i), age: age, kept: kept}
	}
	return out
}

func TestSweep(t *testing.T) {
	keep := idempotency.DefaultRetention
	tests := []struct {
		name        string
		batch       int
		records     []record
		wantDeleted int64
		wantBatches int
	}{
		{name: "old rows deleted, fresh rows kept", batch: 100, records: []record{
			{key: "fresh", age: time.Hour, kept: true},
			{key: "just inside", age: keep - time.Minute, kept: true},
			{key: "just past", age: keep + time.Minute},
			{key: "a year old", age: 365 * day},
		}, wantDeleted: 2, wantBatches: 1},
		{name: "a replay keeps an old key", batch: 100, records: []record{
			{key: "replayed yesterday", age: 2 * keep, replayed: day, kept: true},
			{key: "replayed long ago", age: 2 * keep, replayed: keep + time.Minute},
			{key: "replayed at the edge", age: 2 * keep, replayed: keep - time.Minute, kept: true},
		}, wantDeleted: 1, wantBatches: 1},
		{name: "batches", batch: 10, records: append(aged("old", 25, keep+day, false), aged("fresh", 3, day, true)...),
			wantDeleted: 25, wantBatches: 3},
		{name: "a full last batch needs one more look", batch: 5, records: aged("old", 10, keep+day, false),
			wantDeleted: 10, wantBatches: 3},
		{name: "one row per batch", batch: 1, records: aged("old", 3, keep+day, false),
			wantDeleted: 3, wantBatches: 4},
		{name: "nothing to sweep", batch: 100, records: aged("fresh", 5, time.Minute, true),
			wantDeleted: 0, wantBatches: 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, db := testenv.ServiceDatabase(t, "order")
			insert(t, db, tc.records)
			deleted, batches, err := idempotency.Sweep(context.Background(), db, keep, tc.batch)
			if err != nil {
				t.Fatal(err)
			}
			if deleted != tc.wantDeleted || batches != tc.wantBatches {
				t.Errorf("deleted %d in %d batches, want %d in %d", deleted, batches, tc.wantDeleted, tc.wantBatches)
			}
			left := keys(t, db)
			for _, r := range tc.records {
				if left[r.key] != r.kept {
					t.Errorf("%s (age %s, replayed %s ago): kept %v, want %v", r.key, r.age, r.replayed, left[r.key], r.kept)
				}
			}
		})
	}
}

// A record a live transaction holds (a replay in progress) is skipped, not waited for.
func TestSweepSkipsHeldRows(t *testing.T) {
	_, db := testenv.ServiceDatabase(t, "order")
	insert(t, db, aged("old", 3, idempotency.DefaultRetention+day, false))
	tx, err := db.Beginx()
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback() //nolint:errcheck // rolled back below; a second rollback is a no-op
	if _, err := tx.Exec(`SELECT 1 FROM idempotency_keys WHERE key = 'old-1' FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if deleted, _, err := idempotency.Sweep(ctx, db, idempotency.DefaultRetention, 100); err != nil || deleted != 2 {
		t.Fatalf("sweep beside a held row: deleted %d, %v; want 2", deleted, err)
	}
	if left := keys(t, db); len(left) != 1 || !left["old-1"] {
		t.Fatalf("left %v, want only the held old-1", left)
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if deleted, _, err := idempotency.Sweep(ctx, db, idempotency.DefaultRetention, 100); err != nil || deleted != 1 {
		t.Fatalf("sweep after the release: deleted %d, %v; want 1", deleted, err)
	}
}

// A replay through Run counts as a use of the key; a refused reuse does not.
func TestReplayKeepsTheKey(t *testing.T) {
	keep := idempotency.DefaultRetention
	tests := []struct {
		name     string
		answer   error // what the first call's step returns
		again    string
		wantKept bool
	}{
		{name: "replayed answer", again: "same request", wantKept: true},
		{name: "replayed refusal", answer: problem.New(http.StatusConflict, problem.CodeConflict, "no"), again: "same request", wantKept: true},
		{name: "key reused for another request", again: "other request", wantKept: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, db := testenv.ServiceDatabase(t, "order")
			ctx := context.Background()
			calls := 0
			step := func(*sqlx.Tx) (string, error) {
				calls++
				return "done", tc.answer
			}
			if _, err := idempotency.Run(ctx, db, "k", "op", "same request", step); (err == nil) != (tc.answer == nil) {
				t.Fatalf("first call: %v, want %v", err, tc.answer)
			}
			// Recorded before the retention period, repeated now.
			if _, err := db.Exec(`UPDATE idempotency_keys SET created_at = now() - make_interval(secs => $1)`, (keep + day).Seconds()); err != nil {
				t.Fatal(err)
			}
			_, _ = idempotency.Run(ctx, db, "k", "op", tc.again, step)
			if calls != 1 {
				t.Fatalf("step ran %d times, want once", calls)
			}
			if _, _, err := idempotency.Sweep(ctx, db, keep, 100); err != nil {
				t.Fatal(err)
			}
			if kept := keys(t, db)["k"]; kept != tc.wantKept {
				t.Fatalf("key kept %v, want %v", kept, tc.wantKept)
			}
			if !tc.wantKept {
				return
			}
			// Once even its last use is older than the retention, it goes, and the key is new.
			if _, err := db.Exec(`UPDATE idempotency_keys SET replayed_at = now() - make_interval(secs => $1)`, (keep + day).Seconds()); err != nil {
				t.Fatal(err)
			}
			if deleted, _, err := idempotency.Sweep(ctx, db, keep, 100); err != nil || deleted != 1 {
				t.Fatalf("sweep of the unused key: deleted %d, %v", deleted, err)
			}
			_, _ = idempotency.Run(ctx, db, "k", "op", "same request", step)
			if calls != 2 {
				t.Fatalf("step ran %d times after the key was swept, want twice", calls)
			}
		})
	}
}

// Every service database carries the column and index the sweep relies on.
func TestEveryServiceSchemaCanBeSwept(t *testing.T) {
	for _, service := range schema.Services() {
		t.Run(service, func(t *testing.T) {
			_, db := testenv.ServiceDatabase(t, service)
			var indexed bool
			if err := db.Get(&indexed, `SELECT EXISTS (SELECT 1 FROM pg_indexes
				WHERE tablename = 'idempotency_keys' AND indexname = 'idempotency_keys_last_used_idx')`); err != nil || !indexed {
				t.Fatalf("idempotency_keys_last_used_idx: %v, %v", indexed, err)
			}
			insert(t, db, append(aged("old", 2, idempotency.DefaultRetention+day, false), aged("fresh", 1, day, true)...))
			if deleted, _, err := idempotency.Sweep(context.Background(), db, idempotency.DefaultRetention, 100); err != nil || deleted != 2 {
				t.Fatalf("deleted %d, %v; want 2", deleted, err)
			}
		})
	}
}

// The sweeper waits one interval, sweeps, logs what it deleted and stops on cancel.
func TestRunSweeper(t *testing.T) {
	_, db := testenv.ServiceDatabase(t, "order")
	keep := idempotency.DefaultRetention
	insert(t, db, append(aged("old", 3, keep+day, false), aged("fresh", 1, day, true)...))
	logs := &testenv.LogBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan struct{})
	const interval = 2 * time.Second
	go func() {
		defer close(done)
		idempotency.RunSweeper(ctx, db, idempotency.Retention{Keep: keep, Interval: interval, Batch: 2}, logging.New(logs, "info", "test"))
	}()
	count := func() int {
		var n int
		if err := db.Get(&n, `SELECT count(*) FROM idempotency_keys`); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(); n != 4 {
		t.Fatalf("%d records right after the start, want all 4: the first sweep waits an interval", n)
	}
	for deadline := time.Now().Add(interval + 10*time.Second); count() != 1; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d records left, want the fresh one only", count())
		}
	}
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the sweeper did not stop on cancel")
	}
	if out := logs.String(); !strings.Contains(out, `"msg":"idempotency keys swept"`) || !strings.Contains(out, `"deleted":3`) ||
		!strings.Contains(out, `"batches":2`) {
		t.Fatalf("the sweep is not logged with what it deleted:\n%s", out)
	}
}
