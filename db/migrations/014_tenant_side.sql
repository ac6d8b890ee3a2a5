-- The tenant's side (issue #17): evidence attached to a deduction, a keep,
-- the lease or a tenant's dispute; the tenant's disputes of the itemized
-- statement, item by item, with the manager's answers; the tenant's
-- acceptance of the statement; and what a settlement held back for the
-- disputes open when it was written.

-- A file is stored once, by its SHA-256, through the blob store
-- (gocloud.dev/blob: DEPOSITS_BLOB_URL); a row says what it is evidence of.
-- The same file on the same subject is one row.
CREATE TABLE evidence (
    evidence_id  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lease_id     text NOT NULL REFERENCES leases (lease_id),
    subject      text NOT NULL CHECK (subject IN ('lease', 'charge', 'keep', 'dispute')),
    subject_id   bigint NOT NULL DEFAULT 0 CHECK (subject_id >= 0),
    side         text NOT NULL CHECK (side IN ('manager', 'tenant')),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/gif', 'image/webp', 'application/pdf')),
    size_bytes   bigint NOT NULL CHECK (size_bytes > 0),
    filename     text NOT NULL CHECK (length(filename) BETWEEN 1 AND 200),
    uploaded_by  text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK ((subject = 'lease') = (subject_id = 0)),
    UNIQUE (lease_id, subject, subject_id, sha256)
);
CREATE INDEX evidence_lease_idx ON evidence (lease_id, evidence_id);

-- One row per disputed item (a deduction or arrears charge, or a keep):
-- opened by the tenant with a message, answered by the manager (offered,
-- conceded, maintained), an offer accepted by the tenant (agreed). The
-- settlement holds what the deposit still covers of each open item
-- (held_cents); a resolution pays refund_cents back and applies the rest.
CREATE TABLE disputes (
    dispute_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lease_id        text NOT NULL REFERENCES leases (lease_id),
    resident_id     bigint NOT NULL REFERENCES residents (resident_id),
    subject         text NOT NULL CHECK (subject IN ('charge', 'keep')),
    subject_id      bigint NOT NULL,
    description     text NOT NULL,
    amount_cents    bigint NOT NULL CHECK (amount_cents > 0),
    tenant_message  text NOT NULL CHECK (tenant_message <> '' AND length(tenant_message) <= 2000),
    status          text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'offered', 'conceded', 'maintained', 'agreed')),
    offer_cents     bigint CHECK (offer_cents > 0),
    manager_message text NOT NULL DEFAULT '' CHECK (length(manager_message) <= 2000),
    answered_by     text NOT NULL DEFAULT '',
    answered_at     timestamptz,
    agreed_at       timestamptz,
    held_cents      bigint NOT NULL DEFAULT 0 CHECK (held_cents >= 0 AND held_cents <= amount_cents),
    held            boolean NOT NULL DEFAULT false,
    refund_cents    bigint NOT NULL DEFAULT 0 CHECK (refund_cents >= 0),
    applied_cents   bigint NOT NULL DEFAULT 0 CHECK (applied_cents >= 0),
    settled_at      timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (status <> 'offered' OR offer_cents IS NOT NULL),
    CHECK (offer_cents IS NULL OR offer_cents < amount_cents),
    CHECK (settled_at IS NULL OR refund_cents + applied_cents = held_cents),
    UNIQUE (lease_id, subject, subject_id)
);
CREATE INDEX disputes_lease_idx ON disputes (lease_id, dispute_id);

ALTER TABLE settlements ADD COLUMN disputed_cents bigint NOT NULL DEFAULT 0
    CHECK (disputed_cents >= 0 AND disputed_cents <= received_cents + interest_cents + credits_cents - refund_cents);

ALTER TABLE leases
    ADD COLUMN statement_accepted_at timestamptz,
    ADD COLUMN statement_accepted_by text NOT NULL DEFAULT '';

---- create above / drop below ----
ALTER TABLE leases DROP COLUMN statement_accepted_by, DROP COLUMN statement_accepted_at;
ALTER TABLE settlements DROP COLUMN disputed_cents;
DROP TABLE disputes;
DROP TABLE evidence;
