-- Money that never drifts: deposit types and amendments, returned payments,
-- co-tenants with shares, credits, and one settlement row per lease that
-- holds every term of the refund maths.

-- Deposit rows (seed 001): a guarantee names its guarantor; a payee change is
-- an amendment too, and the newest payee receives the refund.
ALTER TABLE deposits
    ADD COLUMN guarantor   text NOT NULL DEFAULT '',
    ADD COLUMN payee_email text NOT NULL DEFAULT '',
    ADD COLUMN payee_name  text NOT NULL DEFAULT '',
    ADD COLUMN created_by  text NOT NULL DEFAULT '';
-- A row changes the amount, or (amount 0) only the payee.
ALTER TABLE deposits DROP CONSTRAINT deposits_amount_in_cents_check;
ALTER TABLE deposits ADD CONSTRAINT deposits_row_check CHECK (amount_in_cents <> 0 OR payee_email <> '');
ALTER TABLE deposits ADD CONSTRAINT deposits_guarantor_check CHECK (deposit_type <> 'guarantee' OR guarantor <> '');

-- A returned payment (NSF, seed 003) is marked, never deleted.
ALTER TABLE payments
    ADD COLUMN returned_at   timestamptz,
    ADD COLUMN return_reason text NOT NULL DEFAULT '',
    ADD COLUMN returned_by   text NOT NULL DEFAULT '';

ALTER TABLE properties ADD COLUMN nsf_fee_cents bigint NOT NULL DEFAULT 2500 CHECK (nsf_fee_cents >= 0);

-- Credits to the tenant (unallocated credit notes, seed 002) add to the refund.
ALTER TABLE charge_codes DROP CONSTRAINT charge_codes_category_check;
ALTER TABLE charge_codes ADD CONSTRAINT charge_codes_category_check
    CHECK (category IN ('deposit', 'arrears', 'deduction', 'credit'));
INSERT INTO charge_codes (charge_code_id, description, is_deposit, category)
VALUES ('CREDIT', 'Credit to the tenant', false, 'credit');

-- Co-tenants: every resident of a lease with a share of the refund.
CREATE TABLE lease_residents (
    lease_id    text NOT NULL REFERENCES leases (lease_id),
    resident_id bigint NOT NULL REFERENCES residents (resident_id),
    position    integer NOT NULL,
    share       integer NOT NULL DEFAULT 1 CHECK (share > 0),
    PRIMARY KEY (lease_id, resident_id),
    UNIQUE (lease_id, position)
);
INSERT INTO lease_residents (lease_id, resident_id, position)
SELECT lease_id, resident_id, 1 FROM leases;

-- One settlement per lease: the terms it was computed from and its result.
-- Refund payouts (one per co-tenant, or one to the payee) and the invoice
-- point at it.
CREATE TABLE settlements (
    settlement_id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lease_id              text NOT NULL UNIQUE REFERENCES leases (lease_id),
    received_cents        bigint NOT NULL,
    interest_cents        bigint NOT NULL DEFAULT 0,
    arrears_cents         bigint NOT NULL,
    deductions_cents      bigint NOT NULL,
    kept_cents            bigint NOT NULL,
    earlier_refunds_cents bigint NOT NULL DEFAULT 0,
    credits_cents         bigint NOT NULL DEFAULT 0,
    refund_cents          bigint NOT NULL CHECK (refund_cents >= 0),
    balance_owed_cents    bigint NOT NULL CHECK (balance_owed_cents >= 0),
    guarantee_cents       bigint NOT NULL DEFAULT 0,
    outcome               text NOT NULL,
    kept                  jsonb NOT NULL DEFAULT '[]',
    idempotency_key       text NOT NULL UNIQUE,
    created_at            timestamptz NOT NULL DEFAULT now(),
    CHECK (refund_cents = 0 OR balance_owed_cents = 0),
    -- The maths, checked by the database too.
    CHECK (refund_cents - balance_owed_cents = received_cents + interest_cents + credits_cents
           - arrears_cents - deductions_cents - kept_cents - earlier_refunds_cents)
);
ALTER TABLE refunds ADD COLUMN settlement_id bigint REFERENCES settlements (settlement_id);
ALTER TABLE invoices ADD COLUMN settlement_id bigint REFERENCES settlements (settlement_id);

---- create above / drop below ----
ALTER TABLE invoices DROP COLUMN settlement_id;
ALTER TABLE refunds DROP COLUMN settlement_id;
DROP TABLE settlements;
DROP TABLE lease_residents;
DELETE FROM charge_codes WHERE charge_code_id = 'CREDIT';
ALTER TABLE charge_codes DROP CONSTRAINT charge_codes_category_check;
ALTER TABLE charge_codes ADD CONSTRAINT charge_codes_category_check CHECK (category IN ('deposit', 'arrears', 'deduction'));
ALTER TABLE properties DROP COLUMN nsf_fee_cents;
ALTER TABLE payments DROP COLUMN returned_by, DROP COLUMN return_reason, DROP COLUMN returned_at;
ALTER TABLE deposits DROP CONSTRAINT deposits_guarantor_check;
ALTER TABLE deposits DROP CONSTRAINT deposits_row_check;
ALTER TABLE deposits DROP COLUMN created_by, DROP COLUMN payee_name, DROP COLUMN payee_email, DROP COLUMN guarantor;
