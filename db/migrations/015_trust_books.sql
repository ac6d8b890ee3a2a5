-- Trust accounting (issue #19): a double-entry journal that every money fact
-- posts to, in the fact's own transaction, whoever wrote it (the CLI, the
-- API, an activity, an import, plain SQL); deposit batches that move
-- receipts from Undeposited Funds to the trust bank account; refunds marked
-- paid; interest credited at each anniversary where the statute pays it
-- while the tenancy runs; and the bank statements reconciled.
--
-- How posting works. A lease's books are a function of its facts:
-- journal_desired(lease) says what every account's balance for the lease
-- must be (payments, deposit rows, charges, the settlement, refunds, batches,
-- interest credited), each fact contributing balanced lines. A trigger on
-- every fact table calls journal_sync, which, in one statement (one
-- snapshot), compares that with what the journal holds for the lease and
-- posts the difference as one new entry named after the event ('payment
-- received', 'settlement', ...). So a fact posts exactly its own lines; a
-- retried activity that finds its row (ON CONFLICT ... DO UPDATE) posts
-- nothing; a fact edited or deleted by hand posts a correcting entry; and
-- nothing already posted is ever changed. The database refuses an entry
-- whose debits and credits differ (checked at commit) and any UPDATE or
-- DELETE of the journal.

-- The chart of accounts: the default accounts every property gets.
CREATE TABLE chart_of_accounts (
    account text PRIMARY KEY CHECK (account ~ '^[a-z_]+$'),
    number  text NOT NULL UNIQUE,
    name    text NOT NULL,
    type    text NOT NULL CHECK (type IN ('asset', 'liability', 'income', 'expense')),
    about   text NOT NULL
);
INSERT INTO chart_of_accounts (account, number, name, type, about) VALUES
    ('trust_bank',                 '1000', 'Trust Bank',                 'asset',     'the trust account at the bank: deposit batches in, refunds paid out, returned payments taken back'),
    ('undeposited_funds',          '1010', 'Undeposited Funds',          'asset',     'payments received and not yet in a deposit batch'),
    ('tenant_receivable',          '1200', 'Tenant Receivable',          'asset',     'what tenants owe: a deposit charged and not paid, fees, arrears and deductions, a balance invoiced'),
    ('security_deposit_liability', '2000', 'Security Deposit Liability', 'liability', 'deposits held for tenants: payments, prepaid deposits, credits and interest credited, until the settlement'),
    ('deposits_billed',            '2050', 'Deposits Billed',            'liability', 'deposits charged and not yet paid: the other side of their receivable (becomes Security Deposit Liability only as money arrives)'),
    ('refunds_payable',            '2100', 'Refunds Payable',            'liability', 'refunds due to tenants and not yet paid'),
    ('damage_income',              '4000', 'Damage Income',              'income',    'deductions (cleaning, damage) and amounts kept by a decision'),
    ('fee_income',                 '4100', 'Arrears and Fee Income',     'income',    'arrears charged against the deposit: rent, utilities, returned-payment (NSF) fees'),
    ('interest_expense',           '5000', 'Interest Expense',           'expense',   'interest credited to tenants on their deposits'),
    ('tenant_credits',             '5100', 'Tenant Credits',             'expense',   'credits given to tenants (goodwill credits added to the refund)');

-- A property's chart: the default accounts, which a property may number
-- and name as its own books do.
CREATE TABLE property_accounts (
    property_id text NOT NULL REFERENCES properties (property_id),
    account     text NOT NULL REFERENCES chart_of_accounts (account),
    number      text NOT NULL,
    name        text NOT NULL,
    PRIMARY KEY (property_id, account)
);
INSERT INTO property_accounts (property_id, account, number, name)
SELECT p.property_id, c.account, c.number, c.name FROM properties p CROSS JOIN chart_of_accounts c;

CREATE FUNCTION property_chart() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO property_accounts (property_id, account, number, name)
    SELECT NEW.property_id, account, number, name FROM chart_of_accounts
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER properties_chart AFTER INSERT ON properties FOR EACH ROW EXECUTE FUNCTION property_chart();

-- A refund payout not marked paid this many days after it was issued is
-- flagged to the property's manager (and listed as possibly unclaimed
-- property to escheat).
ALTER TABLE properties ADD COLUMN unclaimed_after_days integer NOT NULL DEFAULT 90 CHECK (unclaimed_after_days > 0);

