-- Order service database: orders, their lines, the audit trail of every status change,
-- and the idempotency records of mutating requests.

-- +goose Up

CREATE TABLE orders (
    id             text PRIMARY KEY,
    customer_id    text NOT NULL,
    workflow_id    text NOT NULL,
    status         text NOT NULL CHECK (status IN ('PENDING', 'RESERVED', 'AUTHORIZED', 'AWAITING_APPROVAL',
                       'CAPTURED', 'COMPENSATING', 'COMPENSATION_FAILED', 'CONFIRMED', 'CANCELLED', 'FAILED')),
    total          bigint NOT NULL DEFAULT 0 CHECK (total >= 0),
    currency       text NOT NULL DEFAULT '' CHECK (currency = '' OR currency ~ '^[A-Z]{3}$'),
    failure_reason text NOT NULL DEFAULT '',
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

-- Listings are newest first with (created_at, id) as the keyset.
CREATE INDEX orders_customer_listing ON orders (customer_id, created_at DESC, id DESC);
CREATE INDEX orders_status_listing ON orders (status, created_at DESC, id DESC);
CREATE INDEX orders_listing ON orders (created_at DESC, id DESC);

CREATE TABLE order_lines (
    order_id   text NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no    integer NOT NULL CHECK (line_no > 0),
    sku        text NOT NULL,
    name       text NOT NULL DEFAULT '',
    quantity   bigint NOT NULL CHECK (quantity > 0),
    unit_price bigint NOT NULL DEFAULT 0 CHECK (unit_price >= 0),
    line_total bigint NOT NULL DEFAULT 0 CHECK (line_total >= 0),
    PRIMARY KEY (order_id, line_no),
    UNIQUE (order_id, sku)
);

CREATE TABLE order_status_history (
    id          bigserial PRIMARY KEY,
    order_id    text NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    from_status text NOT NULL DEFAULT '',
    to_status   text NOT NULL,
    reason      text NOT NULL DEFAULT '',
    at          timestamptz NOT NULL DEFAULT clock_timestamp()
);

CREATE INDEX order_status_history_order ON order_status_history (order_id, id);

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
DROP TABLE order_status_history;
DROP TABLE order_lines;
DROP TABLE orders;
DROP TABLE IF EXISTS schema_migrations;
