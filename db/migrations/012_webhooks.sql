-- Webhooks (issue #18, part 2): events out to a PMS or an accounting
-- system, signed the Standard Webhooks way and delivered by Temporal.
--
-- An endpoint subscribes to event types, on one property or every one
-- (property_id NULL). Its signing secret must be read back to sign, so it
-- is stored as it is (whsec_ + base64 of the key): anyone who can read this
-- table can sign as depositflow, as anyone who can write the ledger can move
-- money. After a rotation the previous secret keeps signing beside the new
-- one until previous_secret_expires_at. Endpoints are never deleted, only
-- removed (removed_at), so their deliveries stay in the log.
CREATE TABLE webhook_endpoints (
    endpoint_id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    url                        text NOT NULL CHECK (url ~ '^https?://'),
    events                     text[] NOT NULL CHECK (cardinality(events) > 0),
    property_id                text,
    description                text NOT NULL DEFAULT '',
    notify_email               text NOT NULL DEFAULT '',
    secret                     text NOT NULL CHECK (secret LIKE 'whsec_%'),
    previous_secret            text CHECK (previous_secret LIKE 'whsec_%'),
    previous_secret_expires_at timestamptz,
    enabled                    boolean NOT NULL DEFAULT true,
    disabled_at                timestamptz,
    disabled_reason            text NOT NULL DEFAULT '',
    disabled_count             integer NOT NULL DEFAULT 0,
    created_by                 text NOT NULL,
    created_at                 timestamptz NOT NULL DEFAULT now(),
    removed_at                 timestamptz
);

-- The outbox: one row per fact that an endpoint subscribed to, written in
-- the transaction of the fact itself (a refund row, an invoice row, the
-- lease's stage, a manager's reminder near a statutory deadline). event_id
-- is derived from the type and the fact (fact), so the same fact is the same
-- event, and the same webhook-id, whatever is retried. seq orders a lease's
-- events.
CREATE TABLE webhook_events (
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    text NOT NULL UNIQUE,
    type        text NOT NULL,
    lease_id    text NOT NULL REFERENCES leases (lease_id),
    property_id text NOT NULL,
    fact        text NOT NULL,
    data        jsonb NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX webhook_events_lease_idx ON webhook_events (lease_id, type);

-- One delivery per endpoint and event, written with the event: pending
-- until an attempt is answered 2xx (delivered), the endpoint is given up on
-- (failed), or it was disabled or removed (skipped).
CREATE TABLE webhook_deliveries (
    delivery_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint_id      bigint NOT NULL REFERENCES webhook_endpoints (endpoint_id),
    event_id         text NOT NULL REFERENCES webhook_events (event_id),
    lease_id         text NOT NULL,
    status           text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed', 'skipped')),
    attempts         integer NOT NULL DEFAULT 0,
    last_status_code integer,
    last_error       text NOT NULL DEFAULT '',
    last_attempt_at  timestamptz,
    delivered_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (endpoint_id, event_id)
);
CREATE INDEX webhook_deliveries_queue_idx ON webhook_deliveries (endpoint_id, lease_id) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (created_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_lease_idx ON webhook_deliveries (lease_id);

-- Every HTTP attempt of a delivery: its answer (NULL: none came), the
-- error in words (never a secret), how long it took.
CREATE TABLE webhook_attempts (
    attempt_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    delivery_id bigint NOT NULL REFERENCES webhook_deliveries (delivery_id),
    attempt     integer NOT NULL,
    at          timestamptz NOT NULL DEFAULT now(),
    status_code integer,
    error       text NOT NULL DEFAULT '',
    latency_ms  integer NOT NULL
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id);

---- create above / drop below ----
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
