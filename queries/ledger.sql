-- name: ListChargeCodes :many
SELECT * FROM charge_codes ORDER BY category, charge_code_id;

-- name: GetChargeCode :one
SELECT * FROM charge_codes WHERE charge_code_id = $1;

-- name: InsertChargeOnce :one
-- The workflow's own charges (the deposit charge): a retry finds the row its
-- first attempt wrote, through the unique idempotency key.
INSERT INTO charges (lease_id, resident_id, charge_code_id, amount_in_cents, description, idempotency_key, created_by)
VALUES ($1, $2, $3, $4, $5, $6, 'depositflow')
ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
RETURNING *;

-- name: ListCharges :many
SELECT charges.*, charge_codes.category
FROM charges JOIN charge_codes USING (charge_code_id)
WHERE lease_id = $1
ORDER BY charge_id;

-- name: InsertPayment :one
INSERT INTO payments (lease_id, resident_id, amount_in_cents, transaction_date, reference, created_by)
VALUES ($1, $2, $3, $4, $5, $6)
RETURNING *;

-- name: GetPaymentByReference :one
SELECT * FROM payments WHERE lease_id = $1 AND reference = $2;

-- name: ListPayments :many
SELECT * FROM payments WHERE lease_id = $1 ORDER BY payment_id;

-- name: InsertDepositOnce :one
INSERT INTO deposits (lease_id, deposit_type, amount_in_cents, source, idempotency_key)
VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
RETURNING *;

-- name: ListDeposits :many
SELECT * FROM deposits WHERE lease_id = $1 ORDER BY deposit_id;

-- name: InsertRefundOnce :one
-- A refund is written once per idempotency key: a retried activity gets the
-- first row back instead of a second payable.
INSERT INTO refunds (lease_id, resident_id, amount_in_cents, received_cents, arrears_cents,
                     deductions_cents, kept_cents, recipient_name, recipient_email, recipient_address, idempotency_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
RETURNING *;

-- name: ListRefunds :many
SELECT * FROM refunds WHERE lease_id = $1 ORDER BY refund_id;

-- name: InsertInvoiceOnce :one
INSERT INTO invoices (lease_id, resident_id, amount_due_in_cents, received_cents, arrears_cents,
                      deductions_cents, kept_cents, recipient_name, recipient_email, recipient_address, idempotency_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
RETURNING *;

-- name: ListInvoices :many
SELECT * FROM invoices WHERE lease_id = $1 ORDER BY invoice_id;

-- name: InsertAmendment :one
INSERT INTO deposits (lease_id, deposit_type, amount_in_cents, source, guarantor, payee_email, payee_name, created_by, idempotency_key)
VALUES ($1, $2, $3, 'amendment', $4, $5, $6, $7, $8)
RETURNING *;

-- name: ReturnPayment :one
-- Marks a payment returned; a payment already returned is not returned again.
UPDATE payments SET returned_at = now(), return_reason = $3, returned_by = $4
WHERE lease_id = $1 AND reference = $2 AND returned_at IS NULL
RETURNING *;

-- name: InsertSettlementOnce :one
INSERT INTO settlements (lease_id, received_cents, interest_cents, arrears_cents, deductions_cents, kept_cents,
                         earlier_refunds_cents, credits_cents, refund_cents, balance_owed_cents, guarantee_cents,
                         outcome, kept, idempotency_key)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
RETURNING *;

-- name: GetSettlement :one
SELECT * FROM settlements WHERE lease_id = $1;

-- name: InsertPayoutOnce :one
-- One refund payout of a settlement (to one co-tenant, or to the payee).
INSERT INTO refunds (lease_id, resident_id, amount_in_cents, received_cents, arrears_cents, deductions_cents,
                     kept_cents, recipient_name, recipient_email, recipient_address, idempotency_key, settlement_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
RETURNING *;

-- name: InsertSettlementInvoiceOnce :one
INSERT INTO invoices (lease_id, resident_id, amount_due_in_cents, received_cents, arrears_cents, deductions_cents,
                      kept_cents, recipient_name, recipient_email, recipient_address, idempotency_key, settlement_id)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (idempotency_key) DO UPDATE SET idempotency_key = EXCLUDED.idempotency_key
RETURNING *;

-- name: GetChargeByKey :one
SELECT charges.*, charge_codes.category
FROM charges JOIN charge_codes USING (charge_code_id)
WHERE idempotency_key = $1;

-- name: InsertChargeWithKey :one
-- A manager's charge with a reference: entering it again finds this row.
INSERT INTO charges (lease_id, resident_id, charge_code_id, amount_in_cents, description, idempotency_key, created_by)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING *;

-- name: LedgerTotals :one
-- The terms of the refund maths summed from a lease's ledger rows, in one
-- round trip: what `deposits ledger` checks its row-by-row sums against.
SELECT
    COALESCE((SELECT sum(amount_in_cents) FROM payments p WHERE p.lease_id = $1 AND p.returned_at IS NULL), 0)::bigint AS paid_cents,
    COALESCE((SELECT sum(amount_in_cents) FROM deposits d WHERE d.lease_id = $1 AND d.deposit_type = 'prepaid'), 0)::bigint AS prepaid_cents,
    COALESCE(sum(c.amount_in_cents) FILTER (WHERE cc.category = 'arrears'), 0)::bigint AS arrears_cents,
    COALESCE(sum(c.amount_in_cents) FILTER (WHERE cc.category = 'deduction'), 0)::bigint AS deductions_cents,
    COALESCE(sum(c.amount_in_cents) FILTER (WHERE cc.category = 'credit'), 0)::bigint AS credits_cents
FROM charges c JOIN charge_codes cc USING (charge_code_id)
WHERE c.lease_id = $1;

-- name: GetLeasePayment :one
-- A payment of this lease: an ID of another lease finds nothing.
SELECT * FROM payments WHERE payment_id = $1 AND lease_id = $2;

-- name: GetLeaseCharge :one
-- A charge of this lease, with its category.
SELECT charges.*, charge_codes.category
FROM charges JOIN charge_codes USING (charge_code_id)
WHERE charge_id = $1 AND lease_id = $2;

-- name: GetLeaseAmendment :one
-- A deposit amendment of this lease (not the workflow's own first row).
SELECT * FROM deposits WHERE deposit_id = $1 AND lease_id = $2 AND source = 'amendment';
