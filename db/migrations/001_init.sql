-- The schema follows the Propexo-style model in the seeds (properties, units,
-- listings, residents, leases, charge codes, charges, payments, invoices) and adds
-- what a deposit engine owns: deposit rows, refunds, an email outbox and an audit
-- log. Money is always bigint cents.

CREATE TABLE properties (
    property_id   text PRIMARY KEY CHECK (property_id <> ''),
    name          text NOT NULL DEFAULT '',
    manager_email text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- A unit is named within its property ("4B" exists in many buildings).
CREATE TABLE units (
    property_id text NOT NULL REFERENCES properties (property_id),
    unit_id     text NOT NULL CHECK (unit_id <> ''),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (property_id, unit_id)
);

-- The publicly advertised deposit of a unit: where the expected deposit comes from.
CREATE TABLE listings (
    listing_id              text PRIMARY KEY CHECK (listing_id <> ''),
    property_id             text NOT NULL,
    unit_id                 text NOT NULL,
    deposit_amount_in_cents bigint NOT NULL CHECK (deposit_amount_in_cents >= 0),
    created_at              timestamptz NOT NULL DEFAULT now(),
    updated_at              timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (property_id, unit_id) REFERENCES units (property_id, unit_id)
);

CREATE TABLE residents (
    resident_id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email                  text NOT NULL CHECK (email <> ''),
    name                   text NOT NULL DEFAULT '',
    forwarding_address     text NOT NULL DEFAULT '',
    realized_move_out_date date,
    created_at             timestamptz NOT NULL DEFAULT now()
);

-- A lease carries the deposit terms its workflow was started with. stage and
-- outcome mirror the workflow (written by its activities) so that lists and
-- reports can be read from SQL; the workflow's query stays the live truth.
CREATE TABLE leases (
    lease_id              text PRIMARY KEY CHECK (lease_id <> ''),
    property_id           text NOT NULL,
    unit_id               text NOT NULL,
    listing_id            text REFERENCES listings (listing_id),
    resident_id           bigint NOT NULL REFERENCES residents (resident_id),
    requested_cents       bigint CHECK (requested_cents > 0),
    assess_for_seconds    bigint NOT NULL CHECK (assess_for_seconds > 0),
    release_after_seconds bigint NOT NULL CHECK (release_after_seconds > 0),
    stage                 text NOT NULL DEFAULT 'awaiting_payment',
    outcome               text NOT NULL DEFAULT '',
    moved_out_at          timestamptz,
    release_at            timestamptz,
    closed_at             timestamptz,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (property_id, unit_id) REFERENCES units (property_id, unit_id)
);
CREATE INDEX leases_stage_idx ON leases (stage, property_id);

-- category says how a charge counts in the refund: the deposit itself, arrears
-- (rent, fees: what the tenant owes on the ledger) or a deduction (move-out
-- cleaning, damage).
CREATE TABLE charge_codes (
    charge_code_id text PRIMARY KEY,
    description    text NOT NULL,
    is_deposit     boolean NOT NULL DEFAULT false,
    category       text NOT NULL CHECK (category IN ('deposit', 'arrears', 'deduction')),
    CHECK (is_deposit = (category = 'deposit'))
);
INSERT INTO charge_codes (charge_code_id, description, is_deposit, category) VALUES
    ('DEPOSIT',   'Security deposit',        true,  'deposit'),
    ('RENT',      'Unpaid rent',             false, 'arrears'),
    ('UTILITIES', 'Unpaid utilities',        false, 'arrears'),
    ('NSF_FEE',   'Returned payment fee',    false, 'arrears'),
    ('CLEANING',  'Cleaning',                false, 'deduction'),
    ('DAMAGE',    'Damage repair',           false, 'deduction'),
    ('OTHER',     'Other move-out charge',   false, 'deduction');

-- Rows of the resident ledger. idempotency_key is set when a workflow activity
-- writes the row (so a retry cannot write it twice); manager-entered charges
-- have none.
CREATE TABLE charges (
    charge_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lease_id        text NOT NULL REFERENCES leases (lease_id),
    resident_id     bigint NOT NULL REFERENCES residents (resident_id),
    charge_code_id  text NOT NULL REFERENCES charge_codes (charge_code_id),
    amount_in_cents bigint NOT NULL CHECK (amount_in_cents > 0),
    description     text NOT NULL DEFAULT '',
    idempotency_key text UNIQUE,
    created_by      text NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX charges_lease_idx ON charges (lease_id);

-- Payments toward the deposit. reference is the manager's or the bank's
-- reference; it is unique per lease so that entering the same payment twice is
-- refused instead of counted twice.
CREATE TABLE payments (
    payment_id       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lease_id         text NOT NULL REFERENCES leases (lease_id),
    resident_id      bigint NOT NULL REFERENCES residents (resident_id),
    amount_in_cents  bigint NOT NULL CHECK (amount_in_cents > 0),
    transaction_date date NOT NULL,
    reference        text NOT NULL,
    created_by       text NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (lease_id, reference)
);

-- Deposit rows, PeopleSoft style: an amendment adds a row (negative to lower),
-- rows are never edited. The foundation writes the one cash row it expects.
CREATE TABLE deposits (
    deposit_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lease_id        text NOT NULL REFERENCES leases (lease_id),
    deposit_type    text NOT NULL DEFAULT 'cash' CHECK (deposit_type IN ('cash', 'guarantee', 'prepaid')),
    amount_in_cents bigint NOT NULL CHECK (amount_in_cents <> 0),
    source          text NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- A refund is a payable to the tenant: amount, the terms it came from, and the
-- recipient's contact details, like the seeds' refund invoice.
CREATE TABLE refunds (
    refund_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lease_id           text NOT NULL REFERENCES leases (lease_id),
    resident_id        bigint NOT NULL REFERENCES residents (resident_id),
    amount_in_cents    bigint NOT NULL CHECK (amount_in_cents > 0),
    received_cents     bigint NOT NULL,
    arrears_cents      bigint NOT NULL,
    deductions_cents   bigint NOT NULL,
    recipient_name     text NOT NULL,
    recipient_email    text NOT NULL,
    recipient_address  text NOT NULL DEFAULT '',
    status             text NOT NULL DEFAULT 'payable',
    idempotency_key    text NOT NULL UNIQUE,
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- An invoice for what the tenant owes beyond the deposit.
CREATE TABLE invoices (
    invoice_id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lease_id            text NOT NULL REFERENCES leases (lease_id),
    resident_id         bigint NOT NULL REFERENCES residents (resident_id),
    amount_due_in_cents bigint NOT NULL CHECK (amount_due_in_cents > 0),
    received_cents      bigint NOT NULL,
    arrears_cents       bigint NOT NULL,
    deductions_cents    bigint NOT NULL,
    recipient_name      text NOT NULL,
    recipient_email     text NOT NULL,
    recipient_address   text NOT NULL DEFAULT '',
    status              text NOT NULL DEFAULT 'open',
    idempotency_key     text NOT NULL UNIQUE,
    created_at          timestamptz NOT NULL DEFAULT now()
);

-- Every email the engine sends is written here first under its idempotency
-- key; sent_at is set once the SMTP server accepted it, so a retried activity
-- finds it sent and does not mail again.
CREATE TABLE email_outbox (
    email_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    idempotency_key text NOT NULL UNIQUE,
    lease_id        text NOT NULL REFERENCES leases (lease_id),
    kind            text NOT NULL,
    message_id      text NOT NULL UNIQUE,
    recipient       text NOT NULL,
    subject         text NOT NULL,
    attempts        integer NOT NULL DEFAULT 1,
    last_error      text NOT NULL DEFAULT '',
    sent_at         timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- Every action a person takes, accepted or refused.
CREATE TABLE audit_log (
    audit_id   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         timestamptz NOT NULL DEFAULT now(),
    actor      text NOT NULL,
    role       text NOT NULL,
    lease_id   text NOT NULL DEFAULT '',
    action     text NOT NULL,
    request    jsonb NOT NULL DEFAULT '{}',
    accepted   boolean NOT NULL,
    result     text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_lease_idx ON audit_log (lease_id, at);

---- create above / drop below ----
DROP TABLE audit_log;
DROP TABLE email_outbox;
DROP TABLE invoices;
DROP TABLE refunds;
DROP TABLE deposits;
DROP TABLE payments;
DROP TABLE charges;
DROP TABLE charge_codes;
DROP TABLE leases;
DROP TABLE residents;
DROP TABLE listings;
DROP TABLE units;
DROP TABLE properties;
