-- Trust accounting (migration 015): the journal is posted by triggers in
-- the facts' own transactions; these read it, and write the few facts that
-- only the books have (deposit batches, refunds paid, interest credited,
-- bank reconciliations).

-- name: CreateDepositBatch :one
-- The property's receipts in this currency received on or before the day
-- and not yet banked, as one batch posted to the trust bank; 0: nothing to
-- deposit. The same key again returns the same batch.
SELECT COALESCE(create_deposit_batch(sqlc.arg(property_id)::text, sqlc.arg(currency)::text, sqlc.arg(deposited_on)::date,
                                     sqlc.arg(idempotency_key)::text, sqlc.arg(created_by)::text, sqlc.arg(reference)::text), 0)::bigint AS batch_id;

-- name: GetDepositBatch :one
SELECT b.*, (SELECT count(*) FROM deposit_batch_items i WHERE i.batch_id = b.batch_id)::bigint AS items
FROM deposit_batches b WHERE b.batch_id = $1;

-- name: ListPropertyCurrencies :many
-- The currencies a property's leases hold money in.
SELECT DISTINCT currency FROM leases WHERE property_id = $1 ORDER BY currency;

-- name: GetRefundForBooks :one
SELECT r.*, l.property_id FROM refunds r JOIN leases l USING (lease_id) WHERE r.refund_id = $1;

-- name: MarkRefundPaid :one
-- A refund paid from the trust account on a day under the bank's
-- reference; one already paid is not paid again.
UPDATE refunds SET status = 'paid', paid_on = sqlc.arg(paid_on), paid_reference = sqlc.arg(paid_reference),
                   paid_by = sqlc.arg(paid_by), paid_at = now()
WHERE refund_id = sqlc.arg(refund_id) AND status = 'payable'
RETURNING *;

-- name: TrialBalance :many
-- Every account's debits and credits as posted before the cutoff, per
-- property and currency (properties NULL: every property).
SELECT jl.property_id, je.currency, jl.account, pa.number, pa.name, ca.type,
       sum(jl.debit_cents)::bigint AS debit_cents, sum(jl.credit_cents)::bigint AS credit_cents
FROM journal_lines jl
JOIN journal_entries je ON je.entry_id = jl.entry_id
JOIN property_accounts pa ON pa.property_id = jl.property_id AND pa.account = jl.account
JOIN chart_of_accounts ca ON ca.account = jl.account
WHERE (sqlc.narg(properties)::text[] IS NULL OR jl.property_id = ANY (sqlc.narg(properties)::text[]))
  AND je.posted_at < sqlc.arg(cutoff)
GROUP BY jl.property_id, je.currency, jl.account, pa.number, pa.name, ca.type
ORDER BY jl.property_id, je.currency, pa.number;

-- name: LeaseLiabilities :many
-- Per lease, what its facts say is held as they stood at the cutoff, in
-- the terms the refund maths uses, beside the Security Deposit Liability
-- the journal holds for it. The report computes held from the first and
-- compares it with the second.
SELECT l.lease_id, l.property_id, l.currency, l.stage, r.name AS tenant_name, r.email AS tenant_email,
    (COALESCE((SELECT sum(p.amount_in_cents) FROM payments p WHERE p.lease_id = l.lease_id AND p.created_at < sqlc.arg(cutoff)
               AND (p.returned_at IS NULL OR p.returned_at >= sqlc.arg(cutoff))), 0)
   + COALESCE((SELECT sum(d.amount_in_cents) FROM deposits d WHERE d.lease_id = l.lease_id AND d.deposit_type = 'prepaid'
               AND ((d.approval = 'none' AND d.created_at < sqlc.arg(cutoff)) OR (d.approval = 'approved' AND d.decided_at < sqlc.arg(cutoff)))), 0))::bigint AS received_cents,
    COALESCE((SELECT sum(c.amount_in_cents) FROM charges c JOIN charge_codes cc USING (charge_code_id) WHERE c.lease_id = l.lease_id AND cc.category = 'credit'
               AND ((c.approval = 'none' AND c.created_at < sqlc.arg(cutoff)) OR (c.approval = 'approved' AND c.decided_at < sqlc.arg(cutoff)))), 0)::bigint AS credits_cents,
    COALESCE((SELECT sum(a.amount_cents) FROM interest_accruals a WHERE a.lease_id = l.lease_id AND a.created_at < sqlc.arg(cutoff)), 0)::bigint AS interest_credited_cents,
    COALESCE((SELECT sum(f.amount_in_cents) FROM refunds f WHERE f.lease_id = l.lease_id AND f.settlement_id IS NULL AND f.created_at < sqlc.arg(cutoff)), 0)::bigint AS other_refunds_cents,
    COALESCE((SELECT sum(t.amount_in_cents) FROM transfers t WHERE t.from_lease_id = l.lease_id AND t.created_at < sqlc.arg(cutoff)), 0)::bigint AS transfers_out_cents,
    (s.settlement_id IS NOT NULL)::boolean AS settled,
    COALESCE(s.received_cents, 0)::bigint AS settled_received_cents,
    COALESCE(s.credits_cents, 0)::bigint AS settled_credits_cents,
    COALESCE(s.earlier_refunds_cents, 0)::bigint AS settled_earlier_refunds_cents,
    COALESCE((SELECT sum(dp.held_cents) - COALESCE(sum(dp.applied_cents) FILTER (WHERE dp.settled_at < sqlc.arg(cutoff)), 0)
              FROM disputes dp WHERE dp.lease_id = l.lease_id AND dp.held), 0)::bigint AS disputes_held_cents,
    COALESCE((SELECT sum(jl.credit_cents - jl.debit_cents) FROM journal_lines jl JOIN journal_entries je ON je.entry_id = jl.entry_id
              WHERE jl.lease_id = l.lease_id AND jl.account = 'security_deposit_liability' AND je.posted_at < sqlc.arg(cutoff)), 0)::bigint AS liability_cents
