-- The database is the book of record (issue #15): the emails and statements
-- are built from its rows, so what only a lease's workflow knows is mirrored
-- into the lease's row by the workflow as it changes: whether the deposit is
-- on hold, the end of the assessment window, the rule and its clock in words,
-- the tenant's objection window, the interest owed and why, a missed
-- deadline and whether it forfeited the deductions, when the itemized
-- statement went out, and why the books disagreed at the settlement.
-- (release_at, statement_due, statutory_deadline and deadline_note were
-- already mirrored; release_at now follows every extend and hold too.)
ALTER TABLE leases
    ADD COLUMN on_hold           boolean NOT NULL DEFAULT false,
    ADD COLUMN assess_until      timestamptz,
    ADD COLUMN rule_label        text NOT NULL DEFAULT '',
    ADD COLUMN clock_started     boolean NOT NULL DEFAULT false,
    ADD COLUMN clock_why         text NOT NULL DEFAULT '',
    ADD COLUMN objection_ends    timestamptz,
    ADD COLUMN interest_cents    bigint NOT NULL DEFAULT 0 CHECK (interest_cents >= 0),
    ADD COLUMN interest_why      text NOT NULL DEFAULT '',
    ADD COLUMN forfeited         boolean NOT NULL DEFAULT false,
    ADD COLUMN deadline_missed   text NOT NULL DEFAULT '',
    ADD COLUMN statement_sent_at timestamptz,
    ADD COLUMN books_disagree    text NOT NULL DEFAULT '';

---- create above / drop below ----
ALTER TABLE leases
    DROP COLUMN books_disagree,
    DROP COLUMN statement_sent_at,
    DROP COLUMN deadline_missed,
    DROP COLUMN forfeited,
    DROP COLUMN interest_why,
    DROP COLUMN interest_cents,
    DROP COLUMN objection_ends,
    DROP COLUMN clock_why,
    DROP COLUMN clock_started,
    DROP COLUMN rule_label,
    DROP COLUMN assess_until,
    DROP COLUMN on_hold;
