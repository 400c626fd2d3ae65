// Package idempotency makes a service's mutating endpoints safe to call more than once.
//
// The key is recorded in the same transaction as the business change, so either both
// happen or neither does. A second call with the same key gets the stored answer; a
// concurrent second call waits on the key's row lock until the first commits. Final
// business refusals (4xx problems) are stored too, so a retry cannot turn a refusal
// into a success later.
//
// Records are kept for a retention period after their key was last used and then swept
// (see Retention and Sweep); a replay counts as a use.
//
// Each service database needs this table and index (see schema/):
//
//	CREATE TABLE idempotency_keys (
//	    key         text PRIMARY KEY,
//	    operation   text NOT NULL,
//	    fingerprint text NOT NULL,
//	    status      integer NOT NULL,
//	    body        jsonb NOT NULL,
//	    created_at  timestamptz NOT NULL DEFAULT now(),
//	    replayed_at timestamptz
//	);
//	CREATE INDEX idempotency_keys_last_used_idx ON idempotency_keys ((greatest(created_at, replayed_at)));
package idempotency

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/danielgtaylor/huma/v2"
	"github.com/jmoiron/sqlx"

	"github.com/sagaflow/sagaflow/internal/postgres"
	"github.com/sagaflow/sagaflow/internal/problem"
)

// MaxKeyLength bounds keys accepted from callers.
const MaxKeyLength = 255

// ErrKeyReused is returned when a key is sent again with a different operation or request.
var ErrKeyReused = problem.New(http.StatusUnprocessableEntity, problem.CodeIdempotencyReused,
	"this Idempotency-Key was already used with a different request")

// Run executes step at most once per key. operation names the endpoint and request is
// what the caller sent; together they form the fingerprint a repeated key must match.
// step runs inside the transaction that records the key; when it returns a 4xx problem
// its writes are rolled back but the refusal is recorded and returned.
// Any other error rolls everything back and records nothing, so a retry runs step again.
func Run[T any](ctx context.Context, db *sqlx.DB, key, operation string, request any, step func(tx *sqlx.Tx) (T, error)) (T, error) {
	var result T
	var refusal error
	fingerprint, err := Fingerprint(operation, request)
	if err != nil {
		return result, err
	}
	err = postgres.InTx(ctx, db, func(tx *sqlx.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO idempotency_keys (key, operation, fingerprint, status, body)
			VALUES ($1, $2, $3, 0, 'null') ON CONFLICT (key) DO NOTHING`, key, operation, fingerprint)
		if err != nil {
			return fmt.Errorf("record idempotency key: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			// A stored refusal is an answer, not a failure of this transaction.
			result, refusal = stored[T](ctx, tx, key, operation, fingerprint)
			if refusal != nil && !problem.IsClientError(refusal) {
				return refusal
			}
			return nil
		}

		if _, err := tx.ExecContext(ctx, `SAVEPOINT idempotent_step`); err != nil {
			return err
		}
		out, stepErr := step(tx)
		status, body := http.StatusOK, any(out)
		if stepErr != nil {
			p, ok := problem.As(stepErr)
			if !ok || !problem.IsClientError(stepErr) {
				return stepErr
			}
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT idempotent_step`); err != nil {
				return err
			}
			status, body = p.Status, p
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return fmt.Errorf("encode idempotent result: %w", err)
		}
		// A string, not []byte: connections send []byte in binary, which jsonb refuses.
		if _, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET status = $2, body = $3 WHERE key = $1`, key, status, string(raw)); err != nil {
			return fmt.Errorf("store idempotent result: %w", err)
		}
		// A refusal is committed with its record and handed back after the commit.
		result, refusal = out, stepErr
		return nil
	})
	if err != nil {
		return result, err
	}
	return result, refusal
}

func stored[T any](ctx context.Context, tx *sqlx.Tx, key, operation, fingerprint string) (T, error) {
	var result T
	var row struct {
		Operation   string `db:"operation"`
		Fingerprint string `db:"fingerprint"`
		Status      int    `db:"status"`
		Body        []byte `db:"body"`
	}
	if err := tx.GetContext(ctx, &row, `SELECT operation, fingerprint, status, body FROM idempotency_keys WHERE key = $1`, key); err != nil {
		return result, fmt.Errorf("read idempotency key: %w", err)
	}
	if row.Operation != operation || row.Fingerprint != fingerprint {
		return result, ErrKeyReused
	}
	// A caller still retrying keeps its key: the sweep measures age from the last use.
	if _, err := tx.ExecContext(ctx, `UPDATE idempotency_keys SET replayed_at = now() WHERE key = $1`, key); err != nil {
		return result, fmt.Errorf("mark idempotency key replayed: %w", err)
	}
	if row.Status == http.StatusOK {
		if err := json.Unmarshal(row.Body, &result); err != nil {
			return result, fmt.Errorf("decode stored result: %w", err)
		}
		return result, nil
	}
	var p huma.ErrorModel
	if err := json.Unmarshal(row.Body, &p); err != nil {
		return result, fmt.Errorf("decode stored problem: %w", err)
	}
	return result, &p
}

// Fingerprint hashes an operation and its request; equal requests give equal fingerprints.
func Fingerprint(operation string, request any) (string, error) {
	raw, err := json.Marshal(request)
	if err != nil {
		return "", fmt.Errorf("fingerprint request: %w", err)
	}
	sum := sha256.Sum256(append([]byte(operation+"\x00"), raw...))
	return hex.EncodeToString(sum[:]), nil
}
