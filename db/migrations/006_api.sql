-- Property-management sync (issue #7): residents known by the PMS's own IDs,
-- API keys for integrations, and a change log that lets reconcile read only
-- what changed since its last pass.

-- A resident posted by a PMS carries the PMS's ID, unique within its property
-- (an API key is scoped to properties, so a resident belongs to one).
ALTER TABLE residents
    ADD COLUMN property_id text REFERENCES properties (property_id),
    ADD COLUMN external_id text,
    ADD COLUMN updated_at  timestamptz NOT NULL DEFAULT now(),
    ADD CONSTRAINT residents_external_check CHECK (external_id IS NULL OR (external_id <> '' AND property_id IS NOT NULL));
CREATE UNIQUE INDEX residents_external_idx ON residents (property_id, external_id) WHERE external_id IS NOT NULL;

-- One key per integration, stored as the SHA-256 of a 256-bit random key:
-- the key itself is shown once and never stored. properties is its scope;
-- '*' means every property.
CREATE TABLE api_keys (
    api_key_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL UNIQUE CHECK (name <> ''),
    key_hash    bytea NOT NULL UNIQUE CHECK (length(key_hash) = 32),
    key_prefix  text NOT NULL,
    properties  text[] NOT NULL CHECK (cardinality(properties) > 0),
    created_by  text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    revoked_at  timestamptz
);

-- The change log: every fact a lease's workflow must see (a new lease, a
-- payment or its return, a charge, a deposit amendment, a move-out date) adds
-- a row here, by trigger, in the same transaction as the fact, however it was
-- written: the CLI, the API, an import or plain SQL. txid is the writing
-- transaction's ID. Reconcile reads the rows with txid below the oldest
-- transaction still running (pg_snapshot_xmin), so a transaction that commits
-- late is never skipped, and then moves its watermark there.
CREATE TABLE lease_changes (
    change_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lease_id  text NOT NULL,
    kind      text NOT NULL,
    txid      bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX lease_changes_txid_idx ON lease_changes (txid);

-- A move-out date is a change of every lease of the resident: the trigger
-- finds them by resident.
CREATE INDEX lease_residents_resident_idx ON lease_residents (resident_id);
CREATE INDEX leases_resident_idx ON leases (resident_id);

CREATE TABLE reconcile_watermark (
    name       text PRIMARY KEY,
    txid       bigint NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION log_lease_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'residents' THEN
        INSERT INTO lease_changes (lease_id, kind)
        SELECT lease_id, 'move_out' FROM lease_residents WHERE resident_id = NEW.resident_id
        UNION
        SELECT lease_id, 'move_out' FROM leases WHERE resident_id = NEW.resident_id;
    ELSE
        INSERT INTO lease_changes (lease_id, kind) VALUES (NEW.lease_id, TG_TABLE_NAME);
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER leases_change AFTER INSERT ON leases
    FOR EACH ROW EXECUTE FUNCTION log_lease_change();
CREATE TRIGGER payments_change AFTER INSERT OR UPDATE OF returned_at ON payments
    FOR EACH ROW EXECUTE FUNCTION log_lease_change();
-- The deposit charge and the first deposit row are the workflow's own writes.
CREATE TRIGGER charges_change AFTER INSERT ON charges
    FOR EACH ROW WHEN (NEW.charge_code_id <> 'DEPOSIT') EXECUTE FUNCTION log_lease_change();
CREATE TRIGGER deposits_change AFTER INSERT ON deposits
    FOR EACH ROW WHEN (NEW.source = 'amendment') EXECUTE FUNCTION log_lease_change();
CREATE TRIGGER residents_change AFTER UPDATE OF realized_move_out_date ON residents
    FOR EACH ROW WHEN (NEW.realized_move_out_date IS DISTINCT FROM OLD.realized_move_out_date)
    EXECUTE FUNCTION log_lease_change();

---- create above / drop below ----
DROP TRIGGER residents_change ON residents;
DROP TRIGGER deposits_change ON deposits;
DROP TRIGGER charges_change ON charges;
DROP TRIGGER payments_change ON payments;
DROP TRIGGER leases_change ON leases;
DROP FUNCTION log_lease_change();
DROP TABLE reconcile_watermark;
DROP INDEX leases_resident_idx;
DROP INDEX lease_residents_resident_idx;
DROP TABLE lease_changes;
DROP TABLE api_keys;
DROP INDEX residents_external_idx;
ALTER TABLE residents DROP CONSTRAINT residents_external_check,
    DROP COLUMN updated_at, DROP COLUMN external_id, DROP COLUMN property_id;
