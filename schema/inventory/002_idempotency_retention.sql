-- Retention of idempotency records: a replay stamps replayed_at, and the periodic sweep
-- (internal/idempotency) deletes, oldest first, the records whose key was last used before
-- the retention period; the index serves that ordered, batched delete.

-- +goose Up
ALTER TABLE idempotency_keys ADD COLUMN replayed_at timestamptz;
CREATE INDEX idempotency_keys_last_used_idx ON idempotency_keys ((greatest(created_at, replayed_at)));

-- +goose Down
DROP INDEX idempotency_keys_last_used_idx;
ALTER TABLE idempotency_keys DROP COLUMN replayed_at;
