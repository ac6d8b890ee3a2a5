-- Disputed money in the trust books (#17 with #19): what a settlement holds
-- for disputed items stays in the Security Deposit Liability until each
-- item is resolved, instead of being booked as income at the settlement and
-- paid back from a liability already at zero. The journal posts when a
-- settlement holds an item and when a resolution settles it; the books of
-- leases with disputes are brought in step by a correction.

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


CREATE OR REPLACE FUNCTION journal_post_fact() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
    o jsonb;
    v_event text := 'correction';
    v_date date;
    v_id text;
    v_category text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := to_jsonb(OLD);
    ELSE
        r := to_jsonb(NEW);
    END IF;
    IF TG_OP = 'UPDATE' THEN
        o := to_jsonb(OLD);
    END IF;
    v_id := r->>TG_ARGV[0];
    IF TG_TABLE_NAME = 'payments' THEN
        IF TG_OP = 'INSERT' THEN
            v_event := 'payment_received';
            v_date := (r->>'transaction_date')::date;
        ELSIF TG_OP = 'UPDATE' AND o->>'returned_at' IS NULL AND r->>'returned_at' IS NOT NULL THEN
            v_event := 'payment_returned';
        END IF;
    ELSIF TG_TABLE_NAME = 'charges' THEN
        IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND o->>'approval' = 'pending' AND r->>'approval' = 'approved') THEN
            SELECT category INTO v_category FROM charge_codes WHERE charge_code_id = r->>'charge_code_id';
            v_event := CASE
                WHEN v_category = 'deposit' THEN 'deposit_charged'
                WHEN r->>'charge_code_id' = 'NSF_FEE' THEN 'nsf_fee'
                WHEN v_category = 'arrears' THEN 'arrears_charged'
                WHEN v_category = 'deduction' THEN 'deduction_charged'
                ELSE 'credit_given' END;
        END IF;
    ELSIF TG_TABLE_NAME = 'deposits' THEN
        IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND o->>'approval' = 'pending' AND r->>'approval' = 'approved') THEN
            v_event := CASE r->>'deposit_type' WHEN 'prepaid' THEN 'prepaid_received' ELSE 'deposit_amended' END;
        END IF;
    ELSIF TG_TABLE_NAME = 'settlements' THEN
        IF TG_OP = 'INSERT' THEN
            v_event := 'settlement';
        END IF;
    ELSIF TG_TABLE_NAME = 'refunds' THEN
        IF TG_OP = 'INSERT' THEN
            v_event := 'refund_due';
        ELSIF TG_OP = 'UPDATE' AND o->>'status' <> 'paid' AND r->>'status' = 'paid' THEN
            v_event := 'refund_paid';
            v_date := (r->>'paid_on')::date;
        END IF;
    ELSIF TG_TABLE_NAME = 'disputes' THEN
        IF TG_OP = 'UPDATE' AND o->>'settled_at' IS NULL AND r->>'settled_at' IS NOT NULL THEN
            v_event := 'dispute_resolved';
        ELSIF TG_OP = 'UPDATE' AND NOT (o->>'held')::boolean AND (r->>'held')::boolean THEN
            v_event := 'dispute_held';
        END IF;
    ELSIF TG_TABLE_NAME = 'interest_accruals' THEN
        IF TG_OP = 'INSERT' THEN
            v_event := 'interest_credited';
            v_date := (r->>'anniversary')::date;
        END IF;
    END IF;
    PERFORM journal_sync(ARRAY[r->>'lease_id'], v_event, TG_TABLE_NAME || ':' || v_id, v_date, '');
    RETURN NULL;
END $$;


CREATE TRIGGER disputes_journal AFTER INSERT OR UPDATE OR DELETE ON disputes
    FOR EACH ROW EXECUTE FUNCTION journal_post_fact('dispute_id');

DO $$
DECLARE
    l record;
BEGIN
    FOR l IN SELECT DISTINCT lease_id FROM disputes ORDER BY lease_id LOOP
        PERFORM journal_sync(ARRAY[l.lease_id], 'correction', 'leases:' || l.lease_id, NULL, 'disputed money held in the liability until resolved');
    END LOOP;
END $$;

---- create above / drop below ----
DROP TRIGGER disputes_journal ON disputes;
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


CREATE OR REPLACE FUNCTION journal_post_fact() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r jsonb;
    o jsonb;
    v_event text := 'correction';
    v_date date;
    v_id text;
    v_category text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        r := to_jsonb(OLD);
    ELSE
        r := to_jsonb(NEW);
    END IF;
    IF TG_OP = 'UPDATE' THEN
        o := to_jsonb(OLD);
    END IF;
    v_id := r->>TG_ARGV[0];
    IF TG_TABLE_NAME = 'payments' THEN
        IF TG_OP = 'INSERT' THEN
            v_event := 'payment_received';
            v_date := (r->>'transaction_date')::date;
        ELSIF TG_OP = 'UPDATE' AND o->>'returned_at' IS NULL AND r->>'returned_at' IS NOT NULL THEN
            v_event := 'payment_returned';
        END IF;
    ELSIF TG_TABLE_NAME = 'charges' THEN
        IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND o->>'approval' = 'pending' AND r->>'approval' = 'approved') THEN
            SELECT category INTO v_category FROM charge_codes WHERE charge_code_id = r->>'charge_code_id';
            v_event := CASE
                WHEN v_category = 'deposit' THEN 'deposit_charged'
                WHEN r->>'charge_code_id' = 'NSF_FEE' THEN 'nsf_fee'
                WHEN v_category = 'arrears' THEN 'arrears_charged'
                WHEN v_category = 'deduction' THEN 'deduction_charged'
                ELSE 'credit_given' END;
        END IF;
    ELSIF TG_TABLE_NAME = 'deposits' THEN
        IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND o->>'approval' = 'pending' AND r->>'approval' = 'approved') THEN
            v_event := CASE r->>'deposit_type' WHEN 'prepaid' THEN 'prepaid_received' ELSE 'deposit_amended' END;
        END IF;
    ELSIF TG_TABLE_NAME = 'settlements' THEN
        IF TG_OP = 'INSERT' THEN
            v_event := 'settlement';
        END IF;
    ELSIF TG_TABLE_NAME = 'refunds' THEN
        IF TG_OP = 'INSERT' THEN
            v_event := 'refund_due';
        ELSIF TG_OP = 'UPDATE' AND o->>'status' <> 'paid' AND r->>'status' = 'paid' THEN
            v_event := 'refund_paid';
            v_date := (r->>'paid_on')::date;
        END IF;
    ELSIF TG_TABLE_NAME = 'interest_accruals' THEN
        IF TG_OP = 'INSERT' THEN
            v_event := 'interest_credited';
            v_date := (r->>'anniversary')::date;
        END IF;
    END IF;
    PERFORM journal_sync(ARRAY[r->>'lease_id'], v_event, TG_TABLE_NAME || ':' || v_id, v_date, '');
    RETURN NULL;
END $$;

