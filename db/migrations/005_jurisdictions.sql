-- The legal clock (issue #5): a property's jurisdiction (a lease may
-- override it), what interest depends on (the building's size, the lease's
-- start), the tenant's written forwarding address (it starts the clock in
-- some states), the deadlines the workflow computed (mirrored for
-- `deposits compliance`), and the operator's overrides of the embedded rules.

ALTER TABLE properties
    ADD COLUMN jurisdiction   text NOT NULL DEFAULT 'NONE' CHECK (jurisdiction <> ''),
    ADD COLUMN building_units integer NOT NULL DEFAULT 1 CHECK (building_units > 0);

ALTER TABLE leases
    ADD COLUMN jurisdiction          text NOT NULL DEFAULT 'NONE' CHECK (jurisdiction <> ''),
    ADD COLUMN starts_on             date NOT NULL DEFAULT CURRENT_DATE,
    ADD COLUMN forwarding_address    text NOT NULL DEFAULT '',
    ADD COLUMN forwarding_address_at timestamptz,
    ADD COLUMN statement_due         timestamptz,
    ADD COLUMN statutory_deadline    timestamptz,
    ADD COLUMN deadline_note         text NOT NULL DEFAULT '';
CREATE INDEX leases_deadline_idx ON leases (statutory_deadline) WHERE stage <> 'closed';

-- An operator's rule replaces the embedded rule of the same code and
-- effective date, or adds a jurisdiction. rule is the whole record as JSON
-- (the shape of internal/rules.Rule), validated before it is written.
CREATE TABLE jurisdiction_rules (
    code           text NOT NULL CHECK (code <> ''),
    effective_from date NOT NULL,
    rule           jsonb NOT NULL,
    updated_by     text NOT NULL DEFAULT '',
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code, effective_from)
);

---- create above / drop below ----
DROP TABLE jurisdiction_rules;
DROP INDEX leases_deadline_idx;
ALTER TABLE leases
    DROP COLUMN deadline_note,
    DROP COLUMN statutory_deadline,
    DROP COLUMN statement_due,
    DROP COLUMN forwarding_address_at,
    DROP COLUMN forwarding_address,
    DROP COLUMN starts_on,
    DROP COLUMN jurisdiction;
ALTER TABLE properties
    DROP COLUMN building_units,
    DROP COLUMN jurisdiction;