-- A refund is paid (a cheque or transfer from the trust account) on a day,
-- under the bank's reference; flagged once when it stayed unpaid too long.
ALTER TABLE refunds
    ADD COLUMN paid_at        timestamptz,
    ADD COLUMN paid_on        date,
    ADD COLUMN paid_reference text NOT NULL DEFAULT '',
    ADD COLUMN paid_by        text NOT NULL DEFAULT '',
    ADD COLUMN unclaimed_flagged_at timestamptz,
    ADD CONSTRAINT refunds_paid_check CHECK ((status = 'paid') = (paid_on IS NOT NULL));
CREATE INDEX refunds_payable_idx ON refunds (created_at) WHERE status = 'payable';

-- A deposit batch: the receipts (payments, prepaid deposit rows) taken to
-- the bank together on a day, one line on the bank statement. A receipt is
-- in one batch at most.
CREATE TABLE deposit_batches (
    batch_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    property_id     text NOT NULL REFERENCES properties (property_id),
    currency        text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    deposited_on    date NOT NULL,
    reference       text NOT NULL,
    total_cents     bigint NOT NULL CHECK (total_cents > 0),
    created_by      text NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE deposit_batch_items (
    batch_id    bigint NOT NULL REFERENCES deposit_batches (batch_id),
    lease_id    text NOT NULL REFERENCES leases (lease_id),
    payment_id  bigint UNIQUE REFERENCES payments (payment_id),
    deposit_id  bigint UNIQUE REFERENCES deposits (deposit_id),
    amount_cents bigint NOT NULL CHECK (amount_cents > 0),
    CHECK ((payment_id IS NULL) <> (deposit_id IS NULL))
);
CREATE INDEX deposit_batch_items_batch_idx ON deposit_batch_items (batch_id);

-- Interest credited to a tenant's deposit at an anniversary of the lease,
-- where the statute pays interest while the tenancy runs (the rule's
-- interest.yearly): the interest owed from each payment's day to the
-- anniversary, less what was credited before. Once per lease and anniversary.
CREATE TABLE interest_accruals (
    accrual_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lease_id      text NOT NULL REFERENCES leases (lease_id),
    anniversary   date NOT NULL,
    year_number   integer NOT NULL CHECK (year_number > 0),
    amount_cents  bigint NOT NULL CHECK (amount_cents >= 0),
    owed_to_date_cents bigint NOT NULL CHECK (owed_to_date_cents >= 0),
    rule          text NOT NULL,
    why           text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (lease_id, anniversary)
);

-- The journal. An entry is one event of one property in one currency;
-- its lines debit or credit the property's accounts, each for a lease
-- (the trust's sub-ledger: every cent held is held for someone). source
-- names the fact ('payments:12', 'deposit_batches:3').
CREATE TABLE journal_entries (
    entry_id    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    property_id text NOT NULL REFERENCES properties (property_id),
    currency    text NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    lease_id    text REFERENCES leases (lease_id),  -- NULL: an entry of several leases (a deposit batch)
    event       text NOT NULL,
    source      text NOT NULL,
    entry_date  date NOT NULL,                      -- the accounting date: the fact's own day where it has one
    memo        text NOT NULL DEFAULT '',
    posted_at   timestamptz NOT NULL DEFAULT now(), -- when it was written: what an as-of report reads
    txid        bigint NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    UNIQUE (entry_id, property_id)
);
-- Every event of a fact posts once; only corrections may repeat.
CREATE UNIQUE INDEX journal_entries_source_idx ON journal_entries (source, event) WHERE event <> 'correction';
CREATE INDEX journal_entries_date_idx ON journal_entries (property_id, entry_date);

CREATE TABLE journal_lines (
    line_id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry_id     bigint NOT NULL,
    property_id  text NOT NULL,
    account      text NOT NULL,
    lease_id     text NOT NULL REFERENCES leases (lease_id),
    debit_cents  bigint NOT NULL DEFAULT 0 CHECK (debit_cents >= 0),
    credit_cents bigint NOT NULL DEFAULT 0 CHECK (credit_cents >= 0),
    CHECK ((debit_cents = 0) <> (credit_cents = 0)),
    FOREIGN KEY (entry_id, property_id) REFERENCES journal_entries (entry_id, property_id),
    FOREIGN KEY (property_id, account) REFERENCES property_accounts (property_id, account)
);
CREATE INDEX journal_lines_entry_idx ON journal_lines (entry_id);
CREATE INDEX journal_lines_lease_idx ON journal_lines (lease_id, account);
CREATE INDEX journal_lines_account_idx ON journal_lines (property_id, account);

-- Balanced by the database: at commit, every entry written in the
-- transaction has at least two lines and its debits equal its credits.
CREATE FUNCTION journal_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n integer;
    dr bigint;
    cr bigint;
BEGIN
    SELECT count(*), COALESCE(sum(debit_cents), 0), COALESCE(sum(credit_cents), 0) INTO n, dr, cr
    FROM journal_lines WHERE entry_id = NEW.entry_id;
    IF n < 2 OR dr <> cr THEN
        RAISE EXCEPTION 'journal entry % is not balanced: % line(s), debits % cents, credits % cents', NEW.entry_id, n, dr, cr
            USING ERRCODE = 'check_violation', CONSTRAINT = 'journal_entry_balanced';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER journal_entry_balanced AFTER INSERT ON journal_entries
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_check_balanced();
CREATE CONSTRAINT TRIGGER journal_lines_balanced AFTER INSERT ON journal_lines
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION journal_check_balanced();

-- Immutable: corrections are new entries.
CREATE FUNCTION journal_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the journal is immutable: % on % refused (post a correcting entry instead)', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER journal_entries_immutable BEFORE UPDATE OR DELETE ON journal_entries
    FOR EACH ROW EXECUTE FUNCTION journal_immutable();
CREATE TRIGGER journal_lines_immutable BEFORE UPDATE OR DELETE ON journal_lines
    FOR EACH ROW EXECUTE FUNCTION journal_immutable();
CREATE TRIGGER journal_entries_no_truncate BEFORE TRUNCATE ON journal_entries
    FOR EACH STATEMENT EXECUTE FUNCTION journal_immutable();
CREATE TRIGGER journal_lines_no_truncate BEFORE TRUNCATE ON journal_lines
    FOR EACH STATEMENT EXECUTE FUNCTION journal_immutable();

-- What a lease's accounts must hold, from its facts: (account, cents), a
-- debit positive and a credit negative. Each fact's lines balance on their
-- own, so any state of the facts (even half a transaction's) balances.
CREATE FUNCTION journal_desired(p_lease text) RETURNS TABLE (account text, cents bigint)
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

-- journal_sync posts what the journal lacks for these leases (of one
-- property and currency) as one entry: the difference between what their
-- facts say (journal_desired) and what is posted, computed in one
-- statement. Nothing to post: no entry, NULL.
CREATE FUNCTION journal_sync(p_leases text[], p_event text, p_source text, p_date date, p_memo text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_lines jsonb;
    v_property text;
    v_currency text;
    v_entry bigint;
    v_n integer;
BEGIN
    SELECT count(DISTINCT (property_id, currency)), min(property_id), min(currency) INTO v_n, v_property, v_currency
    FROM leases WHERE lease_id = ANY (p_leases);
    IF v_n = 0 THEN
        RETURN NULL;
    ELSIF v_n > 1 THEN
        RAISE EXCEPTION 'one journal entry is of one property in one currency: leases %', p_leases;
    END IF;
    SELECT jsonb_agg(jsonb_build_object('lease_id', lease_id, 'account', account, 'cents', cents) ORDER BY lease_id, account)
    INTO v_lines
    FROM (
        SELECT lease_id, account, sum(cents)::bigint AS cents FROM (
            SELECT l AS lease_id, d.account, d.cents FROM unnest(p_leases) l, journal_desired(l) d
            UNION ALL
            SELECT jl.lease_id, jl.account, -(jl.debit_cents - jl.credit_cents)
            FROM journal_lines jl WHERE jl.lease_id = ANY (p_leases)
        ) x GROUP BY lease_id, account HAVING sum(cents) <> 0
    ) y;
    IF v_lines IS NULL THEN
        RETURN NULL;
    END IF;
    INSERT INTO journal_entries (property_id, currency, lease_id, event, source, entry_date, memo)
    VALUES (v_property, v_currency, CASE WHEN cardinality(p_leases) = 1 THEN p_leases[1] END, p_event, p_source,
            COALESCE(p_date, (now() AT TIME ZONE (SELECT time_zone FROM properties WHERE property_id = v_property))::date), p_memo)
    RETURNING entry_id INTO v_entry;
    INSERT INTO journal_lines (entry_id, property_id, account, lease_id, debit_cents, credit_cents)
    SELECT v_entry, v_property, l->>'account', l->>'lease_id',
           GREATEST((l->>'cents')::bigint, 0), GREATEST(-(l->>'cents')::bigint, 0)
    FROM jsonb_array_elements(v_lines) l;
    RETURN v_entry;
END $$;

-- The posting trigger of every fact table: which event a change is, and
-- its day.
CREATE FUNCTION journal_post_fact() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER payments_journal AFTER INSERT OR UPDATE OR DELETE ON payments
    FOR EACH ROW EXECUTE FUNCTION journal_post_fact('payment_id');
CREATE TRIGGER charges_journal AFTER INSERT OR UPDATE OR DELETE ON charges
    FOR EACH ROW EXECUTE FUNCTION journal_post_fact('charge_id');
CREATE TRIGGER deposits_journal AFTER INSERT OR UPDATE OR DELETE ON deposits
    FOR EACH ROW EXECUTE FUNCTION journal_post_fact('deposit_id');
CREATE TRIGGER settlements_journal AFTER INSERT OR UPDATE OR DELETE ON settlements
    FOR EACH ROW EXECUTE FUNCTION journal_post_fact('settlement_id');
CREATE TRIGGER refunds_journal AFTER INSERT OR UPDATE OR DELETE ON refunds
    FOR EACH ROW EXECUTE FUNCTION journal_post_fact('refund_id');
CREATE TRIGGER interest_accruals_journal AFTER INSERT OR UPDATE OR DELETE ON interest_accruals
    FOR EACH ROW EXECUTE FUNCTION journal_post_fact('accrual_id');

-- A deposit batch of a property's receipts in one currency received on or
-- before a day and not yet banked, under the caller's key (the same key
-- again returns the same batch). NULL: nothing to deposit.
CREATE FUNCTION create_deposit_batch(p_property text, p_currency text, p_date date, p_key text, p_by text, p_reference text)
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

-- A bank statement reconciled against the trust bank account: what
-- matched, what the bank has that the books do not, what the books have
-- that the bank does not. Once per property and key.
CREATE TABLE bank_reconciliations (
    reconciliation_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    property_id       text NOT NULL REFERENCES properties (property_id),
    currency          text NOT NULL,
    statement_from    date NOT NULL,
    statement_to      date NOT NULL,
    statement_sha256  text NOT NULL,
    matched           integer NOT NULL,
    result            jsonb NOT NULL,
    created_by        text NOT NULL,
    idempotency_key   text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (property_id, idempotency_key)
);

-- The books open balanced: every lease's facts written before this
-- migration are posted now, as one opening entry per lease.
DO $$
DECLARE
    l record;
BEGIN
    FOR l IN SELECT lease_id FROM leases ORDER BY lease_id LOOP
        PERFORM journal_sync(ARRAY[l.lease_id], 'opening_balance', 'leases:' || l.lease_id, NULL, 'facts written before the journal existed');
    END LOOP;
END $$;

---- create above / drop below ----
DROP TABLE bank_reconciliations;
DROP FUNCTION create_deposit_batch(text, text, date, text, text, text);
DROP TRIGGER interest_accruals_journal ON interest_accruals;
DROP TRIGGER refunds_journal ON refunds;
DROP TRIGGER settlements_journal ON settlements;
DROP TRIGGER deposits_journal ON deposits;
DROP TRIGGER charges_journal ON charges;
DROP TRIGGER payments_journal ON payments;
DROP FUNCTION journal_post_fact();
DROP FUNCTION journal_sync(text[], text, text, date, text);
DROP FUNCTION journal_desired(text);
DROP TABLE journal_lines;
DROP TABLE journal_entries;
DROP FUNCTION journal_immutable();
DROP FUNCTION journal_check_balanced();
DROP TABLE interest_accruals;
DROP TABLE deposit_batch_items;
DROP TABLE deposit_batches;
DROP INDEX refunds_payable_idx;
ALTER TABLE refunds DROP CONSTRAINT refunds_paid_check, DROP COLUMN unclaimed_flagged_at, DROP COLUMN paid_by,
    DROP COLUMN paid_reference, DROP COLUMN paid_on, DROP COLUMN paid_at;
ALTER TABLE properties DROP COLUMN unclaimed_after_days;
DROP TRIGGER properties_chart ON properties;
DROP FUNCTION property_chart();
DROP TABLE property_accounts;
DROP TABLE chart_of_accounts;