FROM leases l
JOIN residents r ON r.resident_id = l.resident_id
LEFT JOIN settlements s ON s.lease_id = l.lease_id AND s.created_at < sqlc.arg(cutoff)
WHERE (sqlc.narg(properties)::text[] IS NULL OR l.property_id = ANY (sqlc.narg(properties)::text[]))
  AND l.created_at < sqlc.arg(cutoff)
ORDER BY l.property_id, l.currency, l.lease_id;

-- name: JournalLines :many
-- The journal's lines with their entries, by accounting date, for the
-- export an accountant imports.
SELECT je.entry_id, je.entry_date, je.posted_at, je.property_id, je.currency, je.event, je.source, je.memo,
       jl.line_id, jl.lease_id, jl.account, pa.number AS account_number, pa.name AS account_name, jl.debit_cents, jl.credit_cents
FROM journal_lines jl
JOIN journal_entries je ON je.entry_id = jl.entry_id
JOIN property_accounts pa ON pa.property_id = jl.property_id AND pa.account = jl.account
WHERE (sqlc.narg(properties)::text[] IS NULL OR je.property_id = ANY (sqlc.narg(properties)::text[]))
  AND je.entry_date >= sqlc.arg(from_date) AND je.entry_date <= sqlc.arg(to_date)
ORDER BY je.entry_date, je.entry_id, jl.line_id;

-- name: ReceivableLines :many
-- The Tenant Receivable lines of former tenants' leases (moved out or
-- settled), oldest first, for the aging report.
SELECT jl.lease_id, l.property_id, l.currency, r.name AS tenant_name, r.email AS tenant_email, je.entry_date, je.event,
       jl.debit_cents, jl.credit_cents
FROM journal_lines jl
JOIN journal_entries je ON je.entry_id = jl.entry_id
JOIN leases l ON l.lease_id = jl.lease_id
JOIN residents r ON r.resident_id = l.resident_id
WHERE jl.account = 'tenant_receivable' AND (l.realized_move_out_at IS NOT NULL OR l.stage = 'closed')
  AND (sqlc.narg(properties)::text[] IS NULL OR l.property_id = ANY (sqlc.narg(properties)::text[]))
  AND je.posted_at < sqlc.arg(cutoff)
ORDER BY jl.lease_id, je.entry_date, jl.line_id;

