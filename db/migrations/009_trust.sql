-- Who may do what, and the database as the only book of record (issues #14
-- and #15).

-- People. Each has roles (viewer, manager, books_admin, admin; a person may
-- hold several) and the properties they act on ('*': every property). They
-- sign in with personal tokens, stored as the SHA-256 of 256 random bits: the
-- token itself is shown once. A revoked user's tokens stop working at once.
CREATE TABLE users (
    user_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    roles      text[] NOT NULL CHECK (cardinality(roles) > 0
                   AND roles <@ ARRAY['viewer', 'manager', 'books_admin', 'admin']::text[]),
    properties text[] NOT NULL CHECK (cardinality(properties) > 0),
    created_by text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);

CREATE TABLE user_tokens (
    token_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      bigint NOT NULL REFERENCES users (user_id),
    token_hash   bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    token_prefix text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz
);
CREATE INDEX user_tokens_user_idx ON user_tokens (user_id);

-- Every audit row names the authenticated caller ('user:ana',
-- 'key:PMS-1', 'system:reconcile', 'local:root' for an admin command run
-- where the database is), the client's address and the caller's
-- idempotency key. A decision is audited before it is sent to the lease's
-- workflow, with accepted NULL while it is under way: the row is the proof
-- the workflow checks (who asked, with which roles, for what) before it
-- acts, and claimed_at says it did.
ALTER TABLE audit_log
    ADD COLUMN principal   text NOT NULL DEFAULT '',
    ADD COLUMN origin      text NOT NULL DEFAULT '',
    ADD COLUMN request_key text,
    ADD COLUMN claimed_at  timestamptz,
    ALTER COLUMN accepted DROP NOT NULL;
CREATE UNIQUE INDEX audit_log_request_key_idx ON audit_log (principal, request_key) WHERE request_key IS NOT NULL;

-- Currency and time zone per property: the deposit's money is in the
-- property's currency (ISO 4217), and dates people and PMSs type are days in
-- its zone, where statutory deadlines count calendar days. A lease keeps the
-- currency and zone it started with.
ALTER TABLE properties
    ADD COLUMN currency  text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC' CHECK (time_zone <> '');
UPDATE properties SET currency = 'GBP' WHERE jurisdiction LIKE 'GB-%';

-- The move-out belongs to the lease: a resident on two leases (a renewal, a
-- transfer) moves out of each separately. residents.realized_move_out_date
-- stays as the PMS's own field; no clock reads it any more.
ALTER TABLE leases
    ADD COLUMN currency             text NOT NULL DEFAULT 'USD' CHECK (currency ~ '^[A-Z]{3}$'),
    ADD COLUMN time_zone            text NOT NULL DEFAULT 'UTC' CHECK (time_zone <> ''),
    ADD COLUMN realized_move_out_at timestamptz,
    ADD CONSTRAINT leases_currency_key UNIQUE (lease_id, currency);
UPDATE leases SET currency = p.currency, time_zone = p.time_zone
FROM properties p WHERE p.property_id = leases.property_id;
UPDATE leases SET realized_move_out_at = COALESCE(leases.moved_out_at, r.realized_move_out_date::timestamp AT TIME ZONE 'UTC')
FROM residents r WHERE r.resident_id = leases.resident_id
  AND (leases.moved_out_at IS NOT NULL OR r.realized_move_out_date IS NOT NULL);

DROP TRIGGER residents_change ON residents;
CREATE TRIGGER leases_move_out_change AFTER UPDATE OF realized_move_out_at ON leases
    FOR EACH ROW WHEN (NEW.realized_move_out_at IS DISTINCT FROM OLD.realized_move_out_at)
    EXECUTE FUNCTION log_lease_change();

-- One lease never mixes currencies: every money row carries the lease's
-- currency (filled in from the lease when the writer gives none) and a
-- foreign key on (lease_id, currency) refuses any other.
CREATE FUNCTION lease_currency() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.currency IS NULL THEN
        SELECT currency INTO NEW.currency FROM leases WHERE lease_id = NEW.lease_id;
    END IF;
    RETURN NEW;
END $$;

ALTER TABLE deposits    ADD COLUMN currency text;
ALTER TABLE payments    ADD COLUMN currency text;
ALTER TABLE charges     ADD COLUMN currency text;
ALTER TABLE refunds     ADD COLUMN currency text;
ALTER TABLE invoices    ADD COLUMN currency text;
ALTER TABLE settlements ADD COLUMN currency text;
UPDATE deposits    t SET currency = l.currency FROM leases l WHERE l.lease_id = t.lease_id;
UPDATE payments    t SET currency = l.currency FROM leases l WHERE l.lease_id = t.lease_id;
UPDATE charges     t SET currency = l.currency FROM leases l WHERE l.lease_id = t.lease_id;
UPDATE refunds     t SET currency = l.currency FROM leases l WHERE l.lease_id = t.lease_id;
UPDATE invoices    t SET currency = l.currency FROM leases l WHERE l.lease_id = t.lease_id;
UPDATE settlements t SET currency = l.currency FROM leases l WHERE l.lease_id = t.lease_id;
ALTER TABLE deposits    ALTER COLUMN currency SET NOT NULL, ADD FOREIGN KEY (lease_id, currency) REFERENCES leases (lease_id, currency);
ALTER TABLE payments    ALTER COLUMN currency SET NOT NULL, ADD FOREIGN KEY (lease_id, currency) REFERENCES leases (lease_id, currency);
ALTER TABLE charges     ALTER COLUMN currency SET NOT NULL, ADD FOREIGN KEY (lease_id, currency) REFERENCES leases (lease_id, currency);
ALTER TABLE refunds     ALTER COLUMN currency SET NOT NULL, ADD FOREIGN KEY (lease_id, currency) REFERENCES leases (lease_id, currency);
ALTER TABLE invoices    ALTER COLUMN currency SET NOT NULL, ADD FOREIGN KEY (lease_id, currency) REFERENCES leases (lease_id, currency);
ALTER TABLE settlements ALTER COLUMN currency SET NOT NULL, ADD FOREIGN KEY (lease_id, currency) REFERENCES leases (lease_id, currency);
CREATE TRIGGER deposits_currency    BEFORE INSERT ON deposits    FOR EACH ROW EXECUTE FUNCTION lease_currency();
CREATE TRIGGER payments_currency    BEFORE INSERT ON payments    FOR EACH ROW EXECUTE FUNCTION lease_currency();
CREATE TRIGGER charges_currency     BEFORE INSERT ON charges     FOR EACH ROW EXECUTE FUNCTION lease_currency();
CREATE TRIGGER refunds_currency     BEFORE INSERT ON refunds     FOR EACH ROW EXECUTE FUNCTION lease_currency();
CREATE TRIGGER invoices_currency    BEFORE INSERT ON invoices    FOR EACH ROW EXECUTE FUNCTION lease_currency();
CREATE TRIGGER settlements_currency BEFORE INSERT ON settlements FOR EACH ROW EXECUTE FUNCTION lease_currency();

-- Money people move after the move-out needs a books_admin's approval once
-- the lease's total of it passes the property's threshold, and so do a payee
-- change and a cash or prepaid amendment after a payment. A row waiting for
-- that approval is written with approval 'pending' and does not count until
-- it is 'approved'; 'none' is a row that never needed one. origin says who
-- wrote a charge: a person (user), a PMS (integration) or depositflow itself.
ALTER TABLE charges
    ADD COLUMN origin     text NOT NULL DEFAULT 'system' CHECK (origin IN ('system', 'user', 'integration')),
    ADD COLUMN approval   text NOT NULL DEFAULT 'none' CHECK (approval IN ('none', 'pending', 'approved', 'declined')),
    ADD COLUMN decided_by text NOT NULL DEFAULT '',
    ADD COLUMN decided_at timestamptz;
UPDATE charges SET origin = CASE WHEN created_by LIKE 'api:%' THEN 'integration'
                                 WHEN created_by IN ('', 'depositflow') THEN 'system' ELSE 'user' END;
ALTER TABLE deposits
    ADD COLUMN approval   text NOT NULL DEFAULT 'none' CHECK (approval IN ('none', 'pending', 'approved', 'declined')),
    ADD COLUMN decided_by text NOT NULL DEFAULT '',
    ADD COLUMN decided_at timestamptz;

-- What managers keep of a deposit, written by the lease's workflow as it
-- applies a keep (status applied) or holds one for approval (pending), and
-- as a books_admin decides it. request_id is the audit row of the request.
CREATE TABLE keeps (
    keep_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lease_id        text NOT NULL REFERENCES leases (lease_id),
    currency        text NOT NULL,
    amount_in_cents bigint NOT NULL CHECK (amount_in_cents > 0),
    reason          text NOT NULL CHECK (reason <> '' AND length(reason) <= 500),
    requested_by    text NOT NULL,
    request_id      bigint REFERENCES audit_log (audit_id),
    status          text NOT NULL CHECK (status IN ('applied', 'pending', 'declined', 'lapsed')),
    decided_by      text NOT NULL DEFAULT '',
    decided_at      timestamptz,
    idempotency_key text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (lease_id, currency) REFERENCES leases (lease_id, currency)
);
CREATE INDEX keeps_lease_idx ON keeps (lease_id);
CREATE TRIGGER keeps_currency BEFORE INSERT ON keeps FOR EACH ROW EXECUTE FUNCTION lease_currency();

-- Lowering or removing a property's approval threshold waits for a second
-- books_admin: the request is kept here until approved or declined.
CREATE TABLE property_changes (
    change_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    property_id       text NOT NULL REFERENCES properties (property_id),
    threshold_cents   bigint CHECK (threshold_cents > 0), -- NULL: no threshold
    requested_by      text NOT NULL,
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'declined')),
    decided_by        text NOT NULL DEFAULT '',
    decided_at        timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX property_changes_pending_idx ON property_changes (property_id) WHERE status = 'pending';

