-- Money moved before the settlement and open invoices (#16, seed 002's
-- "Add refund/transfer" and "Search for existing invoice").
--
-- A transfer moves all or part of a lease's refundable amount to another
-- lease of the same operator, in the same currency (the tenant renews or
-- moves to another unit). On the source it is an earlier refund/transfer of
-- the refundable formula; on the target it is received toward the deposit:
-- a payment row (transfer_id set) written in the same transaction, so the
-- target's workflow, receipt, ledger and statement see it as a payment.
--
-- A partial refund pays out part of the refundable amount before the
-- settlement: refund rows (settlement_id NULL, partial_refund_id set), split
-- among the payees as the settlement's payouts are.
--
-- An open invoice is arrears the PMS (or a manager) holds open against the
-- tenant; applying the deposit to it writes an arrears charge (code
-- INVOICE, open_invoice_id set) that the settlement takes from the deposit.

CREATE TABLE transfers (
    transfer_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    from_lease_id   text NOT NULL REFERENCES leases (lease_id),
    to_lease_id     text NOT NULL REFERENCES leases (lease_id),
    currency        text NOT NULL,
    amount_in_cents bigint NOT NULL CHECK (amount_in_cents > 0),
    reason          text NOT NULL DEFAULT '',
    created_by      text NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK (from_lease_id <> to_lease_id),
    -- Never between currencies: both leases are in the transfer's.
    FOREIGN KEY (from_lease_id, currency) REFERENCES leases (lease_id, currency),
    FOREIGN KEY (to_lease_id, currency) REFERENCES leases (lease_id, currency)
);
CREATE INDEX transfers_from_idx ON transfers (from_lease_id);
CREATE INDEX transfers_to_idx ON transfers (to_lease_id);

ALTER TABLE payments ADD COLUMN transfer_id bigint UNIQUE REFERENCES transfers (transfer_id);

CREATE TABLE partial_refunds (
    partial_refund_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lease_id          text NOT NULL REFERENCES leases (lease_id),
    currency          text NOT NULL,
    amount_in_cents   bigint NOT NULL CHECK (amount_in_cents > 0),
    reason            text NOT NULL DEFAULT '',
    created_by        text NOT NULL,
    idempotency_key   text NOT NULL UNIQUE,
    created_at        timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (lease_id, currency) REFERENCES leases (lease_id, currency)
);
CREATE INDEX partial_refunds_lease_idx ON partial_refunds (lease_id);

ALTER TABLE refunds ADD COLUMN partial_refund_id bigint REFERENCES partial_refunds (partial_refund_id);

CREATE TABLE open_invoices (
    open_invoice_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lease_id        text NOT NULL REFERENCES leases (lease_id),
    currency        text NOT NULL,
    reference       text NOT NULL,
    amount_in_cents bigint NOT NULL CHECK (amount_in_cents > 0),
    description     text NOT NULL,
    created_by      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (lease_id, reference),
    FOREIGN KEY (lease_id, currency) REFERENCES leases (lease_id, currency)
);

INSERT INTO charge_codes (charge_code_id, description, is_deposit, category)
VALUES ('INVOICE', 'Open invoice paid from the deposit', false, 'arrears');
ALTER TABLE charges ADD COLUMN open_invoice_id bigint REFERENCES open_invoices (open_invoice_id);
CREATE INDEX charges_open_invoice_idx ON charges (open_invoice_id) WHERE open_invoice_id IS NOT NULL;

