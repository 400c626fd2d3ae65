-- Inventory database: the catalog with stock levels, reservations per order, and an
-- append-only ledger of every stock movement so levels can be audited.

-- +goose Up

CREATE TABLE products (
    sku        text PRIMARY KEY CHECK (length(sku) BETWEEN 1 AND 64),
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    unit_price bigint NOT NULL CHECK (unit_price >= 0),
    currency   char(3) NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    on_hand    bigint NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    reserved   bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT products_reserved_within_on_hand CHECK (reserved <= on_hand)
);

-- One row per order. A RELEASED row without lines is the marker left by a release that
-- arrived before its reserve; it makes the late reserve fail.
CREATE TABLE reservations (
    order_id   text PRIMARY KEY CHECK (length(order_id) BETWEEN 1 AND 64),
    status     text NOT NULL CHECK (status IN ('RESERVED', 'RELEASED', 'COMMITTED')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX reservations_status_created_idx ON reservations (status, created_at DESC);
CREATE INDEX reservations_created_idx ON reservations (created_at DESC);

-- Lines keep the catalog name and price at reservation time; line_no keeps request order.
CREATE TABLE reservation_lines (
    order_id   text NOT NULL REFERENCES reservations (order_id),
    line_no    integer NOT NULL CHECK (line_no >= 0),
    sku        text NOT NULL REFERENCES products (sku),
    quantity   bigint NOT NULL CHECK (quantity > 0),
    unit_price bigint NOT NULL CHECK (unit_price >= 0),
    currency   char(3) NOT NULL,
    name       text NOT NULL,
    PRIMARY KEY (order_id, sku),
    UNIQUE (order_id, line_no)
);

CREATE INDEX reservation_lines_sku_idx ON reservation_lines (sku);

-- Per SKU: sum(RESTOCK) - sum(COMMIT) = on_hand and
-- sum(RESERVE) - sum(RELEASE) - sum(COMMIT) = reserved.
CREATE TABLE stock_movements (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sku            text NOT NULL REFERENCES products (sku),
    order_id       text,
    kind           text NOT NULL CHECK (kind IN ('RESTOCK', 'RESERVE', 'RELEASE', 'COMMIT')),
    quantity       bigint NOT NULL CHECK (quantity > 0),
    on_hand_after  bigint NOT NULL CHECK (on_hand_after >= 0),
    reserved_after bigint NOT NULL CHECK (reserved_after >= 0),
    created_at     timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'RESTOCK') = (order_id IS NULL))
);

CREATE INDEX stock_movements_sku_idx ON stock_movements (sku, id);
CREATE INDEX stock_movements_order_idx ON stock_movements (order_id) WHERE order_id IS NOT NULL;

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
DROP TABLE stock_movements;
DROP TABLE reservation_lines;
DROP TABLE reservations;
DROP TABLE products;
DROP TABLE IF EXISTS schema_migrations;