---- create above / drop below ----
DROP TABLE property_changes;
DROP TABLE keeps;
ALTER TABLE deposits DROP COLUMN decided_at, DROP COLUMN decided_by, DROP COLUMN approval;
ALTER TABLE charges DROP COLUMN decided_at, DROP COLUMN decided_by, DROP COLUMN approval, DROP COLUMN origin;
DROP TRIGGER settlements_currency ON settlements;
DROP TRIGGER invoices_currency ON invoices;
DROP TRIGGER refunds_currency ON refunds;
DROP TRIGGER charges_currency ON charges;
DROP TRIGGER payments_currency ON payments;
DROP TRIGGER deposits_currency ON deposits;
ALTER TABLE settlements DROP COLUMN currency;
ALTER TABLE invoices DROP COLUMN currency;
ALTER TABLE refunds DROP COLUMN currency;
ALTER TABLE charges DROP COLUMN currency;
ALTER TABLE payments DROP COLUMN currency;
ALTER TABLE deposits DROP COLUMN currency;
DROP FUNCTION lease_currency();
DROP TRIGGER leases_move_out_change ON leases;
CREATE TRIGGER residents_change AFTER UPDATE OF realized_move_out_date ON residents
    FOR EACH ROW WHEN (NEW.realized_move_out_date IS DISTINCT FROM OLD.realized_move_out_date)
    EXECUTE FUNCTION log_lease_change();
ALTER TABLE leases DROP CONSTRAINT leases_currency_key,
    DROP COLUMN realized_move_out_at, DROP COLUMN time_zone, DROP COLUMN currency;
ALTER TABLE properties DROP COLUMN time_zone, DROP COLUMN currency;
DROP INDEX audit_log_request_key_idx;
ALTER TABLE audit_log ALTER COLUMN accepted SET NOT NULL,
    DROP COLUMN claimed_at, DROP COLUMN request_key, DROP COLUMN origin, DROP COLUMN principal;
DROP TABLE user_tokens;
DROP TABLE users;