CREATE OR REPLACE FUNCTION journal_desired(p_lease text) RETURNS TABLE (account text, cents bigint)
LANGUAGE sql STABLE AS $$
WITH
st AS (SELECT * FROM settlements WHERE lease_id = p_lease),
receipts AS (
    -- Money received and held: payments not returned, prepaid deposit rows.
    -- In the trust bank once a deposit batch took it there.
    SELECT p.amount_in_cents AS cents, EXISTS (SELECT 1 FROM deposit_batch_items b WHERE b.payment_id = p.payment_id) AS banked
    -- A payment that is a transfer in (#16) posts with its transfer, below.
    FROM payments p WHERE p.lease_id = p_lease AND p.returned_at IS NULL AND p.transfer_id IS NULL
    UNION ALL
    SELECT d.amount_in_cents, EXISTS (SELECT 1 FROM deposit_batch_items b WHERE b.deposit_id = d.deposit_id)
    FROM deposits d WHERE d.lease_id = p_lease AND d.deposit_type = 'prepaid' AND d.approval IN ('none', 'approved')
),
charged AS (
    SELECT c.amount_in_cents AS cents, cc.category, c.created_at
    FROM charges c JOIN charge_codes cc USING (charge_code_id)
    WHERE c.lease_id = p_lease AND c.approval IN ('none', 'approved')
),
billing AS (
    -- A deposit charged and not yet paid, while the lease is not settled.
    SELECT GREATEST(
        COALESCE((SELECT sum(d.amount_in_cents) FROM deposits d WHERE d.lease_id = p_lease AND d.deposit_type = 'cash' AND d.approval IN ('none', 'approved')), 0)
      - COALESCE((SELECT sum(p.amount_in_cents) FROM payments p WHERE p.lease_id = p_lease AND p.returned_at IS NULL), 0), 0)::bigint AS cents
    WHERE EXISTS (SELECT 1 FROM charged WHERE category = 'deposit') AND NOT EXISTS (SELECT 1 FROM st)
),
accrued AS (SELECT COALESCE(sum(amount_cents), 0)::bigint AS cents FROM interest_accruals WHERE lease_id = p_lease),
disputed AS (
    -- Disputed items a settlement holds (#17): their money stays in the
    -- liability until each is resolved; a disputed charge stays owed, a
    -- disputed keep is not income yet.
    SELECT dp.held_cents, dp.applied_cents, dp.refund_cents, dp.settled_at IS NOT NULL AS resolved,
           dp.subject = 'charge' AS charge,
           CASE WHEN cc.category = 'arrears' THEN 'fee_income' ELSE 'damage_income' END AS income
    FROM disputes dp
    LEFT JOIN charges c ON dp.subject = 'charge' AND c.charge_id = dp.subject_id
    LEFT JOIN charge_codes cc ON cc.charge_code_id = c.charge_code_id
    WHERE dp.lease_id = p_lease AND dp.held AND dp.held_cents > 0 AND EXISTS (SELECT 1 FROM st)
),
moves AS (
    -- Transfers of refundable money between leases (#16): out of this
    -- lease (the source's liability goes down) or into it (the target's
    -- goes up). Between two properties the money also leaves one trust
    -- bank account for the other; within one property it stays in the
    -- same account, and the transfer is one entry of the two leases.
    SELECT t.amount_in_cents AS cents, t.from_lease_id = p_lease AS outgoing, fl.property_id <> tl.property_id AS across
    FROM transfers t
    JOIN leases fl ON fl.lease_id = t.from_lease_id
    JOIN leases tl ON tl.lease_id = t.to_lease_id
    WHERE t.from_lease_id = p_lease OR t.to_lease_id = p_lease
),
pre AS (
    -- The charges the settlement counted (written before it): what a
    -- missed deadline forfeited is what it did not apply of them.
    SELECT COALESCE(sum(c.cents) FILTER (WHERE c.category = 'arrears'), 0)::bigint AS arrears,
           COALESCE(sum(c.cents) FILTER (WHERE c.category = 'deduction'), 0)::bigint AS deductions
    FROM charged c, st WHERE c.created_at <= st.created_at
),
lines (account, cents) AS (
    SELECT CASE WHEN banked THEN 'trust_bank' ELSE 'undeposited_funds' END, cents FROM receipts
    UNION ALL SELECT 'security_deposit_liability', -cents FROM receipts
    UNION ALL SELECT 'tenant_receivable', cents FROM billing
    UNION ALL SELECT 'deposits_billed', -cents FROM billing
    UNION ALL SELECT 'tenant_receivable', cents FROM charged WHERE category IN ('arrears', 'deduction')
    UNION ALL SELECT CASE category WHEN 'arrears' THEN 'fee_income' ELSE 'damage_income' END, -cents FROM charged WHERE category IN ('arrears', 'deduction')
    UNION ALL SELECT 'tenant_credits', cents FROM charged WHERE category = 'credit'
    UNION ALL SELECT 'security_deposit_liability', -cents FROM charged WHERE category = 'credit'
    UNION ALL SELECT 'interest_expense', cents FROM accrued
    UNION ALL SELECT 'security_deposit_liability', -cents FROM accrued
    -- The settlement: everything held leaves the liability; the interest
    -- owed beyond what was credited is expensed; the refund becomes payable;
    -- arrears and deductions are paid from the deposit (their receivable
    -- cleared), kept amounts become income, and a balance beyond the
    -- deposit stays receivable (invoiced).
    UNION ALL SELECT 'security_deposit_liability', st.received_cents + st.credits_cents + accrued.cents - st.earlier_refunds_cents FROM st, accrued
    UNION ALL SELECT 'interest_expense', st.interest_cents - accrued.cents FROM st, accrued
    UNION ALL SELECT 'tenant_receivable', st.balance_owed_cents - st.arrears_cents - st.deductions_cents FROM st
    UNION ALL SELECT 'refunds_payable', -st.refund_cents FROM st
    UNION ALL SELECT 'damage_income', -st.kept_cents FROM st
    -- What it did not apply of the charges written before it (forfeited by
    -- a missed deadline) is no longer owed: receivable and income reversed.
    UNION ALL SELECT 'fee_income', pre.arrears - st.arrears_cents FROM st, pre
    UNION ALL SELECT 'damage_income', pre.deductions - st.deductions_cents FROM st, pre
    UNION ALL SELECT 'tenant_receivable', -(pre.arrears - st.arrears_cents + pre.deductions - st.deductions_cents) FROM st, pre
    -- What the settlement holds for disputed items stays in the liability:
    -- the charge it would have paid stays receivable, the keep is not income.
    UNION ALL SELECT 'security_deposit_liability', -held_cents FROM disputed
    UNION ALL SELECT CASE WHEN charge THEN 'tenant_receivable' ELSE 'damage_income' END, held_cents FROM disputed
    -- A resolution applies what it does not pay back (paying the charge,
    -- or making the keep income); what it pays back of a charge is no
    -- longer owed (its income reversed). The payback itself is a refund
    -- outside the settlement, below.
    UNION ALL SELECT 'security_deposit_liability', applied_cents FROM disputed WHERE resolved
    UNION ALL SELECT CASE WHEN charge THEN 'tenant_receivable' ELSE 'damage_income' END, -applied_cents FROM disputed WHERE resolved
    UNION ALL SELECT income, refund_cents FROM disputed WHERE resolved AND charge
    UNION ALL SELECT 'tenant_receivable', -refund_cents FROM disputed WHERE resolved AND charge
    -- A transfer moves the liability from the source lease to the target;
    -- across properties, the trust bank too.
    UNION ALL SELECT 'security_deposit_liability', CASE WHEN outgoing THEN cents ELSE -cents END FROM moves
    UNION ALL SELECT 'trust_bank', CASE WHEN outgoing THEN -cents ELSE cents END FROM moves WHERE across
    -- A refund outside the settlement (a partial refund before it, a
    -- follow-up of a late payment or credit, or a lease settled before
    -- settlements existed) is paid from what is held.
    UNION ALL SELECT 'security_deposit_liability', r.amount_in_cents FROM refunds r WHERE r.lease_id = p_lease AND r.settlement_id IS NULL
    UNION ALL SELECT 'refunds_payable', -r.amount_in_cents FROM refunds r WHERE r.lease_id = p_lease AND r.settlement_id IS NULL
    -- A refund paid leaves the trust bank.
    UNION ALL SELECT 'refunds_payable', r.amount_in_cents FROM refunds r WHERE r.lease_id = p_lease AND r.status = 'paid'
    UNION ALL SELECT 'trust_bank', -r.amount_in_cents FROM refunds r WHERE r.lease_id = p_lease AND r.status = 'paid'
)
SELECT account, sum(cents)::bigint FROM lines GROUP BY account
$$;

-- A transfer posts when it is written: within one property as one entry of
-- both leases, across properties as one entry in each.
CREATE FUNCTION journal_post_transfer() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r transfers;
    v_same boolean;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := OLD;
    ELSE
        r := NEW;
    END IF;
    SELECT fl.property_id = tl.property_id INTO v_same
    FROM leases fl, leases tl WHERE fl.lease_id = r.from_lease_id AND tl.lease_id = r.to_lease_id;
    IF v_same THEN
        PERFORM journal_sync(ARRAY[r.from_lease_id, r.to_lease_id], CASE WHEN TG_OP = 'INSERT' THEN 'transfer' ELSE 'correction' END,
                             'transfers:' || r.transfer_id, NULL, 'transfer ' || r.from_lease_id || ' to ' || r.to_lease_id);
    ELSE
        PERFORM journal_sync(ARRAY[r.from_lease_id], CASE WHEN TG_OP = 'INSERT' THEN 'transfer_out' ELSE 'correction' END,
                             'transfers:' || r.transfer_id, NULL, 'transfer to ' || r.to_lease_id);
        PERFORM journal_sync(ARRAY[r.to_lease_id], CASE WHEN TG_OP = 'INSERT' THEN 'transfer_in' ELSE 'correction' END,
                             'transfers:' || r.transfer_id, NULL, 'transfer from ' || r.from_lease_id);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER transfers_journal AFTER INSERT OR UPDATE OR DELETE ON transfers
    FOR EACH ROW EXECUTE FUNCTION journal_post_transfer();

-- Reconcile's passes see them: a transfer is a change of its source (the
-- target's payment row logs itself), a partial refund of its lease.
CREATE FUNCTION log_transfer_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO lease_changes (lease_id, kind) VALUES (NEW.from_lease_id, 'transfers');
    RETURN NULL;
END $$;
CREATE TRIGGER transfers_change AFTER INSERT ON transfers
    FOR EACH ROW EXECUTE FUNCTION log_transfer_change();
CREATE TRIGGER partial_refunds_change AFTER INSERT ON partial_refunds
    FOR EACH ROW EXECUTE FUNCTION log_lease_change();

-- A deposit batch takes receipts to the bank: a transfer in is no new
-- money (it is in the trust account already), so it is never batched.
CREATE OR REPLACE FUNCTION create_deposit_batch(p_property text, p_currency text, p_date date, p_key text, p_by text, p_reference text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_batch bigint;
    v_items jsonb;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('deposit_batch/' || p_property));
    SELECT batch_id INTO v_batch FROM deposit_batches WHERE idempotency_key = p_key;
    IF FOUND THEN
        RETURN v_batch;
    END IF;
    SELECT jsonb_agg(jsonb_build_object('lease_id', lease_id, 'payment_id', payment_id, 'deposit_id', deposit_id, 'cents', cents))
    INTO v_items
    FROM (
        SELECT p.lease_id, p.payment_id, NULL::bigint AS deposit_id, p.amount_in_cents AS cents
        FROM payments p JOIN leases l USING (lease_id)
        WHERE l.property_id = p_property AND p.currency = p_currency AND p.returned_at IS NULL AND p.transfer_id IS NULL AND p.transaction_date <= p_date
          AND NOT EXISTS (SELECT 1 FROM deposit_batch_items b WHERE b.payment_id = p.payment_id)
        UNION ALL
        SELECT d.lease_id, NULL, d.deposit_id, d.amount_in_cents
        FROM deposits d JOIN leases l USING (lease_id)
        WHERE l.property_id = p_property AND d.currency = p_currency AND d.deposit_type = 'prepaid' AND d.amount_in_cents > 0
          AND d.approval IN ('none', 'approved') AND (d.created_at AT TIME ZONE 'UTC')::date <= p_date
          AND NOT EXISTS (SELECT 1 FROM deposit_batch_items b WHERE b.deposit_id = d.deposit_id)
    ) receipts;
    IF v_items IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO deposit_batches (property_id, currency, deposited_on, reference, total_cents, created_by, idempotency_key)
    SELECT p_property, p_currency, p_date, p_reference, sum((i->>'cents')::bigint), p_by, p_key FROM jsonb_array_elements(v_items) i
    RETURNING batch_id INTO v_batch;
    INSERT INTO deposit_batch_items (batch_id, lease_id, payment_id, deposit_id, amount_cents)
    SELECT v_batch, i->>'lease_id', (i->>'payment_id')::bigint, (i->>'deposit_id')::bigint, (i->>'cents')::bigint
    FROM jsonb_array_elements(v_items) i;
    PERFORM journal_sync((SELECT array_agg(DISTINCT i->>'lease_id') FROM jsonb_array_elements(v_items) i),
                         'deposit_batch', 'deposit_batches:' || v_batch, p_date, 'deposit ' || p_reference);
    RETURN v_batch;
END $$;

---- create above / drop below ----
CREATE OR REPLACE FUNCTION create_deposit_batch(p_property text, p_currency text, p_date date, p_key text, p_by text, p_reference text)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    v_batch bigint;
    v_items jsonb;
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('deposit_batch/' || p_property));
    SELECT batch_id INTO v_batch FROM deposit_batches WHERE idempotency_key = p_key;
    IF FOUND THEN
        RETURN v_batch;
    END IF;
    SELECT jsonb_agg(jsonb_build_object('lease_id', lease_id, 'payment_id', payment_id, 'deposit_id', deposit_id, 'cents', cents))
    INTO v_items
    FROM (
        SELECT p.lease_id, p.payment_id, NULL::bigint AS deposit_id, p.amount_in_cents AS cents
        FROM payments p JOIN leases l USING (lease_id)
        WHERE l.property_id = p_property AND p.currency = p_currency AND p.returned_at IS NULL AND p.transaction_date <= p_date
          AND NOT EXISTS (SELECT 1 FROM deposit_batch_items b WHERE b.payment_id = p.payment_id)
        UNION ALL
        SELECT d.lease_id, NULL, d.deposit_id, d.amount_in_cents
        FROM deposits d JOIN leases l USING (lease_id)
        WHERE l.property_id = p_property AND d.currency = p_currency AND d.deposit_type = 'prepaid' AND d.amount_in_cents > 0
          AND d.approval IN ('none', 'approved') AND (d.created_at AT TIME ZONE 'UTC')::date <= p_date
          AND NOT EXISTS (SELECT 1 FROM deposit_batch_items b WHERE b.deposit_id = d.deposit_id)
    ) receipts;
    IF v_items IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO deposit_batches (property_id, currency, deposited_on, reference, total_cents, created_by, idempotency_key)
    SELECT p_property, p_currency, p_date, p_reference, sum((i->>'cents')::bigint), p_by, p_key FROM jsonb_array_elements(v_items) i
    RETURNING batch_id INTO v_batch;
    INSERT INTO deposit_batch_items (batch_id, lease_id, payment_id, deposit_id, amount_cents)
    SELECT v_batch, i->>'lease_id', (i->>'payment_id')::bigint, (i->>'deposit_id')::bigint, (i->>'cents')::bigint
    FROM jsonb_array_elements(v_items) i;
    PERFORM journal_sync((SELECT array_agg(DISTINCT i->>'lease_id') FROM jsonb_array_elements(v_items) i),
                         'deposit_batch', 'deposit_batches:' || v_batch, p_date, 'deposit ' || p_reference);
    RETURN v_batch;
END $$;
DROP TRIGGER partial_refunds_change ON partial_refunds;
DROP TRIGGER transfers_change ON transfers;
DROP FUNCTION log_transfer_change();
DROP TRIGGER transfers_journal ON transfers;
DROP FUNCTION journal_post_transfer();
CREATE OR REPLACE FUNCTION journal_desired(p_lease text) RETURNS TABLE (account text, cents bigint)
LANGUAGE sql STABLE AS $$
WITH
st AS (SELECT * FROM settlements WHERE lease_id = p_lease),
receipts AS (
    -- Money received and held: payments not returned, prepaid deposit rows.
    -- In the trust bank once a deposit batch took it there.
    SELECT p.amount_in_cents AS cents, EXISTS (SELECT 1 FROM deposit_batch_items b WHERE b.payment_id = p.payment_id) AS banked
    FROM payments p WHERE p.lease_id = p_lease AND p.returned_at IS NULL
    UNION ALL
    SELECT d.amount_in_cents, EXISTS (SELECT 1 FROM deposit_batch_items b WHERE b.deposit_id = d.deposit_id)
    FROM deposits d WHERE d.lease_id = p_lease AND d.deposit_type = 'prepaid' AND d.approval IN ('none', 'approved')
),
charged AS (
    SELECT c.amount_in_cents AS cents, cc.category, c.created_at
    FROM charges c JOIN charge_codes cc USING (charge_code_id)
    WHERE c.lease_id = p_lease AND c.approval IN ('none', 'approved')
),
billing AS (
    -- A deposit charged and not yet paid, while the lease is not settled.
    SELECT GREATEST(
        COALESCE((SELECT sum(d.amount_in_cents) FROM deposits d WHERE d.lease_id = p_lease AND d.deposit_type = 'cash' AND d.approval IN ('none', 'approved')), 0)
      - COALESCE((SELECT sum(p.amount_in_cents) FROM payments p WHERE p.lease_id = p_lease AND p.returned_at IS NULL), 0), 0)::bigint AS cents
    WHERE EXISTS (SELECT 1 FROM charged WHERE category = 'deposit') AND NOT EXISTS (SELECT 1 FROM st)
),
accrued AS (SELECT COALESCE(sum(amount_cents), 0)::bigint AS cents FROM interest_accruals WHERE lease_id = p_lease),
disputed AS (
    -- Disputed items a settlement holds (#17): their money stays in the
    -- liability until each is resolved; a disputed charge stays owed, a
    -- disputed keep is not income yet.
    SELECT dp.held_cents, dp.applied_cents, dp.refund_cents, dp.settled_at IS NOT NULL AS resolved,
           dp.subject = 'charge' AS charge,
           CASE WHEN cc.category = 'arrears' THEN 'fee_income' ELSE 'damage_income' END AS income
    FROM disputes dp
    LEFT JOIN charges c ON dp.subject = 'charge' AND c.charge_id = dp.subject_id
    LEFT JOIN charge_codes cc ON cc.charge_code_id = c.charge_code_id
    WHERE dp.lease_id = p_lease AND dp.held AND dp.held_cents > 0 AND EXISTS (SELECT 1 FROM st)
),
pre AS (
    -- The charges the settlement counted (written before it): what a
    -- missed deadline forfeited is what it did not apply of them.
    SELECT COALESCE(sum(c.cents) FILTER (WHERE c.category = 'arrears'), 0)::bigint AS arrears,
           COALESCE(sum(c.cents) FILTER (WHERE c.category = 'deduction'), 0)::bigint AS deductions
    FROM charged c, st WHERE c.created_at <= st.created_at
),
lines (account, cents) AS (
    SELECT CASE WHEN banked THEN 'trust_bank' ELSE 'undeposited_funds' END, cents FROM receipts
    UNION ALL SELECT 'security_deposit_liability', -cents FROM receipts
    UNION ALL SELECT 'tenant_receivable', cents FROM billing
    UNION ALL SELECT 'deposits_billed', -cents FROM billing
    UNION ALL SELECT 'tenant_receivable', cents FROM charged WHERE category IN ('arrears', 'deduction')
    UNION ALL SELECT CASE category WHEN 'arrears' THEN 'fee_income' ELSE 'damage_income' END, -cents FROM charged WHERE category IN ('arrears', 'deduction')
    UNION ALL SELECT 'tenant_credits', cents FROM charged WHERE category = 'credit'
    UNION ALL SELECT 'security_deposit_liability', -cents FROM charged WHERE category = 'credit'
    UNION ALL SELECT 'interest_expense', cents FROM accrued
    UNION ALL SELECT 'security_deposit_liability', -cents FROM accrued
    -- The settlement: everything held leaves the liability; the interest
    -- owed beyond what was credited is expensed; the refund becomes payable;
    -- arrears and deductions are paid from the deposit (their receivable
    -- cleared), kept amounts become income, and a balance beyond the
    -- deposit stays receivable (invoiced).
    UNION ALL SELECT 'security_deposit_liability', st.received_cents + st.credits_cents + accrued.cents - st.earlier_refunds_cents FROM st, accrued
    UNION ALL SELECT 'interest_expense', st.interest_cents - accrued.cents FROM st, accrued
    UNION ALL SELECT 'tenant_receivable', st.balance_owed_cents - st.arrears_cents - st.deductions_cents FROM st
    UNION ALL SELECT 'refunds_payable', -st.refund_cents FROM st
    UNION ALL SELECT 'damage_income', -st.kept_cents FROM st
    -- What it did not apply of the charges written before it (forfeited by
    -- a missed deadline) is no longer owed: receivable and income reversed.
    UNION ALL SELECT 'fee_income', pre.arrears - st.arrears_cents FROM st, pre
    UNION ALL SELECT 'damage_income', pre.deductions - st.deductions_cents FROM st, pre
    UNION ALL SELECT 'tenant_receivable', -(pre.arrears - st.arrears_cents + pre.deductions - st.deductions_cents) FROM st, pre
    -- What the settlement holds for disputed items stays in the liability:
    -- the charge it would have paid stays receivable, the keep is not income.
    UNION ALL SELECT 'security_deposit_liability', -held_cents FROM disputed
    UNION ALL SELECT CASE WHEN charge THEN 'tenant_receivable' ELSE 'damage_income' END, held_cents FROM disputed
    -- A resolution applies what it does not pay back (paying the charge,
    -- or making the keep income); what it pays back of a charge is no
    -- longer owed (its income reversed). The payback itself is a refund
    -- outside the settlement, below.
    UNION ALL SELECT 'security_deposit_liability', applied_cents FROM disputed WHERE resolved
    UNION ALL SELECT CASE WHEN charge THEN 'tenant_receivable' ELSE 'damage_income' END, -applied_cents FROM disputed WHERE resolved
    UNION ALL SELECT income, refund_cents FROM disputed WHERE resolved AND charge
    UNION ALL SELECT 'tenant_receivable', -refund_cents FROM disputed WHERE resolved AND charge
    -- A refund outside the settlement (a follow-up of a late payment or
    -- credit, or a lease settled before settlements existed) is paid from
    -- what is held.
    UNION ALL SELECT 'security_deposit_liability', r.amount_in_cents FROM refunds r WHERE r.lease_id = p_lease AND r.settlement_id IS NULL
    UNION ALL SELECT 'refunds_payable', -r.amount_in_cents FROM refunds r WHERE r.lease_id = p_lease AND r.settlement_id IS NULL
    -- A refund paid leaves the trust bank.
    UNION ALL SELECT 'refunds_payable', r.amount_in_cents FROM refunds r WHERE r.lease_id = p_lease AND r.status = 'paid'
    UNION ALL SELECT 'trust_bank', -r.amount_in_cents FROM refunds r WHERE r.lease_id = p_lease AND r.status = 'paid'
)
SELECT account, sum(cents)::bigint FROM lines GROUP BY account
$$;
DROP INDEX charges_open_invoice_idx;
ALTER TABLE charges DROP COLUMN open_invoice_id;
DELETE FROM charge_codes WHERE charge_code_id = 'INVOICE';
DROP TABLE open_invoices;
ALTER TABLE refunds DROP COLUMN partial_refund_id;
DROP TABLE partial_refunds;
ALTER TABLE payments DROP COLUMN transfer_id;
DROP TABLE transfers;