-- name: TrustBankMovements :many
-- What the journal moved in and out of a property's trust bank account
-- in a currency, one movement per entry, with the bank reference of its
-- fact (a deposit batch's, a refund's cheque or transfer, a payment's).
SELECT je.entry_id, je.entry_date, je.event, je.source,
       sum(jl.debit_cents - jl.credit_cents)::bigint AS amount_cents,
       COALESCE(
           (SELECT b.reference FROM deposit_batches b WHERE je.source = 'deposit_batches:' || b.batch_id),
           (SELECT f.paid_reference FROM refunds f WHERE je.source = 'refunds:' || f.refund_id),
           (SELECT p.reference FROM payments p WHERE je.source = 'payments:' || p.payment_id),
           '')::text AS reference
FROM journal_lines jl
JOIN journal_entries je ON je.entry_id = jl.entry_id
WHERE jl.account = 'trust_bank' AND je.property_id = sqlc.arg(property_id) AND je.currency = sqlc.arg(currency)
  AND je.entry_date >= sqlc.arg(from_date) AND je.entry_date <= sqlc.arg(to_date)
GROUP BY je.entry_id, je.entry_date, je.event, je.source
HAVING sum(jl.debit_cents - jl.credit_cents) <> 0
ORDER BY je.entry_date, je.entry_id;

-- name: GetReconciliation :one
SELECT * FROM bank_reconciliations WHERE property_id = $1 AND idempotency_key = $2;

-- name: InsertReconciliation :one
INSERT INTO bank_reconciliations (property_id, currency, statement_from, statement_to, statement_sha256, matched, result, created_by, idempotency_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
ON CONFLICT (property_id, idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
RETURNING *;

-- name: ListYearlyInterestLeases :many
-- Open leases (not settled) of these jurisdictions whose first
-- anniversary has come: candidates for interest credited yearly.
SELECT l.lease_id, l.jurisdiction, l.starts_on, l.realized_move_out_at, l.currency, l.time_zone, p.building_units
FROM leases l JOIN properties p USING (property_id)
WHERE l.jurisdiction = ANY (sqlc.arg(jurisdictions)::text[])
  AND l.starts_on + interval '1 year' <= sqlc.arg(as_of)::date
  AND NOT EXISTS (SELECT 1 FROM settlements s WHERE s.lease_id = l.lease_id)
ORDER BY l.lease_id;

-- name: ListInterestAccruals :many
SELECT * FROM interest_accruals WHERE lease_id = $1 ORDER BY anniversary;

-- name: InsertInterestAccrual :one
-- Once per lease and anniversary, and never after the lease's settlement
-- (the settlement pays what is owed to its day).
INSERT INTO interest_accruals (lease_id, anniversary, year_number, amount_cents, owed_to_date_cents, rule, why)
SELECT $1, $2, $3, $4, $5, $6, $7
WHERE NOT EXISTS (SELECT 1 FROM settlements s WHERE s.lease_id = $1)
ON CONFLICT (lease_id, anniversary) DO NOTHING
RETURNING *;

-- name: InterestByTenant :many
-- Interest credited or paid to each tenant in a calendar year (the
-- Interest Expense the journal posted for their leases: credited at
-- anniversaries, the rest with the settlement), at or above a threshold:
-- the figures a 1099-INT needs. A lease's interest is its first tenant's.
SELECT r.resident_id, r.name, r.email, r.forwarding_address, l.property_id, je.currency,
       sum(jl.debit_cents - jl.credit_cents)::bigint AS interest_cents,
       array_agg(DISTINCT l.lease_id ORDER BY l.lease_id)::text[] AS leases
FROM journal_lines jl
JOIN journal_entries je ON je.entry_id = jl.entry_id
JOIN leases l ON l.lease_id = jl.lease_id
JOIN residents r ON r.resident_id = l.resident_id
WHERE jl.account = 'interest_expense'
  AND je.entry_date >= make_date(sqlc.arg(year)::int, 1, 1) AND je.entry_date < make_date(sqlc.arg(year)::int + 1, 1, 1)
  AND (sqlc.narg(properties)::text[] IS NULL OR l.property_id = ANY (sqlc.narg(properties)::text[]))
GROUP BY r.resident_id, r.name, r.email, r.forwarding_address, l.property_id, je.currency
HAVING sum(jl.debit_cents - jl.credit_cents) >= sqlc.arg(threshold_cents)::bigint
ORDER BY l.property_id, r.name, r.resident_id;

-- name: ListUnclaimedRefunds :many
-- Refund payouts not marked paid within their property's days (default
-- 90): to chase, and perhaps to escheat as unclaimed property.
SELECT f.refund_id, f.lease_id, l.property_id, f.currency, f.amount_in_cents, f.recipient_name, f.recipient_email,
       f.recipient_address, f.created_at, f.unclaimed_flagged_at, p.unclaimed_after_days
FROM refunds f JOIN leases l USING (lease_id) JOIN properties p ON p.property_id = l.property_id
WHERE f.status = 'payable' AND f.created_at < sqlc.arg(now)::timestamptz - make_interval(days => p.unclaimed_after_days)
  AND (sqlc.narg(properties)::text[] IS NULL OR l.property_id = ANY (sqlc.narg(properties)::text[]))
ORDER BY f.created_at, f.refund_id;

-- name: FlagUnclaimedRefund :one
-- Marks a refund flagged to its manager; one flagged before is not again.
UPDATE refunds SET unclaimed_flagged_at = now()
WHERE refund_id = $1 AND status = 'payable' AND unclaimed_flagged_at IS NULL
RETURNING *;

-- name: SetUnclaimedAfterDays :one
UPDATE properties SET unclaimed_after_days = $2 WHERE property_id = $1
RETURNING *;

-- name: GetDepositBatchByKey :one
SELECT * FROM deposit_batches WHERE idempotency_key = $1;

-- name: ListInterestUnsent :many
-- Interest credited since a day whose email to the tenant has not gone
-- out (the pass that credited it could not send it): the next pass sends it.
SELECT a.* FROM interest_accruals a
WHERE a.amount_cents > 0 AND a.anniversary >= sqlc.arg(since)::date
  AND NOT EXISTS (SELECT 1 FROM email_outbox e
                  WHERE e.idempotency_key = 'interest/' || a.lease_id || '/' || to_char(a.anniversary, 'YYYY-MM-DD') AND e.sent_at IS NOT NULL)
ORDER BY a.lease_id, a.anniversary;
