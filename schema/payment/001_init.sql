-- Payments of orders, their money movements, and the idempotency keys of the payment API.

-- +goose Up

-- One payment per order. A payment voided before any authorization arrived is a marker
-- row (VOIDED, amount 0, no currency, no processor reference) that refuses the late
-- authorization, so a compensation that overtakes its action never leaves a hanging hold.
CREATE TABLE payments (
    order_id      text PRIMARY KEY CHECK (length(order_id) BETWEEN 1 AND 64),
    status        text NOT NULL CHECK (status IN ('AUTHORIZED', 'CAPTURED', 'VOIDED', 'REFUNDED')),
    amount        bigint NOT NULL CHECK (amount >= 0),
    currency      text CHECK (currency ~ '^[A-Z]{3}$'),
    captured      bigint NOT NULL DEFAULT 0 CHECK (captured >= 0),
    refunded      bigint NOT NULL DEFAULT 0 CHECK (refunded >= 0),
    processor_ref text CHECK (length(processor_ref) BETWEEN 1 AND 128),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT payments_captured_le_amount CHECK (captured <= amount),
    CONSTRAINT payments_refunded_le_captured CHECK (refunded <= captured),
    -- Either a real authorization (money, currency, processor reference) or a void marker.
    CONSTRAINT payments_authorization_or_marker CHECK (
        (processor_ref IS NOT NULL AND amount > 0 AND currency IS NOT NULL)
        OR (processor_ref IS NULL AND status = 'VOIDED' AND amount = 0 AND currency IS NULL)
    ),
    -- Amounts agree with the status.
    CONSTRAINT payments_status_amounts CHECK (
        CASE status
            WHEN 'AUTHORIZED' THEN captured = 0 AND refunded = 0
            WHEN 'VOIDED'     THEN captured = 0 AND refunded = 0
            WHEN 'CAPTURED'   THEN captured = amount AND refunded < captured
            WHEN 'REFUNDED'   THEN captured = amount AND refunded = captured
        END
    )
);

CREATE INDEX payments_status_order_id ON payments (status, order_id);

-- Every money movement of a payment, append only. A void marker has no entry: no money moved.
CREATE TABLE ledger (
    id         bigserial PRIMARY KEY,
    order_id   text NOT NULL REFERENCES payments (order_id),
    kind       text NOT NULL CHECK (kind IN ('AUTHORIZE', 'CAPTURE', 'VOID', 'REFUND')),
    amount     bigint NOT NULL CHECK (amount > 0),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ledger_order_id ON ledger (order_id, id);

-- See internal/idempotency.
CREATE TABLE idempotency_keys (
    key         text PRIMARY KEY,
    operation   text NOT NULL,
    fingerprint text NOT NULL,
    status      integer NOT NULL,
    body        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
-- Dependents first. The previous migration runner's record goes too: it would still
-- claim this file applied.
DROP TABLE idempotency_keys;
DROP TABLE ledger;
DROP TABLE payments;
DROP TABLE IF EXISTS schema_migrations;
