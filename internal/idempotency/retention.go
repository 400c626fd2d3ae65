package idempotency

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
)

// Bounds of the saga's retries. Services must not link the saga (workflows/), so the values
// are repeated here; horizon_test.go fails when the saga or the API outgrows them.
const (
	// sagaMaxAttempt is the longest one attempt of a saga call may run: the upper bound
	// the API accepts for SAGA_ACTIVITY_TIMEOUT (the default is 15s).
	sagaMaxAttempt = time.Hour
	// sagaMaxBackoff is the longest pause between two attempts of a call: the upper bound
	// of SAGA_RETRY_MAX_INTERVAL (the saga's own caps are 10s forward, 30s within a
	// compensation batch and 1m between batches).
	sagaMaxBackoff = time.Hour
	// outageAllowance is how long an outage of Temporal, the worker pools or the service
	// may hold a saga's retries back: they wait it out and resume.
	outageAllowance = 7 * 24 * time.Hour
)

// MinRetention is the shortest retention a service accepts (170h). A saga repeats a key
// only while it retries the one call that sends it: every step, compensation and status
// move has its own key, and no key is sent again across the approval wait (whatever
// APPROVAL_TIMEOUT is) or a pause between compensation batches. The first attempt that
// reaches the service after the key was recorded gets the stored answer and ends the
// retries, so while everything runs a key is repeated within one attempt and one backoff
// of its last use; an outage only postpones that.
const MinRetention = sagaMaxAttempt + sagaMaxBackoff + outageAllowance

// Defaults of a service's retention settings. 30 days is four times MinRetention: a call
// stuck behind a long outage, or a compensation an operator resolves weeks later, still
// finds its key; and a key a retry loop keeps replaying never ages out (see Sweep).
const (
	DefaultRetention     = 30 * 24 * time.Hour
	DefaultSweepInterval = time.Hour
	DefaultSweepBatch    = 1000
)

// Bounds of the sweep's settings.
const (
	minSweepInterval = time.Minute
	maxSweepInterval = 24 * time.Hour
	maxSweepBatch    = 10_000
)

// Retention says how long a service keeps its idempotency records and how it deletes older
// ones. Markers that refuse a late action (a RELEASED reservation without lines, a VOIDED
// payment without money) are business rows, not idempotency records: the sweep never
// touches them, so a late reserve or authorization stays refused however old its marker is.
type Retention struct {
	// Keep is how long a record is kept after its key was last used (recorded or replayed).
	Keep time.Duration
	// Interval is the pause between two sweeps.
	Interval time.Duration
	// Batch bounds the records one DELETE removes; each batch is its own short transaction.
	Batch int
}

// Validate names the first variable whose value cannot work; prefix is the service's
// variable prefix ("ORDER" for ORDER_IDEMPOTENCY_RETENTION).
func (r Retention) Validate(prefix string) error {
	switch {
	case r.Keep < MinRetention:
		return fmt.Errorf("%s_IDEMPOTENCY_RETENTION must be at least %s (the saga's longest retry horizon with an outage allowance), got %s",
			prefix, MinRetention, r.Keep)
	case r.Interval < minSweepInterval || r.Interval > maxSweepInterval:
		return fmt.Errorf("%s_IDEMPOTENCY_SWEEP_INTERVAL must be between %s and %s, got %s",
			prefix, minSweepInterval, maxSweepInterval, r.Interval)
	case r.Batch < 1 || r.Batch > maxSweepBatch:
		return fmt.Errorf("%s_IDEMPOTENCY_SWEEP_BATCH must be between 1 and %d, got %d", prefix, maxSweepBatch, r.Batch)
	}
	return nil
}

// deleteBatch removes up to $2 records whose key was last used more than $1 seconds ago,
// oldest first. The age is measured on the database clock, which stamped the records.
// Rows another transaction holds (a replay in progress) are skipped, not waited for; the
// key array makes the delete an index lookup instead of a scan of the table.
const deleteBatch = `DELETE FROM idempotency_keys WHERE key = ANY (ARRAY(
	SELECT key FROM idempotency_keys
	WHERE greatest(created_at, replayed_at) < now() - make_interval(secs => $1)
	ORDER BY greatest(created_at, replayed_at)
	LIMIT $2
	FOR UPDATE SKIP LOCKED))`

// Sweep deletes the records whose key was last used longer than keep ago, at most batch
// rows per statement, and returns how many it deleted in how many statements. It stops
// early, with ctx's error, when ctx is done. Each statement commits on its own, so no lock
// outlives a batch.
func Sweep(ctx context.Context, db *sqlx.DB, keep time.Duration, batch int) (deleted int64, batches int, err error) {
	if keep <= 0 || batch < 1 {
		return 0, 0, fmt.Errorf("idempotency sweep: keep %s and batch %d must be positive", keep, batch)
	}
	for {
		if err := ctx.Err(); err != nil {
			return deleted, batches, err
		}
		res, err := db.ExecContext(ctx, deleteBatch, keep.Seconds(), batch)
		if err != nil {
			return deleted, batches, fmt.Errorf("idempotency sweep: %w", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return deleted, batches, fmt.Errorf("idempotency sweep: %w", err)
		}
		deleted += n
		batches++
		if n < int64(batch) {
			return deleted, batches, nil
		}
	}
}

// RunSweeper sweeps every r.Interval until ctx is done, logging what each sweep deleted. A
// failed sweep is logged and retried at the next tick. The first sweep waits one interval:
// after an outage of the service, the sagas retrying against it get their answers first.
func RunSweeper(ctx context.Context, db *sqlx.DB, r Retention, logger *slog.Logger) {
	ticker := time.NewTicker(r.Interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		start := time.Now()
		n, batches, err := Sweep(ctx, db, r.Keep, r.Batch)
		attrs := []any{"deleted", n, "batches", batches, "retention", r.Keep.String(), "duration_ms", time.Since(start).Milliseconds()}
		switch {
		case ctx.Err() != nil:
			// Stopping: the statement was cancelled, not failed.
			logger.Info("idempotency sweep stopped", attrs...)
			return
		case err != nil:
			logger.Error("idempotency sweep failed", append(attrs, "error", err.Error())...)
		case n > 0:
			logger.Info("idempotency keys swept", attrs...)
		default:
			logger.Debug("idempotency keys swept", attrs...)
		}
	}
}
